#!/usr/bin/env bash
# test_dispatch_stall.sh - a provider that never answers some requests
# holds up the other notifications for at most about one request timeout.
#
# Held: the window (max_in_flight = 10) is filled by 10 notifications whose
# answer the sandbox holds for 9 s (d9000); 10 ordinary ones are queued
# behind them. With request_timeout_ms = 2000 every held request is
# cancelled at 2 s (so none is ever answered, which the default 10 s would
# have allowed) and, with max_attempts = 2, each ends as a dead letter after
# its second timeout. The ordinary ones get the freed slots after the first
# timeout: all are delivered before the first held notification reaches its
# outcome.
#
# Stalled: more never-answered requests (b0) than the window, twice as many,
# queued ahead of 20 ordinary ones, request_timeout_ms = 20000,
# stall_after_ms = 6000, max_stalled = 10. The first window-full leaves the
# window at 6 s and fills the stalled budget; the second window-full stalls
# too but finds the budget full, so it keeps its slots until the first
# window-full times out at 20 s, and takes their places then. The ordinary
# ones get the window at that moment and are all delivered before the
# second window-full times out (26 s): at the last ordinary delivery at most
# one window's worth of stalled requests has timed out. Without the stalled
# budget they would wait for both window-fulls to time out (40 s), 20
# timeouts (max_stalled = 0 fails this test so).
#
# Streams: the stalled requests also hold HTTP/2 streams. With one
# connection whose server allows 10 streams, 10 never-answered requests
# take them all; the 20 ordinary ones behind them (let into the window by
# the stalled budget) must not wait in the connection's queue for those
# timeouts: h2c opens an overflow connection, and every ordinary one is
# delivered before any stalled request times out. Idle, it closes again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

# last_delivery PREFIX: the sandbox's receipt time (ms) of the last delivery
# whose push id starts with PREFIX.
last_delivery() {
    python3 -c '
import json, sys
print(max(json.loads(l)["ts_ms"] for l in open(sys.argv[1]) if sys.argv[2] in l))' "$T/record.jsonl" "$1"
}
# dead_until MS: dead letters written at or before MS (an entry id is its ms timestamp).
dead_until() {
    local k
    for ((k = 0; k < $(pr_shards); k++)); do rcli --json XRANGE "pr:{q$k}:dead" - +; done |
        python3 -c '
import json, sys
ids = [i for l in sys.stdin if l.strip() for i, _ in json.loads(l)]
print(sum(int(i.split("-")[0]) <= int(sys.argv[1]) for i in ids))' "$1"
}

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
last_plain=$(last_delivery plain-)
first_dead=$(q_range dead | grep -E '^[0-9]+-[0-9]+$' | cut -d- -f1 | sort -n | head -1)
[ "$last_plain" -lt "$first_dead" ] ||
    fail "an ordinary notification waited past a held one's outcome ($last_plain >= $first_dead)"
pass "ordinary notifications delivered $((first_dead - last_plain)) ms before the first held one gave up"

# --- Stalled: more never-answered requests than max_in_flight ---------------
mv "$T/record.jsonl" "$T/record-held.jsonl"
for ((k = 0; k < $(pr_shards); k++)); do rcli DEL "pr:{q$k}:dead" >/dev/null; done
disp_start_sandbox
STALLED=$((2 * WINDOW))
ORDINARY=20
DISP_IOS_EXTRA="request_timeout_ms = 20000;" disp_config "$T/stall.conf" $WINDOW 60000 1
sed -i "s/^dispatcher = { max_in_flight = $WINDOW;/& stall_after_ms = 6000; max_stalled = $WINDOW;/" \
    "$T/stall.conf"
grep -q "stall_after_ms = 6000; max_stalled = $WINDOW;" "$T/stall.conf" ||
    fail "could not set stall_after_ms and max_stalled"
for i in $(seq $STALLED); do
    queue 1 --token "$(apns_token b0 "$i")" --id-prefix "stall-$i-"
done
for i in $(seq $ORDINARY); do
    queue 1 --token "$(apns_token f "$i")" --id-prefix "ord-$i-"
done
disp_start "$T/stall.conf" stall-dispatcher

wait_for 120 '[ "$(sb_delivered)" = $ORDINARY ]'
wait_for 120 '[ "$(dead_len)" = $STALLED ]'
wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
disp_stop_clean
sb_stop

# Refuse to pass unless both halves happened: requests left the window, and
# the budget filled so that later stalled ones had to wait for a place.
grep -q "requests unanswered after 6000 ms left the delivery window" "$T/stall-dispatcher.log" ||
    fail "no request ever left the delivery window"
grep -q "all $WINDOW stalled places taken" "$T/stall-dispatcher.log" ||
    fail "the stalled budget never filled"
assert_eq "$ORDINARY" "$(record_ids | sort -u | grep -c '^ord-')" "ordinary notifications delivered"
assert_eq "$ORDINARY" "$(record_ids | grep -c '^ord-')" "ordinary deliveries (none twice)"
assert_eq 0 "$(record_ids | grep -c '^stall-')" "stalled notifications answered"
reasons=$(q_range dead | grep -c 'attempts exhausted (0 timeout)')
assert_eq "$STALLED" "$reasons" "stalled notifications dead-lettered after their one timed-out attempt"
# The bound, by the order of events on this one machine: each timeout is one
# dead letter (max_attempts = 1; the entry id is its ms timestamp); count
# those written before the last ordinary delivery (sandbox record).
last_ord=$(last_delivery ord-)
timed_out=$(dead_until "$last_ord")
[ "$timed_out" -le "$WINDOW" ] ||
    fail "ordinary notifications waited for $timed_out stalled requests to time out (> $WINDOW)"
pass "the last ordinary notification was delivered after $timed_out of $STALLED stalled requests timed out"

# --- Streams: stalled requests hold every stream of the only connection -----
mv "$T/record.jsonl" "$T/record-stalled.jsonl"
for ((k = 0; k < $(pr_shards); k++)); do rcli DEL "pr:{q$k}:dead" >/dev/null; done
SB_ARGS="--max-concurrent-streams $WINDOW" disp_start_sandbox
DISP_IOS_EXTRA="request_timeout_ms = 20000; connections = 1;" \
    disp_config "$T/streams.conf" $WINDOW 60000 1
sed -i "s/^dispatcher = { max_in_flight = $WINDOW;/& stall_after_ms = 1000; max_stalled = $WINDOW;/" \
    "$T/streams.conf"
grep -q "stall_after_ms = 1000; max_stalled = $WINDOW;" "$T/streams.conf" ||
    fail "could not set stall_after_ms and max_stalled"
MON_PORT=$(pr_free_port)
echo "monitoring = { listen = \"127.0.0.1:$MON_PORT\"; };" >>"$T/streams.conf"
for i in $(seq $WINDOW); do
    queue 1 --token "$(apns_token b0 "$((100 + i))")" --id-prefix "hog-$i-"
done
for i in $(seq $ORDINARY); do
    queue 1 --token "$(apns_token f "$((100 + i))")" --id-prefix "behind-$i-"
done
disp_start "$T/streams.conf" streams-dispatcher

# Every hog is stalled from 1 s until its 20 s timeout: /metrics shows them
# apart from the window.
wait_for 60 '[ "$(pr_metric pushrelay_dispatch_stalled)" = $WINDOW ]'
wait_for 120 '[ "$(sb_delivered)" = $ORDINARY ]'
wait_for 120 '[ "$(dead_len)" = $WINDOW ]'
wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
assert_eq 0 "$(pr_metric pushrelay_dispatch_stalled)" "stalled requests once every hog timed out"
assert_eq 0 "$(pr_metric pushrelay_dispatch_in_flight)" "requests in the window once drained"
# Idle now, the overflow connection closes (30 s without traffic).
wait_for 120 'grep -q "overflow connection 1 to 127.0.0.1:$SB_PORT idle: closed" "$T/streams-dispatcher.log"'
disp_stop_clean
sb_stop

assert_eq "$ORDINARY" "$(record_ids | sort -u | grep -c '^behind-')" "ordinary notifications delivered past the held streams"
assert_eq 0 "$(record_ids | grep -c '^hog-')" "stream-holding notifications answered"
assert_eq "$WINDOW" "$(q_range dead | grep -c 'attempts exhausted (0 timeout)')" \
    "stream-holding notifications dead-lettered after their timeout"
last_ord=$(last_delivery behind-)
timed_out=$(dead_until "$last_ord")
assert_eq 0 "$timed_out" "stalled requests timed out before the last ordinary delivery"
grep -q "streams to 127.0.0.1:$SB_PORT unanswered for [0-9]* ms: opening overflow connection 1" \
    "$T/streams-dispatcher.log" || fail "no overflow connection was opened"
