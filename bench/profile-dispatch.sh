#!/usr/bin/env bash
# profile-dispatch.sh - `perf record -g` of one dispatcher draining a queue
# into the sandbox, for finding where its CPU per delivery goes (issue 14).
#
#   bench/profile-dispatch.sh OUTDIR [COUNT]
#   PR_BIN=build.d/release bench/profile-dispatch.sh /tmp/dprof 100000
#
# Starts, on 127.0.0.1 only, a private redis-server, pushrelay-sandbox as
# APNs and `pushrelayd --role dispatcher`, waits until it is ready, attaches
# perf to its processes, then queues COUNT (default 100000) notifications
# and records until every one is acknowledged. Leaves OUTDIR/perf.data and
# `perf report --no-children` text (OUTDIR/report.txt). Builds nothing;
# needs `perf` (Debian linux-perf).
. "$(dirname "$0")/common.sh"
OUT=${1:?usage: $0 OUTDIR [COUNT]}
COUNT=${2:-100000}
command -v perf >/dev/null || fail "perf not installed (Debian linux-perf)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bench_need notifgen pushrelayd pushrelayctl pushrelay-sandbox
bench_pki
bench_start_redis
STREAM='pr:{q0}:in:apns'
SB_PORT=$(pr_free_port)
CONF=$T/pushrelay.conf
bench_conf "$CONF" "$(pr_free_port)" "https://127.0.0.1:$SB_PORT"
bench_start sandbox "$PR_BIN/pushrelay-sandbox" --listen "127.0.0.1:$SB_PORT" \
    --cert "$PKI/server.pem" --key "$PKI/server.key" --apns-key "$APNS_KEY" \
    --apns-team "$BENCH_TEAM" --apns-key-id "$BENCH_KEY_ID" --record /dev/null
pr_wait_port "$SB_PORT"
bench_enable_push "$CONF"
rcli XGROUP CREATE "$STREAM" dispatch 0 MKSTREAM >/dev/null
bench_relay dispatcher "$CONF" dispatcher
DISP_PID=$BENCH_PID

perf record ${PERF_RECORD_OPTS:--g} -o "$OUT/perf.data" \
    -p "$(bench_tree "$DISP_PID" | paste -sd,)" >"$T/perf.log" 2>&1 &
PERF_PID=$!
pr_track "$PERF_PID"
# perf prints nothing when it is attached; its data file appears at once.
for _ in $(seq 600); do [ -s "$OUT/perf.data" ] && break; sleep 0.1; done
[ -s "$OUT/perf.data" ] || fail "perf record did not start (see $T/perf.log)"
"$PR_BIN/notifgen" --count "$COUNT" --domain "$BENCH_DOMAIN" --app lync-ios \
    --token-prefix 0d | rcli --pipe >"$T/pipe.log" 2>&1 || fail "redis-cli --pipe failed"
drained() {
    [ "$(rcli XLEN "$STREAM")" = 0 ] && [ "$(rcli XPENDING "$STREAM" dispatch | head -n1)" = 0 ]
}
pr_wait_for 600 drained || fail "not drained after 600 s (see $T/dispatcher.log)"
kill -INT "$PERF_PID"
wait "$PERF_PID" 2>/dev/null || true
assert_eq 0 "$(rcli XLEN 'pr:{q0}:dead')" "dead letters"
perf report -i "$OUT/perf.data" --no-children --stdio --percent-limit 0.5 \
    >"$OUT/report.txt" 2>/dev/null
echo "perf data: $OUT/perf.data, report: $OUT/report.txt"
