#!/usr/bin/env bash
# test_dispatch_reload.sh - disp_reload under load: the dispatcher swaps in
# a freshly loaded config (new provider clients) five times while it
# delivers. Every answer is held 500 ms by the sandbox (d0500), so each
# reload finds requests in flight (the dispatcher logs how many); those
# finish on the clients that sent them while new requests go to the new
# clients, and the old clients close once drained. Nothing is lost and
# nothing is sent, let alone delivered, twice. Drives tests/tools/pr_disp_run directly
# (SIGHUP = load the file again, disp_reload).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

DISP_CMD=${DISP_CMD:-$PR_BIN/pr_disp_run}
N=6000
RELOADS=5
disp_setup
disp_config "$T/pushrelay.conf" 300
queue $N --id-prefix h- --token "$(apns_token d0500 0)"
disp_start "$T/pushrelay.conf"

log_count() { grep -c "$1" "$T/dispatcher.log" 2>/dev/null || true; }

echo "== SIGHUP $RELOADS times while delivering"
wait_for 60 '[ "$(sb_delivered)" -ge 300 ]'
for i in $(seq $RELOADS); do
    kill -HUP "$DISP_PID"
    wait_for 60 '[ "$(log_count "reloaded:")" -ge '"$i"' ]'
done
# Refuse to pass unless every reload really had requests in flight.
busy=$(grep -o 'reloaded: [0-9]* apps; [0-9]* requests' "$T/dispatcher.log" |
    awk '$4 > 0' | wc -l)
assert_eq $RELOADS "$busy" "reloads that found requests in flight"
wait_for 60 '[ "$(log_count "previous provider clients drained")" -ge '"$RELOADS"' ]'
pass "every retired set of clients drained and closed"

echo "== a config that does not load keeps the running one"
cp "$T/pushrelay.conf" "$T/good.conf"
echo 'bogus_key = 1;' >>"$T/pushrelay.conf"
kill -HUP "$DISP_PID"
wait_for 60 '[ "$(log_count "reload refused")" -ge 1 ]'
kill -0 "$DISP_PID" || fail "a refused reload stopped the dispatcher"
pass "refused reload logged, dispatcher still running"
cp "$T/good.conf" "$T/pushrelay.conf"

wait_for 120 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
# What the provider received, not only what it recorded: a request restarted
# on the new clients would reach the sandbox twice even where the first copy
# was cancelled before its answer.
requests=$(curl -s --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
disp_stop_clean
sb_stop
assert_eq $N "$requests" "requests the provider received (each sent once)"
assert_eq $N "$(delivered_distinct)" "distinct push ids delivered"
assert_eq $N "$(delivered_count)" "deliveries (no duplicates across reloads)"
assert_eq 0 "$(dead_len)" "dead letters"
