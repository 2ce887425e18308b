#!/usr/bin/env bash
# test_dispatch_h2_faults.sh - HTTP/2 faults in the middle of a load: 100
# tokens make the sandbox reset the TCP connection the first time it sees
# them (c1), mixed with 100 ordinary notifications and a bulk load, while
# the sandbox also sends GOAWAY every 300 streams. A reset charges an
# attempt only to the request that caused it, so with max_attempts = 5
# every notification is still delivered and none becomes a dead letter
# (each innocent request lost with a connection is sent again for free).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

RESETS=100
PLAIN=100
BULK=2000
SB_ARGS="--goaway-after 300" disp_setup
disp_config "$T/pushrelay.conf" 500 2000 5
# Interleaved in the stream, so that resetting and ordinary requests share connections.
for i in $(seq $RESETS); do
    queue 1 --token "$(apns_token c1 "$i")" --id-prefix "reset-$i-"
    queue 1 --token "$(apns_token f "$i")" --id-prefix "plain-$i-"
done
queue $BULK --id-prefix bulk-
TOTAL=$((RESETS + PLAIN + BULK))
disp_start "$T/pushrelay.conf"

wait_for 120 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
resets=$(curl -s --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("resets", 0))')
disp_stop_clean
sb_stop

# Refuse to pass when the faults did not happen: every c1 token resets once.
[ "$resets" -ge "$RESETS" ] || fail "the sandbox reset only $resets connections (want >= $RESETS)"
assert_eq 0 "$(dead_len)" "dead letters"
assert_eq "$TOTAL" "$(delivered_distinct)" "distinct push ids delivered"
assert_eq "$RESETS" "$(record_ids | sort -u | grep -c '^reset-')" "reset-token notifications delivered"
assert_eq "$PLAIN" "$(record_ids | sort -u | grep -c '^plain-')" "ordinary notifications delivered"
pass "$resets connection resets and a GOAWAY every 300 streams; duplicates delivered: $(($(delivered_count) - TOTAL))"
