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
. "$(dirname "$0")/common.sh"
OUT=${1:?usage: $0 OUTDIR [CONNECTIONS WINDOW [COUNT]]}
CONNS=${2:-1}
WINDOW=${3:-1}
COUNT=${4:-100000}
command -v perf >/dev/null || fail "perf not installed (Debian linux-perf)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bench_need sipload pushrelayd pushrelayctl
bench_pki
pr_start_redis
SIP_PORT=$(pr_free_port)
CONF=$T/pushrelay.conf
bench_conf "$CONF" "$SIP_PORT" "https://127.0.0.1:1"
"$PR_BIN/pushrelayctl" -c "$CONF" enable-push --domain "$BENCH_DOMAIN" \
    --edge-fqdn "$BENCH_EDGE" >"$T/enable-push.log" 2>&1 ||
    fail "pushrelayctl enable-push failed (see $T/enable-push.log)"
bench_relay listener "$CONF" listener
LISTENER_PID=$BENCH_PID

# Warm up (connections, script cache), then record only the measured run.
bench_sipload --port "$SIP_PORT" --connections "$CONNS" --window "$WINDOW" \
    --count 2000 --token-prefix 0f0 >/dev/null 2>>"$T/sipload.log" ||
    fail "warm-up failed (see $T/sipload.log)"
perf record ${PERF_RECORD_OPTS:--g} -o "$OUT/perf.data" -p "$LISTENER_PID" >"$T/perf.log" 2>&1 &
PERF_PID=$!
pr_track "$PERF_PID"
# perf prints nothing when it is attached; its data file appears at once.
for _ in $(seq 600); do [ -s "$OUT/perf.data" ] && break; sleep 0.1; done
[ -s "$OUT/perf.data" ] || fail "perf record did not start (see $T/perf.log)"
bench_sipload --port "$SIP_PORT" --connections "$CONNS" --window "$WINDOW" \
    --count "$COUNT" --token-prefix 0f1 >"$OUT/sipload.json" 2>>"$T/sipload.log" ||
    fail "sipload failed (see $T/sipload.log)"
kill -INT "$PERF_PID"
wait "$PERF_PID" 2>/dev/null || true
perf report -i "$OUT/perf.data" --no-children --stdio --percent-limit 0.5 \
    >"$OUT/report.txt" 2>/dev/null
cat "$OUT/sipload.json"
echo "perf data: $OUT/perf.data, report: $OUT/report.txt"
