#!/usr/bin/env bash
# test_dispatch_frozen.sh - a provider that freezes (SIGSTOP: the socket
# stays open, nothing is read or answered) is found as soon as a request
# times out: the timeout cancels the stream and PINGs the connection, and
# the connection that does not answer the PING is replaced. That happens
# after request_timeout_ms (2 s) + the PING deadline, not only after the
# 30 s of silence the idle PING waits for; the log shows the PING came
# from the timeout. Once the provider runs again everything is delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=20
disp_setup
DISP_LOG_LEVEL=debug DISP_IOS_EXTRA="request_timeout_ms = 2000; connections = 1;" \
    disp_config "$T/pushrelay.conf" 100 30000 30
grep -q 'request_timeout_ms = 2000' "$T/pushrelay.conf" || fail "could not set request_timeout_ms"
# b1: the sandbox holds each first attempt unanswered, so that all are in
# flight when it freezes; later attempts succeed.
for i in $(seq $N); do
    queue 1 --token "$(apns_token b1 "$i")" --id-prefix "frozen-$i-"
done
disp_start "$T/pushrelay.conf"

wait_for 60 '[ "$(sb_stat requests)" -ge $N ]'
kill -STOP "$SB_PID"
wait_for 60 'grep -q "no PING answer" "$T/dispatcher.log"'
kill -CONT "$SB_PID"
# The PING that found the frozen connection was the one a timeout sent.
first_ping=$(grep -m1 -o 'a request timed out, PING\|idle, PING' "$T/dispatcher.log")
assert_eq "a request timed out, PING" "$first_ping" "first PING sent because"

wait_for 120 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
disp_stop_clean
sb_stop
assert_eq $N "$(delivered_distinct)" "distinct push ids delivered after the provider thawed"
assert_eq 0 "$(dead_len)" "dead letters"
