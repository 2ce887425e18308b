#!/usr/bin/env bash
# run-dispatch.sh - the delivery benchmark: how fast one dispatcher process
# drains a queue into APNs (the sandbox), compared with h2load sending the
# same requests to the same sandbox (the ceiling), and the end-to-end
# latency from SIP MESSAGE to provider delivery at a steady rate.
#
#   bench/run-dispatch.sh [--workers N|auto]   (PR_BIN=build dir, default ./build)
#   BENCH_QUEUE=100000 BENCH_E2E_RATE=2000 BENCH_E2E_SECONDS=10 bench/run-dispatch.sh --workers 2
#
# Builds nothing. Starts, on 127.0.0.1 only: a private redis-server,
# pushrelay-sandbox (fake APNs with JWT checks, recording each delivery),
# `pushrelayd --role dispatcher --workers N` (default 1), and for the last
# part `pushrelayd --role listener --workers N`. See bench/README.md for what each figure means.
. "$(dirname "$0")/common.sh"
bench_args "$@"

QUEUE=${BENCH_QUEUE:-100000}
E2E_RATE=${BENCH_E2E_RATE:-2000}
E2E_SECONDS=${BENCH_E2E_SECONDS:-10}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-600}

# ---- comparisons (issue 14; flags taken out in common.sh) ----------------
#   --server node  after the sandbox rows, the same drain and the same h2load
#                  against bench/h2-apns-server.js (Node's built-in http2: a
#                  second HTTP/2 server sharing no code with the project).
#   --cpu          CPU microseconds per delivery of the dispatcher, Redis and
#                  the provider server, from /proc/PID/stat; the queue is then
#                  BENCH_CPU_COUNT (default 200000) unless BENCH_QUEUE is set.
WITH_NODE=no
[ "$OPT_SERVER" = sandbox ] || WITH_NODE=yes
WITH_CPU=$OPT_CPU
[ "$OPT_KAMAILIO" = no ] || fail "--kamailio is run-ingest.sh's flag"
[ "$WITH_CPU" = no ] || [ -n "${BENCH_QUEUE:-}" ] || QUEUE=${BENCH_CPU_COUNT:-200000}
[ "$WITH_NODE" = no ] || command -v node >/dev/null || fail "node not found (--server node needs Node.js)"

bench_need sipload notifgen pushrelayd pushrelayctl pushrelay-sandbox
bench_need_roles
command -v h2load >/dev/null || fail "h2load not found (apt-get install nghttp2-client)"
bench_pki
bench_start_redis

STREAM='pr:{q0}:in:apns'     # redis.shards = 1 (the default): shard 0
SB_PORT=$(pr_free_port)
SIP_PORT=$(pr_free_port)
CONF=$T/pushrelay.conf
RECORD=$T/record.jsonl
bench_conf "$CONF" "$SIP_PORT" "https://127.0.0.1:$SB_PORT"
: >"$RECORD"

bench_start sandbox "$PR_BIN/pushrelay-sandbox" --listen "127.0.0.1:$SB_PORT" \
    --cert "$PKI/server.pem" --key "$PKI/server.key" --apns-key "$APNS_KEY" \
    --apns-team "$BENCH_TEAM" --apns-key-id "$BENCH_KEY_ID" --record "$RECORD"
SANDBOX_PID=$BENCH_PID
pr_wait_port "$SB_PORT"
bench_enable_push "$CONF"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# CPU per delivery (--cpu): the dispatcher starts with the timed drain, so
# its whole CPU time counts (start-up included: key loading, TLS, a few ms);
# Redis and the provider server are counted from just before it starts.
CPU_ROWS=()
# cpu_begin SERVER_PID: remember Redis's and the provider server's ticks.
cpu_begin() {
    CPU_R0=$(bench_cpu_ticks_one "$REDIS_PID")
    CPU_P0=$(bench_cpu_ticks "$1")
}
# cpu_end LABEL DISPATCHER_PID SERVER_PID DELIVERIES: one row of CPU_ROWS.
cpu_end() {
    local d r p
    d=$(bench_cpu_ticks "$2")
    r=$(($(bench_cpu_ticks_one "$REDIS_PID") - CPU_R0))
    p=$(($(bench_cpu_ticks "$3") - CPU_P0))
    CPU_ROWS+=("$(printf '%-34s %10s %14s %10s %12s' "$1" "$4" \
        "$(bench_us_per "$d" "$4")" "$(bench_us_per "$r" "$4")" "$(bench_us_per "$p" "$4")")")
}

# records PREFIX: deliveries the sandbox recorded for tokens starting with PREFIX.
records() { grep -cE "\"token\": ?\"$1" "$RECORD" || true; }

# wait_drained PID: until the stream is empty and nothing is pending in the
# group, or the dispatcher died, or DRAIN_TIMEOUT passed.
wait_drained() {
    local pid=$1 deadline=$(($(date +%s) + DRAIN_TIMEOUT)) len pend
    while :; do
        len=$(rcli XLEN "$STREAM")
        pend=$(rcli XPENDING "$STREAM" dispatch | head -n1)
        [ "$len" = 0 ] && [ "${pend:-0}" = 0 ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "dispatcher exited with $len queued (see $T/dispatcher.log)"
        [ "$(date +%s)" -lt "$deadline" ] || fail "not drained after ${DRAIN_TIMEOUT}s: $len queued, $pend pending"
        sleep 0.05
    done
}

# ---- 1. dispatcher drain rate -------------------------------------------
# The group is created at 0 before the queue is filled, so the dispatcher
# reads every entry whether or not it creates the group itself.
rcli XGROUP CREATE "$STREAM" dispatch 0 MKSTREAM >/dev/null
"$PR_BIN/notifgen" --count "$QUEUE" --domain "$BENCH_DOMAIN" --app lync-ios \
    --token-prefix 0d | rcli --pipe >"$T/pipe.log" 2>&1 || fail "redis-cli --pipe failed"
assert_eq "$QUEUE" "$(rcli XLEN "$STREAM")" "notifications pre-queued"

[ "$WITH_CPU" = no ] || cpu_begin "$SANDBOX_PID"
t0=$(now_ms)
bench_start dispatcher "$PR_BIN/pushrelayd" -c "$CONF" --role dispatcher --workers "$BENCH_WORKERS"
DISP_PID=$BENCH_PID
wait_drained "$DISP_PID"
t1=$(now_ms)
DISP_HWM=$(bench_rss "$DISP_PID")
sleep 0.1                       # the sandbox flushes its record every 10 ms
DELIVERED=$(records 0d)
DEAD=$(rcli XLEN 'pr:{q0}:dead')
[ "$WITH_CPU" = no ] || cpu_end "sandbox" "$DISP_PID" "$SANDBOX_PID" "$QUEUE"
DISP_RATE=$(python3 -c "print(f'{$QUEUE * 1000 / max(1, $t1 - $t0):.0f}')")
# The steady rate, from the sandbox's receipt times: first to last delivery,
# without process start, connection set-up and the drain check's polling.
read -r STEADY_RATE STEADY_MS <<<"$(python3 -c '
import json, sys
ts = [json.loads(l)["ts_us"] for l in open(sys.argv[1]) if "\"0d" in l]
span = (max(ts) - min(ts)) / 1e6
print(f"{(len(ts) - 1) / max(span, 1e-6):.0f} {span * 1000:.0f}")' "$RECORD")"
assert_eq "$QUEUE" "$DELIVERED" "deliveries recorded by the sandbox"
assert_eq 0 "$DEAD" "dead letters"
echo "dispatcher: $QUEUE in $((t1 - t0)) ms = $DISP_RATE/s, peak RSS $DISP_HWM"

# ---- 2. h2load against the same sandbox: the ceiling ----------------------
# The request is the one the dispatcher sent (body and headers from the
# sandbox record), with a fresh provider token signed here.
JWT=$(python3 - "$APNS_KEY" "$BENCH_TEAM" "$BENCH_KEY_ID" <<'EOF'
import base64, json, subprocess, sys, time
key, team, kid = sys.argv[1:4]
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def seg(o): return b64(json.dumps(o, separators=(",", ":")).encode())
signing = seg({"alg": "ES256", "kid": kid}) + "." + seg({"iss": team, "iat": int(time.time())})
der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                     capture_output=True, check=True).stdout
# JWS wants r||s (32 bytes each); openssl gives DER SEQUENCE { INTEGER r, INTEGER s }
i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
raw = b""
for _ in range(2):
    assert der[i] == 0x02
    n = der[i + 1]
    raw += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
    i += 2 + n
print(signing + "." + b64(raw))
EOF
)
python3 - "$RECORD" "$T/h2load.body" "$T/h2load.headers" <<'EOF'
import json, sys
record, body_out, hdr_out = sys.argv[1:4]
with open(record) as f:
    first = json.loads(f.readline())
open(body_out, "w").write(first["body"])
skip = {"authorization", "content-length", "apns-id", "user-agent"}
with open(hdr_out, "w") as f:
    for k, v in first.get("headers", {}).items():
        if k not in skip:
            f.write(f"{k}: {v}\n")
EOF
H2_ARGS=()
while IFS= read -r h; do H2_ARGS+=(-H "$h"); done <"$T/h2load.headers"
H2_TOKEN=0f$(printf '%062x' 1)
h2load -n "$QUEUE" -c 2 -m 100 -d "$T/h2load.body" "${H2_ARGS[@]}" \
    -H "authorization: bearer $JWT" \
    "https://127.0.0.1:$SB_PORT/3/device/$H2_TOKEN" >"$T/h2load.log" 2>&1 ||
    fail "h2load failed (see $T/h2load.log)"
H2_RATE=$(awk '/^finished in/ {gsub(",", "", $4); printf "%.0f", $4}' "$T/h2load.log")
H2_2XX=$(awk '/^status codes:/ {print $3}' "$T/h2load.log")
assert_eq "$QUEUE" "$H2_2XX" "h2load requests answered 2xx"
BODY_BYTES=$(wc -c <"$T/h2load.body")
echo "h2load: $H2_RATE/s"

# ---- 3. end-to-end latency at a steady rate -------------------------------
# The dispatcher already serves monitoring.listen: this listener goes without.
sed '/^monitoring = /d' "$CONF" >"$T/listener.conf"
bench_start listener "$PR_BIN/pushrelayd" -c "$T/listener.conf" --role listener --workers "$BENCH_WORKERS"
pr_wait_port "$SIP_PORT"
# Redis's AOF over the run: rewrites fork Redis and take a core from the
# rest while the child writes (deploy/redis.conf sizes when they happen).
aof_info() { rcli INFO persistence | tr -d '\r' | sed -n "s/^$1://p"; }
AOF_RW0=$(aof_info aof_rewrites)
AOF_SIZE0=$(aof_info aof_current_size)
E2E=$(bench_sipload --port "$SIP_PORT" --connections 4 --window 100 --rate "$E2E_RATE" \
    --duration "$E2E_SECONDS" --token-prefix 0e2e 2>>"$T/sipload.log") ||
    fail "sipload: not every MESSAGE answered (see $T/sipload.log): $E2E"
E2E_OK=$(json_get "$E2E" ok)
for _ in $(seq 300); do
    [ "$(records 0e2e)" -ge "$E2E_OK" ] && break
    sleep 0.1
done
assert_eq "$E2E_OK" "$(records 0e2e)" "end-to-end deliveries recorded"
AOF_REWRITES=$(($(aof_info aof_rewrites) - AOF_RW0))
if [ "$AOF_REWRITES" -eq 0 ]; then
    AOF_GROWTH="grew $(((($(aof_info aof_current_size) - AOF_SIZE0) + E2E_OK / 2) / E2E_OK)) bytes per MESSAGE"
else
    AOF_GROWTH="size now $(($(aof_info aof_current_size) / 1048576)) MB"
fi
# Delivery time is the sandbox's ts_us; send time is the MESSAGE's intended
# send time, start_us + seq / rate, where seq is the token's counter.
E2E_LAT=$(python3 - "$RECORD" "$E2E" <<'EOF'
import json, sys
run = json.loads(sys.argv[2])
start, rate, prefix = run["start_us"] / 1000.0, run["rate_target"], "0e2e"
lat = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    tok = r.get("token", "")
    if tok.startswith(prefix):
        seq = int(tok[len(prefix):], 16)
        lat.append(r["ts_us"] / 1000.0 - (start + seq * 1000.0 / rate))
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, max(0, int(q * len(lat) + 0.999999) - 1))]
print(f"{pct(0.5):.2f} {pct(0.99):.2f} {lat[-1]:.2f}")
EOF
)
read -r E2E_P50 E2E_P99 E2E_MAX <<<"$E2E_LAT"
kill -0 "$SANDBOX_PID" 2>/dev/null || fail "sandbox exited during the run"

echo
echo "pushrelay dispatch benchmark (Redis stream -> APNs HTTP/2 sandbox)"
bench_machine
echo
printf '%-48s %s\n' \
    "dispatcher: drain $QUEUE queued notifications" "$STEADY_RATE notifications/s first to last delivery ($STEADY_MS ms)" \
    "  from process start to queue empty" "$DISP_RATE notifications/s ($((t1 - t0)) ms), peak RSS $DISP_HWM" \
    "h2load -c 2 -m 100, same request ($BODY_BYTES-byte body)" "$H2_RATE requests/s" \
    "dispatcher / h2load" "$(python3 -c "print(f'{100 * $STEADY_RATE / max(1, $H2_RATE):.0f}% (from start: {100 * $DISP_RATE / max(1, $H2_RATE):.0f}%)')")" \
    "end to end at $E2E_RATE/s for ${E2E_SECONDS}s ($E2E_OK MESSAGEs)" "p50 $E2E_P50 ms, p99 $E2E_P99 ms, max $E2E_MAX ms" \
    "  (MESSAGE intended send -> sandbox receipt)" "ingest alone: p50 $(json_get "$E2E" p50_ms) ms, p99 $(json_get "$E2E" p99_ms) ms" \
    "  Redis's append-only file meanwhile" "$AOF_REWRITES rewrite(s), $AOF_GROWTH"
echo

# ---- 3b. h2load first to last by the sandbox's clock -----------------------
# h2load's own figure runs from its start (connections included) while the
# dispatcher's steady rate is first to last receipt; the sandbox recorded
# h2load's requests too (token prefix 0f), so both get the same measure.
# rate_between PREFIX: deliveries/s first to last receipt of tokens PREFIX*.
rate_between() {
    python3 - "$RECORD" "$1" <<'PY'
import json, sys
recs = (json.loads(l) for l in open(sys.argv[1]))
ts = [r["ts_us"] for r in recs if r.get("token", "").startswith(sys.argv[2])]
span = (max(ts) - min(ts)) / 1e6 if ts else 0
print(f"{(len(ts) - 1) / max(span, 1e-6):.0f} {span * 1000:.0f}")
PY
}
h2_recorded() { [ "$(records 0f)" -ge "$QUEUE" ]; }
pr_wait_for 60 h2_recorded ||
    fail "the sandbox recorded $(records 0f) of h2load's $QUEUE requests"
read -r H2_STEADY H2_STEADY_MS <<<"$(rate_between 0f)"
echo "dispatcher vs h2load against the sandbox, both first to last receipt by its clock (issue 14: >= 0.9x)"
printf '%-48s %s\n' \
    "h2load, first to last receipt" "$H2_STEADY/s ($H2_STEADY_MS ms)" \
    "dispatcher / h2load, first to last" "$(bench_ratio "$STEADY_RATE" "$H2_STEADY")"
echo

# ---- 4. the same against an independent HTTP/2 server (--server node) ------
# bench/h2-apns-server.js answers like APNs and records first and last
# receive time, so both the dispatcher and h2load get a first-to-last rate
# taken by the same clock in the same server. The sandbox's dispatcher is
# stopped first (after the queue is empty) so only one drains the stream.
# node_stats: the Node server's counters (JSON) over its control endpoint.
node_stats() {
    python3 - "$NODE_PORT" "$PKI/ca.pem" "${1:-GET}" <<'PY'
import http.client, ssl, sys
port, ca, method = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=ca), timeout=60)
c.request(method, "/stats" if method == "GET" else "/reset")
r = c.getresponse()
print(r.read().decode().strip())
PY
}
# node_rate STATS: requests/s first to last receive, and the span in ms.
node_rate() {
    python3 -c 'import json, sys
s = json.loads(sys.argv[1])
n, span = s["requests"], s["span_us"] / 1e6
print(f"{(n - 1) / max(span, 1e-6):.0f} {span * 1000:.0f}")' "$1"
}
if [ "$WITH_NODE" = yes ]; then
    wait_drained "$DISP_PID"
    pr_stop "$DISP_PID"
    NODE_PORT=$(pr_free_port)
    bench_start node node "$BENCH_DIR/h2-apns-server.js" --listen "127.0.0.1:$NODE_PORT" \
        --cert "$PKI/server.pem" --key "$PKI/server.key"
    NODE_PID=$BENCH_PID
    pr_wait_for 60 grep -q '^listening' "$T/node.log" ||
        fail "h2-apns-server did not start (see $T/node.log)"
    bench_conf "$T/node.conf" "$SIP_PORT" "https://127.0.0.1:$NODE_PORT"
    "$PR_BIN/notifgen" --count "$QUEUE" --domain "$BENCH_DOMAIN" --app lync-ios \
        --token-prefix 0d2 | rcli --pipe >"$T/pipe-node.log" 2>&1 || fail "redis-cli --pipe failed"
    assert_eq "$QUEUE" "$(rcli XLEN "$STREAM")" "notifications pre-queued for the node server"
    [ "$WITH_CPU" = no ] || cpu_begin "$NODE_PID"
    n0=$(now_ms)
    # --workers only where the --workers knob exists (BENCH_WORKERS set).
    bench_start dispatcher-node "$PR_BIN/pushrelayd" -c "$T/node.conf" --role dispatcher \
        ${BENCH_WORKERS:+--workers "$BENCH_WORKERS"}
    NODE_DISP_PID=$BENCH_PID
    wait_drained "$NODE_DISP_PID"
    n1=$(now_ms)
    [ "$WITH_CPU" = no ] || cpu_end "node" "$NODE_DISP_PID" "$NODE_PID" "$QUEUE"
    NODE_DISP_STATS=$(node_stats)
    # Every notification must arrive (distinct tokens); at-least-once allows
    # resends after a lost connection, which are counted and shown, not failed.
    assert_eq "$QUEUE" "$(json_get "$NODE_DISP_STATS" distinct)" "distinct deliveries counted by the node server"
    NODE_RESENT=$(($(json_get "$NODE_DISP_STATS" requests) - QUEUE))
    NODE_CONN="$(json_get "$NODE_DISP_STATS" sessions) HTTP/2 connection(s), $NODE_RESENT resent"
    NODE_CONN+=", $(json_get "$NODE_DISP_STATS" streams_reset) streams reset"
    NODE_CONN+=", $(json_get "$NODE_DISP_STATS" session_errors) session / $(json_get "$NODE_DISP_STATS" stream_errors) stream errors"
    assert_eq 0 "$(rcli XLEN 'pr:{q0}:dead')" "dead letters"
    read -r NODE_DISP_RATE NODE_DISP_MS <<<"$(node_rate "$NODE_DISP_STATS")"
    NODE_DISP_START=$(python3 -c "print(f'{$QUEUE * 1000 / max(1, $n1 - $n0):.0f}')")
    pr_stop "$NODE_DISP_PID"

    node_stats POST >/dev/null
    h2load -n "$QUEUE" -c 2 -m 100 -d "$T/h2load.body" "${H2_ARGS[@]}" \
        -H "authorization: bearer $JWT" \
        "https://127.0.0.1:$NODE_PORT/3/device/$H2_TOKEN" >"$T/h2load-node.log" 2>&1 ||
        fail "h2load against the node server failed (see $T/h2load-node.log)"
    assert_eq "$QUEUE" "$(awk '/^status codes:/ {print $3}' "$T/h2load-node.log")" \
        "h2load requests answered 2xx by the node server"
    NODE_H2_START=$(awk '/^finished in/ {gsub(",", "", $4); printf "%.0f", $4}' "$T/h2load-node.log")
    NODE_H2_STATS=$(node_stats)
    assert_eq "$QUEUE" "$(json_get "$NODE_H2_STATS" requests)" "h2load requests counted by the node server"
    read -r NODE_H2_RATE NODE_H2_MS <<<"$(node_rate "$NODE_H2_STATS")"
    kill -0 "$NODE_PID" 2>/dev/null || fail "h2-apns-server exited during the run (see $T/node.log)"

    echo "dispatch vs h2load against an independent HTTP/2 server (Node $(node --version) http2, bench/h2-apns-server.js)"
    echo "(issue 14: dispatcher >= 0.9x h2load)"
    printf '%-48s %s\n' \
        "dispatcher: drain $QUEUE queued notifications" "$NODE_DISP_RATE/s first to last receipt ($NODE_DISP_MS ms)" \
        "  from process start to queue empty" "$NODE_DISP_START/s ($((n1 - n0)) ms)" \
        "  as the server saw it" "$NODE_CONN" \
        "h2load -c 2 -m 100, same request" "$NODE_H2_RATE/s first to last receipt ($NODE_H2_MS ms)" \
        "  h2load's own figure (from its start)" "$NODE_H2_START/s" \
        "dispatcher / h2load, first to last" "$(bench_ratio "$NODE_DISP_RATE" "$NODE_H2_RATE")" \
        "dispatcher / h2load, from start" "$(bench_ratio "$NODE_DISP_START" "$NODE_H2_START")"
    echo
fi

if [ ${#CPU_ROWS[@]} -gt 0 ]; then
    echo "CPU per delivery, utime+stime from /proc/PID/stat (issue 14: dispatcher <= 6 us)"
    printf '%-34s %10s %14s %10s %12s\n' "provider server" deliveries "dispatcher us" "redis us" "server us"
    for r in "${CPU_ROWS[@]}"; do echo "$r"; done
    echo
fi
