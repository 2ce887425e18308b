#!/usr/bin/env bash
# test_shards_upgrade.sh - the upgrade path to queue shards (design section
# 7, README "High availability and scale-out"): a deployment that ran the
# layout before shards left notifications in pr:{q}:in:<provider> (some
# pending on a consumer that is gone), due retries in pr:{q}:retry and a
# dead letter in pr:{q}:dead. A dispatcher of this version with
# redis.shards = 4 on the same (single) Redis finds them, logs it once,
# delivers every one of them beside new notifications in the shards, logs
# once that the old queue is drained; `dlq list` shows the old dead letter
# and `dlq replay` queues it into the shard of its token, where it is
# delivered; `dlq purge` empties the old stream too.
#
# The old entries are written with the old key builders (notifgen
# --old-layout), so they are exactly what the previous version queued.
. "$(dirname "$0")/lib.sh"
export PR_REDIS_SHARDS=4
. "$(dirname "$0")/disp_lib.sh"
PR_WHAT=test_shards_upgrade

NA=300          # old APNs entries, 40 of them pending on a dead consumer
NF=200          # old FCM entries
NR=50           # old retries, due now
NN=100          # new notifications, in the shards
disp_setup
disp_config "$T/pushrelay.conf" 200 1000 8
pipe() { redis-cli -p "$REDIS_PORT" --pipe >/dev/null || fail "redis-cli --pipe refused the generated commands"; }

echo "== the state a pre-shard deployment left behind"
"$PR_BIN/notifgen" --old-layout --count $NA --app test-ios --token-prefix 0a | pipe
"$PR_BIN/notifgen" --old-layout --count $NF --provider fcm --app test-android --token-prefix 0f | pipe
"$PR_BIN/notifgen" --old-layout --count $NR --app test-ios --token-prefix 0e \
    --retry-due "$(date +%s%3N)" | pipe
# the old dispatcher's group, and entries it read and never finished (killed)
rcli XGROUP CREATE 'pr:{q}:in:apns' dispatch 0 >/dev/null
rcli XREADGROUP GROUP dispatch old-relay-4242 COUNT 40 STREAMS 'pr:{q}:in:apns' '>' >/dev/null
assert_eq 40 "$(rcli XPENDING 'pr:{q}:in:apns' dispatch | head -1)" "old entries pending on the gone consumer"
# a dead letter with the old dispatcher's fields; its record from a throw-away old-layout stream
"$PR_BIN/notifgen" --old-layout --count 1 --prefix tmp: --app test-ios --token-prefix 0d | pipe
DL_JSON=$(redis-cli -p "$REDIS_PORT" --json XRANGE 'tmp:{q}:in:apns' - + |
          python3 -c 'import json,sys; kv = json.load(sys.stdin)[0][1]; print(dict(zip(kv[::2], kv[1::2]))["n"])')
DL_ID=$(printf '%s' "$DL_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
rcli XADD 'pr:{q}:dead' '*' id "$DL_ID" domain contoso.com provider apns app test-ios \
    reason "413 PayloadTooLarge" last_status 413 attempts 1 n "$DL_JSON" >/dev/null
assert_eq $NA "$(rcli XLEN 'pr:{q}:in:apns')" "old APNs entries"
assert_eq $NF "$(rcli XLEN 'pr:{q}:in:fcm')" "old FCM entries"
assert_eq $NR "$(rcli ZCARD 'pr:{q}:retry')" "old retries"
queue $NN --id-prefix new-
assert_eq $NN "$(stream_len)" "new notifications in the shards"

echo "== the dispatcher drains the old queue beside the shards"
disp_start "$T/pushrelay.conf"
old_empty() {
    [ "$(rcli XLEN 'pr:{q}:in:apns')" = 0 ] && [ "$(rcli XLEN 'pr:{q}:in:fcm')" = 0 ] &&
        [ "$(rcli ZCARD 'pr:{q}:retry')" = 0 ] && [ "$(stream_len)" = 0 ] &&
        [ "$(pr_qsum XLEN in:fcm)" = 0 ] && [ "$(retry_len)" = 0 ]
}
wait_for 120 old_empty
wait_for 60 'grep -q "the pre-shard queue is drained" "$T/dispatcher.log"'
assert_eq 1 "$(grep -c 'found [0-9]* notifications in the pre-shard queue' "$T/dispatcher.log")" \
    "'found' logged"
assert_eq 1 "$(grep -c 'the pre-shard queue is drained' "$T/dispatcher.log")" "'drained' logged"
grep -q 'reclaimed [0-9]* idle entries from pr:{q}:in:apns' "$T/dispatcher.log" ||
    fail "the entries pending on the gone consumer were not reclaimed"
pass "old entries pending on the gone consumer reclaimed"

echo "== old dead letters are listed and replayed into their shard"
assert_eq 0 "$("$PR_BIN/pushrelayctl" -c "$T/pushrelay.conf" dlq list >"$T/dl.out" 2>&1; echo $?)" \
    "dlq list exit code"
grep -q "$DL_ID .*413 PayloadTooLarge" "$T/dl.out" || fail "dlq list does not show the old dead letter: $(cat "$T/dl.out")"
pass "dlq list shows the old dead letter"
assert_eq 0 "$("$PR_BIN/pushrelayctl" -c "$T/pushrelay.conf" dlq replay "$DL_ID" >"$T/replay.out" 2>&1; echo $?)" \
    "dlq replay exit code"
grep -q "replayed 1 dead letter" "$T/replay.out" || fail "replay: $(cat "$T/replay.out")"
assert_eq 0 "$(rcli XLEN 'pr:{q}:dead')" "old dead letters after the replay"
wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ]'
# purge reaches the old stream too
rcli XADD 'pr:{q}:dead' '*' id old-purged domain contoso.com provider apns app test-ios \
    reason "400 BadTopic" last_status 400 attempts 1 n '{}' >/dev/null
assert_eq 0 "$("$PR_BIN/pushrelayctl" -c "$T/pushrelay.conf" dlq purge >"$T/purge.out" 2>&1; echo $?)" \
    "dlq purge exit code"
grep -q "purged 1 dead letter$" "$T/purge.out" || fail "purge: $(cat "$T/purge.out")"
assert_eq 0 "$(rcli XLEN 'pr:{q}:dead')" "old dead letters after dlq purge"
disp_stop_clean

echo "== every notification delivered once"
sb_stop
pr_record_ids "$T/record.jsonl" >"$T/ids"
assert_eq $((NA + NF + NR + NN + 1)) "$(sort -u "$T/ids" | wc -l)" "distinct push ids delivered"
assert_eq $((NA + NF + NR + NN + 1)) "$(wc -l <"$T/ids")" "deliveries (no duplicates)"
grep -qx "$DL_ID" "$T/ids" || fail "the replayed old dead letter was not delivered"
pass "the replayed old dead letter was delivered"
assert_eq 0 "$(dead_len)" "dead letters in the shards"
