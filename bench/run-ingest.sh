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
. "$(dirname "$0")/common.sh"
bench_args "$@"

SECONDS_PER_CASE=${BENCH_SECONDS:-10}
COUNT_PER_CASE=${BENCH_COUNT:-200000}

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
kill -0 "$LISTENER_PID" 2>/dev/null || fail "pushrelayd exited during the run (see $T/listener.log)"

echo
echo "pushrelay ingest benchmark (SIP MESSAGE over mutual TLS -> 202 after Redis XADD)"
bench_machine
echo "bounds:  $COUNT_PER_CASE requests or $SECONDS_PER_CASE s per case; all on 127.0.0.1"
echo
printf '%-34s %10s %9s %9s  %-30s %s\n' case MESSAGE/s "p50 ms" "p99 ms" "202/sent (status)" "verified in Redis"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
[ "$FAILED" -eq 0 ] || fail "a case lost requests or Redis did not hold one entry per 202 (logs: $T)"
