#!/usr/bin/env bash
# test_dispatch_reload.sh - disp_reload under load: the dispatcher swaps in
# a freshly loaded config (new provider clients) several times while it
# delivers; requests still with the old clients start over on the new ones,
# so nothing is lost and the run ends clean. Drives tests/tools/pr_disp_run
# directly (SIGHUP = load the file again, disp_reload).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

DISP_CMD=${DISP_CMD:-$PR_BIN/pr_disp_run}
N=20000
disp_setup
disp_config "$T/pushrelay.conf" 300
queue $N --id-prefix h- --token "$(apns_token d0100 0)"     # each answered after 100 ms
disp_start "$T/pushrelay.conf"

echo "== SIGHUP five times while delivering"
wait_for 60 '[ "$(sb_delivered)" -ge 1000 ]'
for _ in 1 2 3 4 5; do
    kill -HUP "$DISP_PID"
    sleep 0.2
done
[ "$(sb_delivered)" -lt $N ] || fail "everything was delivered before the reloads: nothing tested"
grep -q "reloaded" "$T/dispatcher.log" || fail "the dispatcher never reloaded"
pass "reloaded while delivering"

echo "== a config that does not load keeps the running one"
cp "$T/pushrelay.conf" "$T/good.conf"
echo 'bogus_key = 1;' >>"$T/pushrelay.conf"
kill -HUP "$DISP_PID"
sleep 0.3
kill -0 "$DISP_PID" || fail "a refused reload stopped the dispatcher"
grep -q "reload refused" "$T/dispatcher.log" || fail "the refused reload was not logged"
pass "refused reload logged, dispatcher still running"
cp "$T/good.conf" "$T/pushrelay.conf"

wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(rcli ZCARD "pr:{q}:retry")" = 0 ]'
disp_stop_clean
sb_stop
TOTAL=$(delivered_count)
assert_eq $N "$(delivered_distinct)" "distinct push ids delivered"
echo "duplicates: $((TOTAL - N)) (requests answered by the provider as their old client closed)"
assert_eq 0 "$(rcli XLEN 'pr:{q}:dead')" "dead letters"
