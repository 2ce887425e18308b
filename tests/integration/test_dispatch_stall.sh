#!/usr/bin/env bash
# test_dispatch_stall.sh - a provider that never answers some requests
# holds a delivery slot for at most the app's request_timeout_ms. The
# window (max_in_flight = 10) is filled by 10 notifications whose answer the
# sandbox holds for 9 s (d9000); 10 ordinary ones are queued behind them.
# With request_timeout_ms = 2000 every held request is cancelled at 2 s (so
# none is ever answered, which the default 10 s would have allowed) and,
# with max_attempts = 2, each ends as a dead letter after its second
# timeout. The ordinary ones get the freed slots after the first timeout:
# all are delivered before the first held notification reaches its outcome.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

WINDOW=10
PLAIN=10
disp_setup
DISP_IOS_EXTRA="request_timeout_ms = 2000;" disp_config "$T/pushrelay.conf" $WINDOW 30000 2
grep -q 'request_timeout_ms = 2000' "$T/pushrelay.conf" || fail "could not set request_timeout_ms"
for i in $(seq $WINDOW); do
    queue 1 --token "$(apns_token d9000 "$i")" --id-prefix "held-$i-"
done
for i in $(seq $PLAIN); do
    queue 1 --token "$(apns_token f "$i")" --id-prefix "plain-$i-"
done
disp_start "$T/pushrelay.conf"

wait_for 60 '[ "$(dead_len)" = $WINDOW ]'
wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
disp_stop_clean
sb_stop

assert_eq "$PLAIN" "$(record_ids | sort -u | grep -c '^plain-')" "ordinary notifications delivered"
assert_eq 0 "$(record_ids | grep -c '^held-')" "held notifications answered (each cancelled at 2 s)"
reasons=$(q_range dead | grep -c 'attempts exhausted (0 timeout)')
assert_eq "$WINDOW" "$reasons" "dead letters for two timeouts each"
# Ordering, by the two clocks of this one machine: every ordinary delivery
# (sandbox record) came before the first held notification's final outcome
# (the dead-letter entry id is its ms timestamp).
last_plain=$(python3 -c '
import json, sys
print(max(json.loads(l)["ts_ms"] for l in open(sys.argv[1]) if "plain-" in l))' "$T/record.jsonl")
first_dead=$(q_range dead | grep -E '^[0-9]+-[0-9]+$' | cut -d- -f1 | sort -n | head -1)
[ "$last_plain" -lt "$first_dead" ] ||
    fail "an ordinary notification waited past a held one's outcome ($last_plain >= $first_dead)"
pass "ordinary notifications delivered $((first_dead - last_plain)) ms before the first held one gave up"
