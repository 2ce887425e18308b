#!/usr/bin/env bash
# test_tokens_reshard.sh - `pushrelayctl tokens reshard` (README "Queue
# shards"): dead-token records written under another redis.shards, or
# before shards existed, sit where the ingest script no longer looks, so
# their tokens are accepted again and `tokens show` does not find them.
# reshard moves each into the shard of its provider and token, keeps a
# newer record found there, changes nothing on a second run, and with
# --from-shards also empties the shards a smaller redis.shards left out.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_tokens_reshard

pr_boot --sandbox all      # redis.shards = 1

# answers FILE N CODE: sends the N requests of FILE, every one answered CODE.
answers() {
    local resp
    resp=$(pr_sip_request "$1" "$2") || fail "send $1: $resp"
    assert_eq "$2" "$(printf '%s\n' "$resp" | grep -c "^SIP/2.0 $3")" "$3 answers for $(basename "$1")"
}
# restart_with S: the relay again with redis.shards = S, every shard holding its tenant copy.
restart_with() {
    pr_stop_relay
    export PR_REDIS_SHARDS=$1
    pr_write_config "$T/relay.conf"
    pr_start_relay all
    pr_enable contoso.com edge.contoso.com
}
index_len() { rcli ZCARD "pr:{q$1}:tokens"; }
index_is() { [ "$(index_len "$1")" = "$2" ]; }

echo "== 40 dead APNs tokens recorded with one shard, and one by the relay before shards"
TOKENS=()
: >"$T/all.sip"
for i in $(seq -w 1 40); do
    TOKENS+=("$(pr_hex "e4100$i")")
    pr_msg "$T/one.sip" prid="${TOKENS[-1]}"
    cat "$T/one.sip" >>"$T/all.sip"
done
answers "$T/all.sip" 40 202
pr_wait_for 60 index_is 0 40 || fail "dead tokens recorded: $(index_len 0), want 40"
# The layout before shards, as that version wrote it (relay/token.h, keys_token).
OLD=$(pr_hex e4109)
NOW_MS=$(date +%s%3N)
rcli HSET "pr:token:apns:$OLD" reason Unregistered since_ms "$NOW_MS" provider_ts_ms 0 \
    domain contoso.com app test-ios >/dev/null
rcli EXPIRE "pr:token:apns:$OLD" 2592000 >/dev/null
rcli ZADD pr:tokens "$NOW_MS" "pr:token:apns:$OLD" >/dev/null
TOKENS+=("$OLD")
pr_msg "$T/one.sip" prid="$OLD"
cat "$T/one.sip" >>"$T/all.sip"

echo "== redis.shards = 4: records outside their shard are not found"
restart_with 4
HOME_0=0 FIRST_AWAY='' SECOND_AWAY=''
for t in "${TOKENS[@]:0:40}"; do
    if [ "$(pr_shard_of apns "$t")" = 0 ]; then
        HOME_0=$((HOME_0 + 1))
    elif [ -z "$FIRST_AWAY" ]; then
        FIRST_AWAY=$t
    elif [ -z "$SECOND_AWAY" ]; then
        SECOND_AWAY=$t
    fi
done
{ [ -n "$SECOND_AWAY" ] && [ "$HOME_0" -gt 0 ]; } || fail "the 40 tokens do not spread over the shards"
assert_eq 1 "$(pr_ctlx show-before.out tokens show "$SECOND_AWAY")" "tokens show of a record left in shard 0"
pr_has show-before.out "is not recorded dead"
# The relay accepts FIRST_AWAY again; the provider says 410 again and the
# dispatcher records it in its shard: a newer record reshard must keep.
K1=$(pr_shard_of apns "$FIRST_AWAY")
pr_msg "$T/first.sip" prid="$FIRST_AWAY"
answers "$T/first.sip" 1 202
pr_wait_for 60 index_is "$K1" 1 || fail "the token accepted again was not recorded in shard $K1"

# An index entry whose record expired before the index was trimmed.
for STALE in $(for i in 0 1 2 3 4 5 6 7 8 9; do pr_hex "e4108$i"; echo; done); do
    [ "$(pr_shard_of apns "$STALE")" = 0 ] || break
done
[ "$(pr_shard_of apns "$STALE")" != 0 ] || fail "no stale token outside shard 0"
rcli ZADD 'pr:{q0}:tokens' "$NOW_MS" "pr:{q0}:token:apns:$STALE" >/dev/null

echo "== tokens reshard moves them"
assert_eq 0 "$(pr_ctlx reshard1.out tokens reshard)" "tokens reshard exit code"
AWAY=$((40 - HOME_0))
pr_has reshard1.out "dead-token records of 4 shards and from before shards: $AWAY moved into their shards of redis.shards = 4, 1 kept where a newer record was, 1 expired; 41 indexed in the 4 shards now"
pr_has reshard1.out "shard 0 (pr:{q0}:tokens): 41 records: $((AWAY - 1)) moved, $HOME_0 in place, 1 kept, 1 expired"
pr_has reshard1.out "before shards (pr:tokens): 1 record: 1 moved, 0 in place, 0 kept, 0 expired"
answers "$T/all.sip" 41 410
assert_eq 41 "$(pr_qsum ZCARD tokens)" "index entries over the 4 shards"
assert_eq 0 "$(rcli EXISTS pr:tokens "pr:token:apns:$OLD" "pr:{q0}:token:apns:$SECOND_AWAY")" \
    "records and index left behind"
assert_eq "" "$(rcli ZSCORE 'pr:{q0}:tokens' "pr:{q0}:token:apns:$STALE")" "the expired record's index entry"
K2=$(pr_shard_of apns "$SECOND_AWAY")
ttl=$(rcli TTL "pr:{q$K2}:token:apns:$SECOND_AWAY")
{ [ "$ttl" -gt 2500000 ] && [ "$ttl" -le 2592000 ]; } || fail "moved record's TTL is $ttl"
pass "a moved record keeps its TTL ($ttl s)"
assert_eq 0 "$(pr_ctlx show-after.out tokens show "$SECOND_AWAY")" "tokens show of a moved record"
pr_has show-after.out "reason:             Unregistered"
assert_eq 0 "$(pr_ctlx list.out tokens list)" "tokens list exit code"
assert_eq 41 "$(grep -E '^apns ' "$T/list.out" | awk '{print $NF}' | sort -u | wc -l)" "distinct tokens listed"

echo "== a second run has nothing to move"
assert_eq 0 "$(pr_ctlx reshard2.out tokens reshard)" "second tokens reshard exit code"
pr_has reshard2.out "0 moved into their shards of redis.shards = 4, 0 kept where a newer record was, 0 expired; 41 indexed in the 4 shards now"

echo "== redis.shards = 2: shards 2 and 3 are read only with --from-shards 4"
restart_with 2
assert_eq 0 "$(pr_ctlx reshard3.out tokens reshard)" "tokens reshard exit code"
pr_has reshard3.out "dead-token records of 2 shards and from before shards: 0 moved"
LEFT=$(( $(index_len 2) + $(index_len 3) ))
[ "$LEFT" -gt 0 ] || fail "no record in shards 2 and 3 to test --from-shards with"
assert_eq 0 "$(pr_ctlx reshard4.out tokens reshard --from-shards 4)" "tokens reshard --from-shards 4 exit code"
pr_has reshard4.out "dead-token records of 4 shards and from before shards: $LEFT moved into their shards of redis.shards = 2, 0 kept where a newer record was, 0 expired; 41 indexed in the 2 shards now"
assert_eq "0 0" "$(index_len 2) $(index_len 3)" "index entries left in shards 2 and 3"
assert_eq 41 "$(pr_qsum ZCARD tokens)" "index entries over the 2 shards"
answers "$T/all.sip" 41 410

echo "== usage errors"
assert_eq 2 "$(pr_ctlx bad.out tokens reshard --from-shards 0)" "--from-shards 0 exit code"
pr_has bad.out "--from-shards '0': must be an integer from 1 to 16384"
assert_eq 2 "$(pr_ctlx bad2.out tokens reshard extra)" "an extra argument's exit code"
pass "tokens reshard"
