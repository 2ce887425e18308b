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
disp_config "$T/pushrelay.conf" 100 30000 30
python3 - "$T/pushrelay.conf" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read().replace('log_level = "info";', 'log_level = "debug";')
at = text.index('{ id = "test-ios";')
end = text.index("},", at)
open(path, "w").write(text[:end] + "request_timeout_ms = 2000; connections = 1; " + text[end:])
PY
grep -q 'request_timeout_ms = 2000' "$T/pushrelay.conf" || fail "could not set request_timeout_ms"
# b1: the sandbox holds each first attempt unanswered, so that all are in
# flight when it freezes; later attempts succeed.
for i in $(seq $N); do
    queue 1 --token "$(apns_token b1 "$i")" --id-prefix "frozen-$i-"
done
disp_start "$T/pushrelay.conf"

sb_requests() {
    curl -s --max-time 5 --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' 2>/dev/null || echo 0
}
wait_for 60 '[ "$(sb_requests)" -ge $N ]'
kill -STOP "$SB_PID"
wait_for 60 'grep -q "no PING answer" "$T/dispatcher.log"'
kill -CONT "$SB_PID"
# The PING that found the frozen connection was the one a timeout sent.
first_ping=$(grep -m1 -o 'a request timed out, PING\|idle, PING' "$T/dispatcher.log")
assert_eq "a request timed out, PING" "$first_ping" "first PING sent because"

wait_for 120 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(rcli ZCARD "pr:{q}:retry")" = 0 ]'
disp_stop_clean
sb_stop
assert_eq $N "$(delivered_distinct)" "distinct push ids delivered after the provider thawed"
assert_eq 0 "$(rcli XLEN 'pr:{q}:dead')" "dead letters"
