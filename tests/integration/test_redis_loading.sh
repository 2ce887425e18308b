#!/usr/bin/env bash
# test_redis_loading.sh - Redis restarted with a dataset it needs seconds to
# load, under steady SIP load. While Redis answers -LOADING the relay must
# treat the handshake as failed (say so in its log and on /readyz), keep
# answering 503, and follow Redis within about a second of the end of the
# load: 202 again, the dispatcher delivering again, in the same process.
# Every MESSAGE answered 202 (before, during and after) is delivered.
#
# The dataset is PR_LOADING_KEYS (default 2,000,000) keys written by one
# script, kept in the append-only file. The test refuses to pass unless
# Redis was seen loading (INFO loading:1) and the relay met -LOADING.
. "$(dirname "$0")/lib.sh"

KEYS=${PR_LOADING_KEYS:-2000000}
N=${PR_LOADING_N:-3000}

pr_gen_certs
pr_gen_edge edge.contoso.com
pr_start_redis
echo "== filling Redis with $KEYS keys (kept in the AOF)"
rcli EVAL "for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'fill:' .. i, i) end return 1" \
    0 "$KEYS" >/dev/null
assert_eq "$KEYS" "$(rcli DBSIZE)" "keys in Redis"
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

echo "== Redis restarts and loads its dataset under load"
pr_stop_redis
pr_restart_redis
saw_loading=0 saw_readyz_loading=0
for _ in $(seq 1200); do
    info=$(rcli INFO persistence 2>/dev/null | tr -d '\r' || true)
    case $info in
        *loading:1*) saw_loading=1 ;;
        *loading:0*) break ;;
    esac
    readyz | grep -q "Redis loading" && saw_readyz_loading=1
    sleep 0.05
done
T_READY=$(now_ms)
case $(rcli INFO persistence | tr -d '\r') in *loading:0*) ;; *) fail "Redis still loading after 60 s" ;; esac
[ "$saw_loading" = 1 ] || fail "Redis was never seen loading (INFO loading:1): nothing tested; raise PR_LOADING_KEYS"
pass "Redis was loading, and is ready now"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited while Redis was loading"

# 202 again, polled with a generous ceiling; the time it took is reported, not asserted.
pr_wait_accepted after-loading "202 after Redis finished its load"
T_202=$(now_ms)
AFTER_ID=$ACCEPTED_ID
echo "RECOVERY: first 202 $((T_202 - T_READY)) ms after Redis reported loading:0 (attempt $ACCEPT_TRIES)"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"

grep -q "loading its dataset" "$T/relay.log" ||
    fail "the relay never logged Redis loading: its handshake did not meet -LOADING"
pass "relay logged: $(grep -m1 'loading its dataset' "$T/relay.log" | cut -c1-160)"
# Five connections (listener, monitor, three for the dispatcher): a warning
# each at most, however many attempts the load took.
LOG_LINES=$(grep -c "warn .*loading its dataset" "$T/relay.log")
echo "relay warnings naming the load: $LOG_LINES (once per connection, not once per attempt)"
[ "$LOG_LINES" -le 10 ] || fail "$LOG_LINES warnings for one load: not logged once per connection"
if [ "$saw_readyz_loading" = 1 ]; then pass "/readyz said Redis loading"; else echo "note: /readyz was not polled during the load window"; fi
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
