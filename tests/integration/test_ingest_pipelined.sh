#!/usr/bin/env bash
# Pipelined MESSAGEs: requests that arrive in one write are checked in one
# Redis script call, yet each gets its own verdict, in order: accepted,
# refused for another domain, repeated inside the batch, sent to a dead
# token, refused for a disabled provider. Only the accepted ones are queued,
# and a refusal never spoils its neighbours.
. "$(dirname "$0")/lib.sh"

pr_boot listener
pr_gen_edge edge.fabrikam.com
pr_enable fabrikam.com edge.fabrikam.com
pr_ctl disable-push --domain contoso.com --fcm >/dev/null || fail "disable-push --fcm failed"

DEAD=$(printf 'dead%060d' 7)
rcli HSET "$(pr_qkey "$(pr_shard_of apns "$DEAD")" "token:apns:$DEAD")" reason Unregistered since "$(date +%s)000" >/dev/null

pr_msg "$T/1" id=pipe-1 callid=p1@edge.contoso.com
pr_msg "$T/2" id=pipe-2 domain=fabrikam.com callid=p2@edge.contoso.com
pr_msg "$T/3" id=pipe-1 callid=p3@edge.contoso.com
pr_msg "$T/4" id=pipe-4 prid="$DEAD" callid=p4@edge.contoso.com
pr_msg "$T/5" id=pipe-5 provider=fcm param=example-lync callid=p5@edge.contoso.com
pr_msg "$T/6" id=pipe-6 callid=p6@edge.contoso.com
cat "$T/1" "$T/2" "$T/3" "$T/4" "$T/5" "$T/6" >"$T/all"

# The listener's own script calls (its repair of the tenant copies at
# start) are over before the count starts.
pr_wait_log "$T/relay.log" "tenant: shard copies of" "$RELAY_PID"
rcli CONFIG RESETSTAT >/dev/null
OUT=$(pr_sip_request "$T/all" 6) || fail "fewer than 6 responses to 6 pipelined MESSAGEs: $OUT"
STATUSES=$(printf '%s\n' "$OUT" | sed -n 's/^SIP\/2\.0 \([0-9]\{3\}\).*/\1/p' | tr -d '\r' | tr '\n' ' ')
CALLIDS=$(printf '%s\n' "$OUT" | sed -n 's/^Call-ID: *//p' | tr -d '\r' | tr '\n' ' ')
assert_eq "202 403 202 410 403 202 " "$STATUSES" "statuses of the pipelined MESSAGEs, in order"
assert_eq "p1@edge.contoso.com p2@edge.contoso.com p3@edge.contoso.com p4@edge.contoso.com p5@edge.contoso.com p6@edge.contoso.com " \
    "$CALLIDS" "responses in request order"
case $OUT in
*"is not a registered edge of fabrikam.com"*) pass "Warning names the edge refused for fabrikam.com" ;;
*) fail "no Warning for the foreign domain: $OUT" ;;
esac
case $OUT in
*"provider fcm is disabled for contoso.com"*) pass "Warning names the disabled provider" ;;
*) fail "no Warning for the disabled provider: $OUT" ;;
esac
assert_eq 2 "$(pr_xlen apns)" "APNs entries (pipe-1 once, pipe-6; not the dead token)"
assert_eq 0 "$(pr_xlen fcm)" "FCM entries"
assert_eq "pipe-1 pipe-6 " "$(pr_entries apns | python3 -c 'import json,sys
for _, kv in json.load(sys.stdin): print(dict(zip(kv[0::2], kv[1::2]))["id"], end=" ")')" \
    "queued ids"
# One script call per queue shard the six touch: EVALSHA, plus one EVAL
# each when Redis did not have the script cached yet.
A1=$(printf 'a1%.0s' $(seq 32))
SHARDS_HIT=$(printf '%s\n' "$(pr_shard_of apns "$A1")" "$(pr_shard_of apns "$DEAD")" \
    "$(pr_shard_of fcm "$A1")" | sort -u | wc -l)
SCRIPT_CALLS=$(rcli INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '$1 == "cmdstat_evalsha" || $1 == "cmdstat_eval" { n += $3 } END { print n + 0 }')
if [ "$SCRIPT_CALLS" -ge "$SHARDS_HIT" ] && [ "$SCRIPT_CALLS" -le $(( 2 * SHARDS_HIT )) ]; then
    pass "six pipelined MESSAGEs in $SHARDS_HIT shard(s) took $SCRIPT_CALLS script call(s)"
else
    fail "six pipelined MESSAGEs took ${SCRIPT_CALLS:-no} script calls, want one batch per shard ($SHARDS_HIT)"
fi
