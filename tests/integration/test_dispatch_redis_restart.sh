#!/usr/bin/env bash
# test_dispatch_redis_restart.sh - Redis stopped and restarted (same port,
# same append-only file) while the dispatcher delivers: it stops reading,
# keeps the outcomes of what was in flight, writes them when Redis is back,
# and resumes; every notification is delivered and acknowledged, and the
# stats (buffered while Redis was away) still count each delivery once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=30000
disp_setup
disp_config "$T/pushrelay.conf" 200
MON_PORT=$(pr_free_port)
echo "monitoring = { listen = \"127.0.0.1:$MON_PORT\"; };" >>"$T/pushrelay.conf"
# in_flight: the dispatcher's own gauge, served even while Redis is down (for the log).
in_flight() { pr_metric pushrelay_dispatch_in_flight; }
# Each delivery takes the sandbox 100 ms (token marker d0100), so with 200
# in flight the run lasts about 15 s however fast the machine is: Redis
# stops mid-run by construction, not by luck.
queue $N --id-prefix r- --token "$(apns_token d0100 0)"
disp_start "$T/pushrelay.conf"

echo "== Redis goes away mid-run"
wait_for 60 '[ "$(sb_delivered)" -ge 2000 ]'
pr_stop_redis
AT_STOP=$(sb_delivered)
# The dispatcher must notice the loss (its reader logs it) and live on.
wait_for 60 'grep -q "pushrelay-dispatch-read: Redis .* unreachable" "$T/dispatcher.log"'
kill -0 "$DISP_PID" || fail "dispatcher died with Redis"
# Whatever time passes, only what was read before the loss can be delivered
# during the outage: the jobs started (max_in_flight 200) and the backlog
# read ahead for them (as many again). In flight stays up: outcomes wait in
# the outbox until Redis is back.
DURING=$(sb_delivered)
echo "delivered $AT_STOP when Redis stopped, $DURING before it came back;" \
     "in flight (incl. outbox) $(in_flight)"
[ "$AT_STOP" -lt $N ] || fail "everything was delivered before Redis stopped: nothing tested"
[ $((DURING - AT_STOP)) -le 400 ] || fail "$((DURING - AT_STOP)) deliveries while Redis was down (max_in_flight 200 + backlog 200)"
pass "reading stopped while Redis was down"
kill -0 "$DISP_PID" || fail "dispatcher died with Redis"

echo "== Redis comes back: delivery resumes and finishes"
pr_restart_redis
wait_for 60 pr_redis_loaded
wait_for 120 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ]'
assert_eq 0 "$(stream_len)" "entries left in the stream"
assert_eq 0 "$(pending_count)" "entries pending in group dispatch"
wait_for 60 '[ "$(stat_total all:delivered)" -ge '"$N"' ]'
disp_stop_clean

echo "== every notification delivered; stats count each once"
sb_stop
TOTAL=$(delivered_count)
assert_eq $N "$(delivered_distinct)" "distinct push ids delivered"
echo "duplicates: $((TOTAL - N))"
assert_eq $N "$(stat_total all:delivered)" "pr:stats:total all:delivered"
