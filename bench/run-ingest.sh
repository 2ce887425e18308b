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
#                (default 200000) MESSAGEs, from /proc/PID/stat; in
#                BENCH_CPU_ROUNDS (default 1) alternating rounds.
#   --base DIR   a second listener built in DIR (e.g. the previous commit)
#                against the same Redis, its cases alternating with the
#                listener's: before/after ratios from one run.
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
CPU_ROUNDS=${BENCH_CPU_ROUNDS:-1}
{ [ "$CPU_ROUNDS" -ge 1 ] && [ "$CPU_ROUNDS" -le 9 ]; } 2>/dev/null ||
    fail "BENCH_CPU_ROUNDS must be a number from 1 to 9"
KAM_CHILDREN=${BENCH_KAM_CHILDREN:-1}
KAM_ROUNDS=${BENCH_KAM_ROUNDS:-1}
[ "$KAM_ROUNDS" -ge 1 ] 2>/dev/null || fail "BENCH_KAM_ROUNDS must be a number >= 1"
[ "$WITH_KAMAILIO" = no ] || bench_install_kamailio
BASE_BIN=
if [ -n "$OPT_BASE" ]; then
    BASE_BIN=$(cd "$OPT_BASE" && pwd) || fail "--base $OPT_BASE: no such directory"
    [ -x "$BASE_BIN/pushrelayd" ] || fail "--base: $BASE_BIN/pushrelayd not built"
fi

bench_need sipload sipecho pushrelayd pushrelayctl
bench_need_roles
bench_pki
bench_start_redis

STREAM='pr:{q0}:in:apns'     # redis.shards = 1 (the default): shard 0
SIP_PORT=$(pr_free_port)
ECHO_PORT=$(pr_free_port)
CONF=$T/pushrelay.conf
bench_conf "$CONF" "$SIP_PORT" "https://127.0.0.1:1"

bench_start sipecho "$PR_BIN/sipecho" --listen "127.0.0.1:$ECHO_PORT" \
    --cert "$PKI/server.pem" --key "$PKI/server.key" --ca "$PKI/ca.pem"
ECHO_PID=$BENCH_PID
pr_wait_port "$ECHO_PORT"

bench_enable_push "$CONF"
bench_relay listener "$CONF" listener
LISTENER_PID=$BENCH_PID
if [ -n "$BASE_BIN" ]; then
    # The base listener: its own SIP and monitoring ports, the same Redis.
    BASE_PORT=$(pr_free_port)
    bench_conf "$T/base.conf" "$BASE_PORT" "https://127.0.0.1:1"
    PR_BIN=$BASE_BIN bench_relay base "$T/base.conf" listener
    BASE_PID=$BENCH_PID
fi

ROWS=()
FAILED=0

# run_case LABEL PORT CONNECTIONS WINDOW TOKEN_PREFIX VERIFY(yes|no) [SERVER_PID]
# With SERVER_PID, the row also shows the CPU µs per answer of the server's
# process tree and of Redis (its main process) over the case
# (/proc/PID/stat; coarse on a short case: one 10 ms tick is 0.4 µs over
# 25,000 answers).
run_case() {
    local label=$1 port=$2 conns=$3 window=$4 prefix=$5 verify=$6 pid=${7:-} out rc=0
    local before=0 after=0 ok sent status inredis s0=0 r0=0 cpu=
    if [ "$verify" = yes ]; then
        rcli DEL "$STREAM" >/dev/null
        before=$(rcli XLEN "$STREAM")
    fi
    if [ -n "$pid" ]; then
        s0=$(bench_cpu_ticks "$pid")
        r0=$(bench_cpu_ticks_one "$REDIS_PID")
    fi
    out=$(bench_sipload --port "$port" --connections "$conns" --window "$window" \
        --count "$COUNT_PER_CASE" --duration "$SECONDS_PER_CASE" \
        --token-prefix "$prefix" 2>>"$T/sipload.log") || rc=$?
    if [ -n "$pid" ]; then
        local s1 r1 n
        s1=$(bench_cpu_ticks "$pid")
        r1=$(bench_cpu_ticks_one "$REDIS_PID")
        n=$(json_get "$out" answered)
        cpu="$(bench_us_per $((s1 - s0)) "${n:-0}")/$(bench_us_per $((r1 - r0)) "${n:-0}")"
    fi
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
    ROWS+=("$(printf '%-34s %10.0f %9.3f %9.3f %11s  %-30s %s' "$label" \
        "$(json_get "$out" rate)" "$(json_get "$out" p50_ms)" "$(json_get "$out" p99_ms)" \
        "${cpu:--}" "$ok/$sent ($status)" "$inredis")")
}

run_case "ceiling: sipecho, 1 conn x win 1" "$ECHO_PORT" 1 1 0c1 no "$ECHO_PID"
run_case "ceiling: sipecho, 50 conn x win 10" "$ECHO_PORT" 50 10 0c0 no "$ECHO_PID"
run_case "listener, 1 conn x win 1 (lock-step)" "$SIP_PORT" 1 1 0a1 yes "$LISTENER_PID"
run_case "listener, 1 conn x win 100" "$SIP_PORT" 1 100 0a2 yes "$LISTENER_PID"
run_case "listener, 50 conn x win 10" "$SIP_PORT" 50 10 0a3 yes "$LISTENER_PID"

last_rate() { json_get "$(tail -n1 "$T/results.jsonl")" rate; }

# run_pair ROUND CONNS WINDOW  A_LABEL A_PORT A_PID A_PREFIX  B_LABEL B_PORT B_PID B_PREFIX:
# the same shape on two servers, one right after the other so that both
# meet the same machine load; A first in odd rounds, B first in even ones
# (on a busy VM the second case of a pair was seen to run faster more
# often than not). Sets PAIR_A and PAIR_B to their MESSAGE/s.
run_pair() {
    local round=$1 conns=$2 window=$3
    shift 3
    if [ $((round % 2)) -eq 1 ]; then
        run_case "$1" "$2" "$conns" "$window" "$4" yes "$3"
        PAIR_A=$(last_rate)
        run_case "$5" "$6" "$conns" "$window" "$8" yes "$7"
        PAIR_B=$(last_rate)
    else
        run_case "$5" "$6" "$conns" "$window" "$8" yes "$7"
        PAIR_B=$(last_rate)
        run_case "$1" "$2" "$conns" "$window" "$4" yes "$3"
        PAIR_A=$(last_rate)
    fi
}

# ---- the base build beside the listener (--base DIR) ------------------------
# Pairs of the same shape (run_pair), BENCH_KAM_ROUNDS times; the ratios
# are listener / base of the medians.
BASE_RATIOS=()
if [ -n "$BASE_BIN" ]; then
    B_LS=() B_LS_BASE=() B_W=() B_W_BASE=()
    for round in $(seq "$KAM_ROUNDS"); do
        tag=" #$round"
        run_pair "$round" 1 1 "vs base: listener, lock-step$tag" "$SIP_PORT" "$LISTENER_PID" "0a7$round" \
            "base, lock-step$tag" "$BASE_PORT" "$BASE_PID" "0d1$round"
        B_LS+=("$PAIR_A")
        B_LS_BASE+=("$PAIR_B")
        run_pair "$round" 1 100 "vs base: listener, 1 x win 100$tag" "$SIP_PORT" "$LISTENER_PID" "0a8$round" \
            "base, 1 x win 100$tag" "$BASE_PORT" "$BASE_PID" "0d2$round"
        B_W+=("$PAIR_A")
        B_W_BASE+=("$PAIR_B")
    done
    BASE_RATIOS+=("$(printf '%-34s %s' "lock-step" \
        "$(bench_ratio "$(bench_median "${B_LS[@]}")" "$(bench_median "${B_LS_BASE[@]}")")")")
    BASE_RATIOS+=("$(printf '%-34s %s' "1 conn x win 100" \
        "$(bench_ratio "$(bench_median "${B_W[@]}")" "$(bench_median "${B_W_BASE[@]}")")")")
fi

# ---- Kamailio beside the listener (--kamailio) ----------------------------
# Same sipload, same Redis, same stream (run_case checks it the same way).
# Each Kamailio case runs right before or after the listener's case of the
# same shape (run_pair), so both see the same machine load; the ratios use
# those pairs.
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
        run_pair "$round" 1 1 "pair: listener, lock-step$tag" "$SIP_PORT" "$LISTENER_PID" "0a4$round" \
            "kamailio lock-step$tag" "$KAM_PORT" "$KAM_PID" "0b1$round"
        LS_RELAY+=("$PAIR_A")
        LS_KAM+=("$PAIR_B")
        run_pair "$round" 1 100 "pair: listener, 1 conn x win 100$tag" "$SIP_PORT" "$LISTENER_PID" "0a5$round" \
            "kamailio 1 conn window 100$tag" "$KAM_PORT" "$KAM_PID" "0b2$round"
        W100_RELAY+=("$PAIR_A")
        W100_KAM+=("$PAIR_B")
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
    r0=$(bench_cpu_ticks_one "$REDIS_PID")
    run_case "cpu: $label" "$port" 50 10 "$prefix" yes
    s1=$(bench_cpu_ticks "$pid")
    r1=$(bench_cpu_ticks_one "$REDIS_PID")
    ok=$(json_get "$(tail -n1 "$T/results.jsonl")" ok)
    CPU_ROWS+=("$(printf '%-34s %10s %12s %12s' "$label" "$ok" \
        "$(bench_us_per $((s1 - s0)) "$ok")" "$(bench_us_per $((r1 - r0)) "$ok")")")
}
if [ "$WITH_CPU" = yes ]; then
    # BENCH_CPU_ROUNDS alternating rounds: one run each on a VM that others
    # share can land in a busy minute for one build and a quiet one for the other.
    for round in $(seq "$CPU_ROUNDS"); do
        tag=
        [ "$CPU_ROUNDS" = 1 ] || tag=" #$round"
        cpu_case "listener, 50 x 10$tag" "$SIP_PORT" "$LISTENER_PID" "0a6$round"
        [ -z "$BASE_BIN" ] || cpu_case "base, 50 x 10$tag" "$BASE_PORT" "$BASE_PID" "0d3$round"
        [ "$WITH_KAMAILIO" = no ] || cpu_case "kamailio, 50 x 10$tag" "$KAM_PORT" "$KAM_PID" "0b3$round"
    done
fi
kill -0 "$LISTENER_PID" 2>/dev/null || fail "pushrelayd exited during the run (see $T/listener.log)"

echo
echo "pushrelay ingest benchmark (SIP MESSAGE over mutual TLS -> 202 after Redis XADD)"
bench_machine
echo "bounds:  $COUNT_PER_CASE requests or $SECONDS_PER_CASE s per case; all on 127.0.0.1"
echo
printf '%-34s %10s %9s %9s %11s  %-30s %s\n' case MESSAGE/s "p50 ms" "p99 ms" "cpu us s/r" "202/sent (status)" "verified in Redis"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
echo "cpu us s/r: CPU microseconds per answer of the server (its process tree) / of Redis over the case"
echo
if [ ${#BASE_RATIOS[@]} -gt 0 ]; then
    echo "listener / base ($BASE_BIN), median MESSAGE/s of $KAM_ROUNDS alternating pair(s)"
    for r in "${BASE_RATIOS[@]}"; do echo "$r"; done
    echo
fi
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
