#!/usr/bin/env bash
# test_redis_loading.sh - Redis restarted with a dataset to load, under
# steady SIP load. While Redis answers -LOADING the relay must treat the
# handshake as failed (say so in its log and on /readyz), keep answering
# 503, and follow Redis once the load ends: 202 again, the dispatcher
# delivering again, in the same process. Every MESSAGE answered 202
# (before, during and after) is delivered.
#
# The test holds the load open until it has seen all of that, then lets it
# end: the dataset (PR_LOADING_KEYS keys of 2 KB, default 2,000) is
# rewritten into the append-only file's RDB base, and Redis restarts with
# key-load-delay (100 ms a key) and loading-process-events-interval-bytes
# 1024, so it answers -LOADING between keys for as long as the test needs
# (up to 200 s); CONFIG SET key-load-delay 0, which Redis accepts while
# loading, ends the load. No step depends on how fast the machine loads.
. "$(dirname "$0")/lib.sh"

KEYS=${PR_LOADING_KEYS:-2000}
N=${PR_LOADING_N:-3000}

pr_gen_certs
pr_gen_edge edge.contoso.com
# Uncompressed values: every key is 2 KB of the file, so Redis serves
# clients between any two keys of the load.
pr_start_redis --rdbcompression no
echo "== filling Redis with $KEYS keys of 2 KB, then rewriting them into the AOF's RDB base"
rcli EVAL "local v = '' for j = 1, 50 do v = v .. redis.sha1hex(tostring(j)) end
           for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'fill:' .. i, v) end return 1" \
    0 "$KEYS" >/dev/null
assert_eq "$KEYS" "$(rcli DBSIZE)" "keys in Redis"
rcli BGREWRITEAOF >/dev/null
rewritten() {
    local info
    info=$(rcli INFO persistence | tr -d '\r')
    grep -qx 'aof_rewrites:1' <<<"$info" && grep -qx 'aof_rewrite_in_progress:0' <<<"$info" &&
        grep -qx 'aof_last_bgrewrite_status:ok' <<<"$info"
}
pr_wait_for 60 rewritten || fail "BGREWRITEAOF did not finish"
pr_start_sandbox
PR_LOG_LEVEL=info PR_MAX_IN_FLIGHT=200 PR_MAX_ATTEMPTS=8 pr_write_config "$T/relay.conf"
pr_start_relay all
PID_BEFORE=$RELAY_PID
pr_enable contoso.com edge.contoso.com
pr_start_stunnel edge.contoso.com

readyz() { curl -s "http://127.0.0.1:$MON_PORT/readyz" || true; }
now_ms() { date +%s%3N; }

echo "== steady load: $N MESSAGEs at 100/s"
pr_load_start ld "$N" 100 300
pr_load_wait 200 "before the restart"

echo "== Redis restarts and loads its dataset under load, held until released"
pr_stop_redis
pr_restart_redis --key-load-delay 100000 --loading-process-events-interval-bytes 1024
redis_loading() { rcli INFO persistence 2>/dev/null | tr -d '\r' | grep -qx 'loading:1'; }
pr_wait_for 60 redis_loading || fail "Redis restarted but was never seen loading (INFO loading:1)"
pass "Redis is loading"
pr_wait_log "$T/relay.log" "loading its dataset" "$RELAY_PID"
pass "relay logged: $(grep -m1 'loading its dataset' "$T/relay.log" | cut -c1-160)"
readyz_loading() { readyz | grep -q "Redis loading"; }
pr_wait_for 60 readyz_loading || fail "/readyz did not say Redis loading: $(readyz)"
pass "/readyz said Redis loading"
refused_some() { [ -f "$LOAD_LOG" ] && grep -q ' 503 ' "$LOAD_LOG"; }
pr_wait_for 60 refused_some || fail "no MESSAGE was refused (503) while Redis was loading"
pass "MESSAGEs refused with 503 while Redis was loading"
redis_loading || fail "Redis finished loading before the test released it: raise key-load-delay"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited while Redis was loading"

echo "== the load is released"
assert_eq OK "$(rcli CONFIG SET key-load-delay 0 2>&1)" "CONFIG SET key-load-delay 0 while loading"
redis_ready() { rcli INFO persistence 2>/dev/null | tr -d '\r' | grep -qx 'loading:0'; }
pr_wait_for 60 redis_ready || fail "Redis still loading 60 s after the release"
T_READY=$(now_ms)
assert_eq 2 "$(rcli EXISTS fill:1 "fill:$KEYS")" "the dataset's first and last keys after the load"
pass "Redis loaded its dataset, and is ready now"

# 202 again, polled with a generous ceiling; the time it took is reported, not asserted.
pr_wait_accepted after-loading "202 after Redis finished its load"
T_202=$(now_ms)
AFTER_ID=$ACCEPTED_ID
echo "RECOVERY: first 202 $((T_202 - T_READY)) ms after Redis reported loading:0 (attempt $ACCEPT_TRIES)"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"

# Five connections (listener, monitor, three for the dispatcher): a warning
# each at most, however many attempts the load took.
LOG_LINES=$(grep -c "warn .*loading its dataset" "$T/relay.log")
echo "relay warnings naming the load: $LOG_LINES (once per connection, not once per attempt)"
[ "$LOG_LINES" -le 10 ] || fail "$LOG_LINES warnings for one load: not logged once per connection"
pr_wait_for 60 sh -c "curl -s http://127.0.0.1:$MON_PORT/readyz | grep -qx ready" ||
    fail "/readyz not ready after the load: $(readyz)"
pass "/readyz ready again"

echo "== the load finishes; everything answered 202 is delivered"
wait "$LOAD_JOB" || fail "sipp: a MESSAGE got no answer or an unexpected one"
grep ' 202 ' "$LOAD_LOG" | awk '{print $3}' >"$T/accepted"
echo "$AFTER_ID" >>"$T/accepted"
sort -u -o "$T/accepted" "$T/accepted"
ACCEPTED=$(wc -l <"$T/accepted")
REFUSED=$(grep -c ' 503 ' "$LOAD_LOG" || true)
echo "load: $ACCEPTED accepted (202), $REFUSED refused (503) during the outage"
[ "$REFUSED" -gt 0 ] || fail "no MESSAGE was refused: the restart did not happen under load"
delivered_all() { [ "$(pr_sb_delivered)" -ge "$ACCEPTED" ]; }
pr_wait_for 120 delivered_all || fail "only $(pr_sb_delivered) of $ACCEPTED accepted MESSAGEs delivered after 120 s"
pr_audit_delivered "$T/accepted"
assert_eq "$PID_BEFORE" "$RELAY_PID" "pushrelayd never restarted"
