#!/usr/bin/env bash
# test_dispatch_crash.sh - at-least-once across a crash (design section 6):
# a dispatcher killed with SIGKILL in the middle of 20,000 notifications
# leaves its in-flight entries pending in the consumer group; a new
# dispatcher (another consumer name) reclaims them once they are idle for
# claim_idle_ms, so every notification is delivered. Duplicates (delivered
# before the crash, acknowledged after it never) are allowed and reported.
#
# "In the middle" is an event, not a moment: the sandbox's hold gate
# (tests/sandbox/sb_hold.h) answers the first HOLD_AT deliveries and then
# keeps every answer back, so the kill lands with entries in flight however
# fast or slow the machine is.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"
PR_WHAT=test_dispatch_crash

N=20000
HOLD_AT=3000
disp_setup
disp_config "$T/pushrelay.conf" 500 1000
queue $N --id-prefix k-
sb_control "hold?after=$HOLD_AT" >/dev/null

echo "== kill -9 while delivering"
disp_start "$T/pushrelay.conf" dispatcher-1
# the gate closed and the dispatcher has requests waiting on it: mid-run
wait_for 60 '[ "$(sb_held)" -gt 0 ]'
kill -KILL "$DISP_PID"
wait "$DISP_PID" 2>/dev/null || true
DISP_PID=
BEFORE=$(sb_delivered)
PENDING=$(pending_count)
echo "killed after $BEFORE deliveries with $PENDING entries pending"
assert_eq $HOLD_AT "$BEFORE" "deliveries answered before the kill (the gate's count)"
[ "$PENDING" -gt 0 ] || fail "nothing was pending at the kill: nothing to reclaim"
pass "entries pending on the dead consumer: $PENDING"
# The sandbox drops the held answers once it sees the dead dispatcher's
# connection close; only then is the gate opened for the next dispatcher.
wait_for 60 '[ "$(sb_held)" = 0 ]'
sb_control release >/dev/null

echo "== a new dispatcher reclaims the dead consumer's entries"
disp_start "$T/pushrelay.conf" dispatcher-2
wait_for 300 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ]'
assert_eq 0 "$(stream_len)" "entries left in the stream"
assert_eq 0 "$(pending_count)" "entries pending in group dispatch"
grep -q "reclaimed" "$T/dispatcher-2.log" || fail "the second dispatcher never reclaimed anything"
pass "the second dispatcher reclaimed idle entries"
disp_stop_clean

echo "== every notification delivered"
sb_stop
TOTAL=$(delivered_count)
DISTINCT=$(delivered_distinct)
assert_eq $N "$DISTINCT" "distinct push ids delivered"
echo "duplicates: $((TOTAL - DISTINCT)) (delivered before the kill, acknowledged never)"
[ $((TOTAL - DISTINCT)) -le "$PENDING" ] || fail "more duplicates than entries pending at the kill"
pass "duplicates bounded by the entries in flight at the kill"
