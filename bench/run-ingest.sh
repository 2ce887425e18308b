#!/usr/bin/env bash
# run-ingest.sh - the ingest benchmark: how many MESSAGEs per second one
# listener process accepts over mutual TLS and queues durably in Redis, and
# at what latency, beside the machine's ceiling for the same traffic.
#
#   bench/run-ingest.sh [--workers N|auto]   (PR_BIN=build dir, default ./build)
#   BENCH_SECONDS=5 BENCH_COUNT=100000 bench/run-ingest.sh --workers 2
#
# Builds nothing. Starts, on 127.0.0.1 only: a private redis-server, sipecho
# (the ceiling: TLS + SIP framing + answering, no work), and
# `pushrelayd --role listener --workers N` (default 1); enables contoso.com with pushrelayctl; then
# runs sipload cases and checks that every 202 is one entry in the APNs
# stream. Each case is bounded by BENCH_SECONDS (default 10) and BENCH_COUNT
# (default 200000) requests, whichever comes first. See bench/README.md.
#
# Optional comparisons (issue 14), all additive to the default cases:
#   --kamailio   Kamailio (bench/kamailio/kamailio.cfg: mTLS, MESSAGE ->
#                ndb_redis XADD -> 202) against the same Redis with the same
#                sipload, in runs alternating with the listener's; installs
#                kamailio, kamailio-tls-modules and kamailio-redis-modules
#                with apt-get when they are missing (never done by CI).
#   --cpu        CPU microseconds per MESSAGE of the listener and of Redis
#                (and Kamailio with --kamailio) over BENCH_CPU_COUNT
#                (default 200000) MESSAGEs, from /proc/PID/stat.
. "$(dirname "$0")/common.sh"
bench_args "$@"

SECONDS_PER_CASE=${BENCH_SECONDS:-10}
COUNT_PER_CASE=${BENCH_COUNT:-200000}

# ---- comparisons (flags taken in common.sh) --------------------------------
WITH_KAMAILIO=$OPT_KAMAILIO
WITH_CPU=$OPT_CPU
[ "$OPT_SERVER" = sandbox ] || fail "--server is run-dispatch.sh's flag"
CPU_COUNT=${BENCH_CPU_COUNT:-200000}
CPU_SECONDS=${BENCH_CPU_SECONDS:-600}
KAM_CHILDREN=${BENCH_KAM_CHILDREN:-1}
KAM_ROUNDS=${BENCH_KAM_ROUNDS:-1}
[ "$KAM_ROUNDS" -ge 1 ] 2>/dev/null || fail "BENCH_KAM_ROUNDS must be a number >= 1"
[ "$WITH_KAMAILIO" = no ] || bench_install_kamailio

bench_need sipload sipecho pushrelayd pushrelayctl
bench_need_roles
bench_pki
pr_start_redis

STREAM='pr:{q}:in:apns'
SIP_PORT=$(pr_free_port)
ECHO_PORT=$(pr_free_port)
CONF=$T/pushrelay.conf
bench_conf "$CONF" "$SIP_PORT" "https://127.0.0.1:1"

bench_start sipecho "$PR_BIN/sipecho" --listen "127.0.0.1:$ECHO_PORT" \
    --cert "$PKI/server.pem" --key "$PKI/server.key" --ca "$PKI/ca.pem"
pr_wait_port "$ECHO_PORT"

"$PR_BIN/pushrelayctl" -c "$CONF" enable-push --domain "$BENCH_DOMAIN" \
    --edge-fqdn "$BENCH_EDGE" >"$T/enable-push.log" 2>&1 ||
    fail "pushrelayctl enable-push failed (see $T/enable-push.log)"
bench_relay listener "$CONF" listener
LISTENER_PID=$BENCH_PID

ROWS=()
FAILED=0

# run_case LABEL PORT CONNECTIONS WINDOW TOKEN_PREFIX VERIFY(yes|no)
run_case() {
    local label=$1 port=$2 conns=$3 window=$4 prefix=$5 verify=$6 out rc=0
    local before=0 after=0 ok sent status inredis
    if [ "$verify" = yes ]; then
        rcli DEL "$STREAM" >/dev/null
        before=$(rcli XLEN "$STREAM")
    fi
    out=$(bench_sipload --port "$port" --connections "$conns" --window "$window" \
        --count "$COUNT_PER_CASE" --duration "$SECONDS_PER_CASE" \
        --token-prefix "$prefix" 2>>"$T/sipload.log") || rc=$?
    [ -n "$out" ] || fail "$label: sipload printed nothing (see $T/sipload.log)"
    echo "$out" >>"$T/results.jsonl"
    ok=$(json_get "$out" ok)
    sent=$(json_get "$out" sent)
    status=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1])["status"]; print(" ".join(f"{k}:{v}" for k,v in sorted(s.items())) or "none")' "$out")
    inredis=n/a
    if [ "$verify" = yes ]; then
        after=$(rcli XLEN "$STREAM")
        if [ $((after - before)) -eq "$ok" ] && [ "$ok" -gt 0 ]; then
            inredis="yes ($((after - before)))"
        else
            inredis="NO ($((after - before)) entries for $ok 202s)"
            FAILED=1
        fi
    fi
    [ "$rc" -eq 0 ] || FAILED=1
    ROWS+=("$(printf '%-34s %10.0f %9.3f %9.3f  %-30s %s' "$label" \
        "$(json_get "$out" rate)" "$(json_get "$out" p50_ms)" "$(json_get "$out" p99_ms)" \
        "$ok/$sent ($status)" "$inredis")")
}

run_case "ceiling: sipecho, 1 conn x win 1" "$ECHO_PORT" 1 1 0c1 no
run_case "ceiling: sipecho, 50 conn x win 10" "$ECHO_PORT" 50 10 0c0 no
run_case "listener, 1 conn x win 1 (lock-step)" "$SIP_PORT" 1 1 0a1 yes
run_case "listener, 1 conn x win 100" "$SIP_PORT" 1 100 0a2 yes
run_case "listener, 50 conn x win 10" "$SIP_PORT" 50 10 0a3 yes

# ---- Kamailio beside the listener (--kamailio) ----------------------------
# Same sipload, same Redis, same stream (run_case checks it the same way).
# Each Kamailio case runs right after the listener's case of the same
# shape, so both see the same machine load; the ratios use those pairs.
last_rate() { json_get "$(tail -n1 "$T/results.jsonl")" rate; }
KAM_RATIOS=()
if [ "$WITH_KAMAILIO" = yes ]; then
    KAM_PORT=$(pr_free_port)
    bench_start_kamailio "$KAM_PORT" "$KAM_CHILDREN"
    KAM_PID=$BENCH_PID
    # BENCH_KAM_ROUNDS pairs per shape, alternating; the ratio is of the
    # medians, so one disturbed run does not decide it.
    LS_RELAY=() LS_KAM=() W100_RELAY=() W100_KAM=()
    for round in $(seq "$KAM_ROUNDS"); do
        tag=""
        [ "$KAM_ROUNDS" -eq 1 ] || tag=" #$round"
        run_case "pair: listener, lock-step$tag" "$SIP_PORT" 1 1 "0a4$round" yes
        LS_RELAY+=("$(last_rate)")
        run_case "kamailio lock-step$tag" "$KAM_PORT" 1 1 "0b1$round" yes
        LS_KAM+=("$(last_rate)")
        run_case "pair: listener, 1 conn x win 100$tag" "$SIP_PORT" 1 100 "0a5$round" yes
        W100_RELAY+=("$(last_rate)")
        run_case "kamailio 1 conn window 100$tag" "$KAM_PORT" 1 100 "0b2$round" yes
        W100_KAM+=("$(last_rate)")
    done
    KAM_RATIOS+=("$(printf '%-34s %s' "lock-step" \
        "$(bench_ratio "$(bench_median "${LS_RELAY[@]}")" "$(bench_median "${LS_KAM[@]}")")")")
    KAM_RATIOS+=("$(printf '%-34s %s' "1 conn x win 100" \
        "$(bench_ratio "$(bench_median "${W100_RELAY[@]}")" "$(bench_median "${W100_KAM[@]}")")")")
    kill -0 "$KAM_PID" 2>/dev/null || fail "kamailio exited during the run (see $T/kamailio.log)"
fi

# ---- CPU per MESSAGE (--cpu) ----------------------------------------------
# utime+stime of each server process (and its children) before and after
# one long case, divided by the 202s of that case. Redis is shared, so its
# share is only meaningful while one server at a time is loaded: the cases
# run one after another, never together.
CPU_ROWS=()
# cpu_case LABEL PORT PID TOKEN_PREFIX: one long 50 conn x win 10 case on PORT,
# CPU of PID's process tree and of Redis per 202.
cpu_case() {
    local label=$1 port=$2 pid=$3 prefix=$4 s0 r0 s1 r1 ok
    local COUNT_PER_CASE=$CPU_COUNT SECONDS_PER_CASE=$CPU_SECONDS
    s0=$(bench_cpu_ticks "$pid")
    r0=$(bench_cpu_ticks "$REDIS_PID")
    run_case "cpu: $label" "$port" 50 10 "$prefix" yes
    s1=$(bench_cpu_ticks "$pid")
    r1=$(bench_cpu_ticks "$REDIS_PID")
    ok=$(json_get "$(tail -n1 "$T/results.jsonl")" ok)
    CPU_ROWS+=("$(printf '%-34s %10s %12s %12s' "$label" "$ok" \
        "$(bench_us_per $((s1 - s0)) "$ok")" "$(bench_us_per $((r1 - r0)) "$ok")")")
}
if [ "$WITH_CPU" = yes ]; then
    cpu_case "listener, 50 x 10" "$SIP_PORT" "$LISTENER_PID" 0a6
    [ "$WITH_KAMAILIO" = no ] || cpu_case "kamailio, 50 x 10" "$KAM_PORT" "$KAM_PID" 0b3
fi
kill -0 "$LISTENER_PID" 2>/dev/null || fail "pushrelayd exited during the run (see $T/listener.log)"

echo
echo "pushrelay ingest benchmark (SIP MESSAGE over mutual TLS -> 202 after Redis XADD)"
bench_machine
echo "bounds:  $COUNT_PER_CASE requests or $SECONDS_PER_CASE s per case; all on 127.0.0.1"
echo
printf '%-34s %10s %9s %9s  %-30s %s\n' case MESSAGE/s "p50 ms" "p99 ms" "202/sent (status)" "verified in Redis"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
if [ ${#KAM_RATIOS[@]} -gt 0 ]; then
    echo "listener / kamailio, median MESSAGE/s of $KAM_ROUNDS alternating pair(s) (issue 14: lock-step >= 1.1x, pipelined >= 5x)"
    for r in "${KAM_RATIOS[@]}"; do echo "$r"; done
    echo
fi
if [ ${#CPU_ROWS[@]} -gt 0 ]; then
    echo "CPU per MESSAGE, utime+stime from /proc/PID/stat (issue 14: listener <= 8 us)"
    printf '%-34s %10s %12s %12s\n' server "202s" "server us" "redis us"
    for r in "${CPU_ROWS[@]}"; do echo "$r"; done
    echo
fi
[ "$FAILED" -eq 0 ] || fail "a case lost requests or Redis did not hold one entry per 202 (logs: $T)"
