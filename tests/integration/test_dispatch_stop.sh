#!/usr/bin/env bash
# test_dispatch_stop.sh - SIGTERM while the provider does not answer: the
# dispatcher stops reading at once, gives in-flight requests a bounded time
# (5 s) to finish, then exits cleanly and leaves what did not finish pending
# in the consumer group, where the next dispatcher reclaims and delivers it.
#
# The provider's silence is the sandbox's hold gate (tests/sandbox/sb_hold.h):
# every answer is held until the test releases it, so "in flight at SIGTERM"
# is a fact the test waits for, and "did not wait for the answers" holds
# however slow the machine: the answers never come while the dispatcher runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"
PR_WHAT=test_dispatch_stop

N=50
disp_setup
disp_config "$T/pushrelay.conf" 500 1000
queue $N --id-prefix slow-
sb_control "hold?after=0" >/dev/null

disp_start "$T/pushrelay.conf" dispatcher-1
# every entry read and its request waiting at the provider
wait_for 60 '[ "$(pending_count)" = '"$N"' ] && [ "$(sb_held)" = '"$N"' ]'

echo "== SIGTERM with $N unanswered requests in flight"
START=$(date +%s%3N)
disp_stop_clean
TOOK=$(( $(date +%s%3N) - START ))
# A lower bound only: the clock can run long on a busy machine, never short.
[ "$TOOK" -ge 4500 ] || fail "stopped after ${TOOK} ms: in-flight requests did not get their 5 s"
pass "stopped after ${TOOK} ms: the 5 s in-flight deadline, not the (never coming) answers"
assert_eq $N "$(pending_count)" "unfinished entries left pending for reclaim"
assert_eq 0 "$(stat_total all:delivered)" "nothing counted as delivered"
assert_eq 0 "$(sb_delivered)" "nothing answered by the provider"
# the held answers die with the dispatcher's connection; then let answers through
wait_for 60 '[ "$(sb_held)" = 0 ]'
sb_control release >/dev/null

echo "== the next dispatcher reclaims and delivers them"
disp_start "$T/pushrelay.conf" dispatcher-2
wait_for 60 '[ "$(pending_count)" = 0 ] && [ "$(stream_len)" = 0 ]'
wait_for 60 '[ "$(stat_total all:delivered)" = '"$N"' ]'
disp_stop_clean
sb_stop
assert_eq $N "$(delivered_distinct)" "distinct push ids delivered"
