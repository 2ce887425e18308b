#!/usr/bin/env bash
# profile-ingest.sh - `perf record -g` of one listener under sipload, for
# finding where the listener's time per MESSAGE goes (issue 14).
#
#   bench/profile-ingest.sh OUTDIR [CONNECTIONS WINDOW [COUNT]]
#   PR_BIN=build.d/release bench/profile-ingest.sh /tmp/prof 1 1 50000
#
# Starts, on 127.0.0.1 only, a private redis-server and
# `pushrelayd --role listener`, enables contoso.com, then records the
# listener with `perf record -g` while sipload sends COUNT (default
# 100000) MESSAGEs over CONNECTIONS (default 1) connections with WINDOW
# (default 1) outstanding on each. Leaves OUTDIR/perf.data, the sipload
# summary (OUTDIR/sipload.json) and `perf report --no-children` text
# (OUTDIR/report.txt). Builds nothing; needs `perf` (Debian linux-perf).
#
# PROFILE_STRACE=1 counts system calls instead (`strace -c -f -p`, Debian
# strace): OUTDIR/strace.txt, and the calls per MESSAGE on stdout. With
# CONNECTIONS 1 and WINDOW 1 that is the lock-step figure of
# bench/README.md:
#
#   PROFILE_STRACE=1 PR_BIN=build.d/release bench/profile-ingest.sh /tmp/sc 1 1 5000
. "$(dirname "$0")/common.sh"
OUT=${1:?usage: $0 OUTDIR [CONNECTIONS WINDOW [COUNT]]}
CONNS=${2:-1}
WINDOW=${3:-1}
COUNT=${4:-100000}
STRACE=${PROFILE_STRACE:-0}
if [ "$STRACE" = 1 ]; then
    command -v strace >/dev/null || fail "strace not installed (Debian strace)"
else
    command -v perf >/dev/null || fail "perf not installed (Debian linux-perf)"
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bench_need sipload pushrelayd pushrelayctl
bench_pki
bench_start_redis
SIP_PORT=$(pr_free_port)
CONF=$T/pushrelay.conf
bench_conf "$CONF" "$SIP_PORT" "https://127.0.0.1:1"
bench_enable_push "$CONF"
bench_relay listener "$CONF" listener
LISTENER_PID=$BENCH_PID

# Warm up (connections, script cache), then record only the measured run.
bench_sipload --port "$SIP_PORT" --connections "$CONNS" --window "$WINDOW" \
    --count 2000 --token-prefix 0f0 >/dev/null 2>>"$T/sipload.log" ||
    fail "warm-up failed (see $T/sipload.log)"
if [ "$STRACE" = 1 ]; then
    # strace says on stderr when it has attached to every thread.
    strace -c -f -p "$LISTENER_PID" -o "$OUT/strace.txt" 2>"$T/strace.log" &
    PERF_PID=$!
    pr_track "$PERF_PID"
    for _ in $(seq 600); do grep -q attached "$T/strace.log" && break; sleep 0.1; done
    grep -q attached "$T/strace.log" || fail "strace did not attach (see $T/strace.log)"
else
    perf record ${PERF_RECORD_OPTS:--g} -o "$OUT/perf.data" -p "$LISTENER_PID" >"$T/perf.log" 2>&1 &
    PERF_PID=$!
    pr_track "$PERF_PID"
    # perf prints nothing when it is attached; its data file appears at once.
    for _ in $(seq 600); do [ -s "$OUT/perf.data" ] && break; sleep 0.1; done
    [ -s "$OUT/perf.data" ] || fail "perf record did not start (see $T/perf.log)"
fi
bench_sipload --port "$SIP_PORT" --connections "$CONNS" --window "$WINDOW" \
    --count "$COUNT" --token-prefix 0f1 >"$OUT/sipload.json" 2>>"$T/sipload.log" ||
    fail "sipload failed (see $T/sipload.log)"
kill -INT "$PERF_PID"
wait "$PERF_PID" 2>/dev/null || true
if [ "$STRACE" = 1 ]; then
    [ -s "$OUT/strace.txt" ] || fail "strace wrote no summary (see $T/strace.log)"
    cat "$OUT/sipload.json"
    # The summary's total line: % time, seconds, usecs/call, calls, [errors,] "total".
    awk -v n="$COUNT" '$NF == "total" { c = NF == 6 ? $(NF - 2) : $(NF - 1);
        printf "system calls: %d for %d MESSAGEs, %.2f per MESSAGE\n", c, n, c / n }' "$OUT/strace.txt"
    echo "strace summary: $OUT/strace.txt"
    exit 0
fi
perf report -i "$OUT/perf.data" --no-children --stdio --percent-limit 0.5 \
    >"$OUT/report.txt" 2>/dev/null
cat "$OUT/sipload.json"
echo "perf data: $OUT/perf.data, report: $OUT/report.txt"
