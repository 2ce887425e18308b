#!/usr/bin/env bash
# test_dispatch_crash.sh - at-least-once across a crash (design section 6):
# a dispatcher killed with SIGKILL in the middle of 20,000 notifications
# leaves its in-flight entries pending in the consumer group; a new
# dispatcher (another consumer name) reclaims them once they are idle for
# claim_idle_ms, so every notification is delivered. Duplicates (delivered
# before the crash, acknowledged after it never) are allowed and reported.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=20000
disp_setup
disp_config "$T/pushrelay.conf" 500 1000
queue $N --id-prefix k-

echo "== kill -9 while delivering"
disp_start "$T/pushrelay.conf" dispatcher-1
wait_for 60 '[ "$(sb_delivered)" -ge 3000 ]'
kill -KILL "$DISP_PID"
wait "$DISP_PID" 2>/dev/null || true
DISP_PID=
BEFORE=$(sb_delivered)
PENDING=$(pending_count)
echo "killed after $BEFORE deliveries with $PENDING entries pending"
[ "$BEFORE" -lt $N ] || fail "the first dispatcher finished everything before the kill: nothing tested"
[ "$PENDING" -gt 0 ] || fail "nothing was pending at the kill: nothing to reclaim"
pass "entries pending on the dead consumer: $PENDING"

echo "== a new dispatcher reclaims the dead consumer's entries"
disp_start "$T/pushrelay.conf" dispatcher-2
wait_for 90 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ]'
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
