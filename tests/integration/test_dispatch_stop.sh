#!/usr/bin/env bash
# test_dispatch_stop.sh - SIGTERM while the provider is slow: the dispatcher
# stops reading at once, gives in-flight requests a bounded time (5 s) to
# finish, then exits cleanly and leaves what did not finish pending in the
# consumer group, where the next dispatcher reclaims and delivers it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=50
disp_setup
disp_config "$T/pushrelay.conf" 500 1000
for i in $(seq 0 $((N - 1))); do
    queue 1 --id-prefix slow- --start "$i" --token "$(apns_token d8000 "$i")"   # answered after 8 s
done

disp_start "$T/pushrelay.conf" dispatcher-1
wait_for 10 '[ "$(pending_count)" = '"$N"' ]'
sleep 0.5

echo "== SIGTERM with $N slow requests in flight"
START=$(date +%s%3N)
disp_stop_clean
TOOK=$(( $(date +%s%3N) - START ))
[ "$TOOK" -lt 7500 ] || fail "stop took ${TOOK} ms; the in-flight deadline is 5 s"
pass "stopped after ${TOOK} ms without waiting for the 8 s answers"
assert_eq $N "$(pending_count)" "unfinished entries left pending for reclaim"
assert_eq 0 "$(stat_total all:delivered)" "nothing counted as delivered"

echo "== the next dispatcher reclaims and delivers them"
disp_start "$T/pushrelay.conf" dispatcher-2
wait_for 60 '[ "$(pending_count)" = 0 ] && [ "$(stream_len)" = 0 ]'
wait_for 5 '[ "$(stat_total all:delivered)" = '"$N"' ]'
disp_stop_clean
sb_stop
assert_eq $N "$(delivered_distinct)" "distinct push ids delivered"
