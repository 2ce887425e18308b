#!/usr/bin/env bash
# run-idle.sh - memory per idle federation connection: what one quiet,
# authenticated edge connection costs the listener in resident memory
# (issue 14: <= 16 KB each with 2,000 idle mutual-TLS edges), beside
# sipecho (libevent + OpenSSL + SIP framing, nothing else) as the floor.
#
#   bench/run-idle.sh              (PR_BIN=build dir, default ./build)
#   BENCH_IDLE_CONNS=5000 bench/run-idle.sh
#   BENCH_IDLE_TLS=1.2 bench/run-idle.sh   (edges offer at most TLS 1.2)
#
# Builds nothing. Starts, on 127.0.0.1 only: a private redis-server,
# `pushrelayd --role listener` and sipecho; then for each of the two,
# bench/idleconn.py opens BENCH_IDLE_CONNS (default 2000) mutual-TLS
# connections as edge.contoso.com, one OPTIONS -> 200 on each, and holds
# them. RSS (VmRSS) is read before and once every connection got its 200;
# the difference divided by the connections is the figure. A warm-up of
# a few connections first keeps one-time allocations (OpenSSL tables,
# first buffers) out of it. See bench/README.md.
. "$(dirname "$0")/common.sh"
bench_args "$@"
[ "$OPT_KAMAILIO" = no ] && [ "$OPT_CPU" = no ] && [ "$OPT_SERVER" = sandbox ] ||
    fail "run-idle.sh takes no --kamailio, --cpu or --server"

IDLE_CONNS=${BENCH_IDLE_CONNS:-2000}
IDLE_TLS=${BENCH_IDLE_TLS:-}
WARMUP=10

bench_need sipecho pushrelayd pushrelayctl
bench_need_roles
[ "$IDLE_CONNS" -ge 1 ] && [ "$IDLE_CONNS" -le 20000 ] ||
    fail "BENCH_IDLE_CONNS must be 1..20000 (idleconn.py's bound)"
case "$IDLE_TLS" in ""|1.2|1.3) ;; *) fail "BENCH_IDLE_TLS must be 1.2 or 1.3" ;; esac
# Each connection is a descriptor on both sides, all in this process tree.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((IDLE_CONNS + 256)) ] ||
    fail "open files limit $(ulimit -n) is too low for $IDLE_CONNS connections (raise ulimit -n)"
bench_pki
bench_start_redis

SIP_PORT=$(pr_free_port)
ECHO_PORT=$(pr_free_port)
CONF=$T/pushrelay.conf
bench_conf "$CONF" "$SIP_PORT" "https://127.0.0.1:1"
bench_enable_push "$CONF"
# --workers only where the --workers knob exists (BENCH_WORKERS set); RSS
# is then summed over the supervisor and its workers.
bench_start listener "$PR_BIN/pushrelayd" -c "$CONF" --role listener \
    ${BENCH_WORKERS:+--workers "$BENCH_WORKERS"}
LISTENER_PID=$BENCH_PID
bench_start sipecho "$PR_BIN/sipecho" --listen "127.0.0.1:$ECHO_PORT" \
    --cert "$PKI/server.pem" --key "$PKI/server.key" --ca "$PKI/ca.pem"
ECHO_PID=$BENCH_PID
pr_wait_port "$SIP_PORT"
pr_wait_port "$ECHO_PORT"

# hold NAME PORT COUNT: idleconn.py holding COUNT connections to PORT, and
# wait until it says every one got its 200 (or it failed); sets HOLD_PID.
# The ceiling is generous (one connection can take a while on a busy
# machine), the wait ends as soon as the client is ready.
hold() {
    local name=$1 port=$2 count=$3 secs
    secs=$((60 + count / 10))
    bench_start "$name" python3 "$BENCH_DIR/idleconn.py" --port "$port" \
        --cert "$EDGE_CERT" --key "$EDGE_KEY" --ca "$PKI/ca.pem" --count "$count" \
        ${IDLE_TLS:+--tls-max "$IDLE_TLS"}
    HOLD_PID=$BENCH_PID
    for _ in $(seq $((secs * 10))); do
        grep -q "^ready $count\$" "$T/$name.log" && return 0
        kill -0 "$HOLD_PID" 2>/dev/null || fail "idleconn.py failed (see $T/$name.log)"
        sleep 0.1
    done
    fail "idleconn.py: $count connections not ready after ${secs}s"
}

ROWS=()
# measure LABEL PORT PID: warm-up, then RSS before/after COUNT idle connections.
measure() {
    local label=$1 port=$2 pid=$3 before after tls
    hold "warmup-$port" "$port" "$WARMUP"
    pr_stop "$HOLD_PID"
    before=$(bench_rss_kb "$pid")
    hold "idle-$port" "$port" "$IDLE_CONNS"
    after=$(bench_rss_kb "$pid")
    tls=$(sed -n 's/^tls //p' "$T/idle-$port.log")
    kill -0 "$pid" 2>/dev/null || fail "$label exited during the run"
    pr_stop "$HOLD_PID"
    ROWS+=("$(printf '%-30s %12s %12s %12s %10s  %s' "$label" "$IDLE_CONNS" "$before" "$after" \
        "$(python3 -c "print(f'{($after - $before) / $IDLE_CONNS:.1f}')")" "$tls")")
}

measure "listener (pushrelayd)" "$SIP_PORT" "$LISTENER_PID"
measure "floor: sipecho" "$ECHO_PORT" "$ECHO_PID"

echo
echo "pushrelay idle connection memory (mutual TLS + one OPTIONS each, then quiet)"
bench_machine
echo "(issue 14: listener <= 16 KB per idle connection with 2000 edges)"
echo
printf '%-30s %12s %12s %12s %10s  %s\n' server connections "RSS before" "RSS after" "KB/conn" TLS
printf '%-30s %12s %12s %12s %10s\n' "" "" "(KB)" "(KB)" ""
for r in "${ROWS[@]}"; do echo "$r"; done
echo
