#!/usr/bin/env bash
# Idempotency: a repeat of the same push (same body "id", or without one the
# same Call-ID + CSeq) within the dedup window is answered 202 again and
# queued once. The window is per domain: another domain's equal id is its
# own push.
. "$(dirname "$0")/lib.sh"

pr_boot listener
pr_gen_edge edge.fabrikam.com
pr_enable fabrikam.com edge.fabrikam.com

# Same id, new Call-ID (an edge retrying after a lost response).
pr_msg "$T/a1" id=dup-1 callid=first@edge.contoso.com
pr_expect_status 202 "$T/a1" "first MESSAGE id dup-1"
assert_eq dup-1 "$(pr_header "$RESP" Push-Id)" "Push-Id of the first"
pr_msg "$T/a2" id=dup-1 callid=second@edge.contoso.com
pr_expect_status 202 "$T/a2" "repeat of id dup-1 with another Call-ID"
assert_eq dup-1 "$(pr_header "$RESP" Push-Id)" "Push-Id of the repeat"
assert_eq 1 "$(pr_xlen apns)" "entries after id dup-1 twice"

# No id: Call-ID + CSeq is the key. Same pair twice: once; next CSeq: new push.
NOID='{"event":"missed-call","from":"sip:alice@contoso.com","to":"sip:bob@contoso.com","body":"Missed call"}'
pr_msg "$T/b1" callid=noid@edge.contoso.com cseq=1 body="$NOID"
pr_expect_status 202 "$T/b1" "MESSAGE without id, CSeq 1"
PUSH_ID=$(pr_header "$RESP" Push-Id)
[ -n "$PUSH_ID" ] || fail "202 without Push-Id for a MESSAGE without id: $RESP"
pr_expect_status 202 "$T/b1" "the same MESSAGE without id again"
assert_eq "$PUSH_ID" "$(pr_header "$RESP" Push-Id)" "Push-Id of the repeat (Call-ID + CSeq)"
assert_eq 2 "$(pr_xlen apns)" "entries after the id-less MESSAGE twice"
pr_msg "$T/b2" callid=noid@edge.contoso.com cseq=2 body="$NOID"
pr_expect_status 202 "$T/b2" "MESSAGE without id, CSeq 2"
[ "$(pr_header "$RESP" Push-Id)" != "$PUSH_ID" ] || fail "CSeq 2 got the Push-Id of CSeq 1"
assert_eq 3 "$(pr_xlen apns)" "entries after a new CSeq"

# The window is per domain.
pr_msg "$T/c1" id=dup-1 domain=fabrikam.com
RESP=$(PR_EDGE=edge.fabrikam.com pr_sip_request "$T/c1") || fail "no response for fabrikam.com dup-1"
assert_eq 202 "$(pr_status "$RESP")" "fabrikam.com MESSAGE with contoso's id dup-1"
assert_eq 4 "$(pr_xlen apns)" "entries after fabrikam.com's dup-1"

# Under load through sipp: the same 100 ids sent twice are queued 100 times.
pr_start_stunnel edge.contoso.com
PR_CSV_TAG=load pr_gen_csv "$T/load.csv" 100
pr_sipp message 100 -inf "$T/load.csv" || fail "sipp first pass not all 202"
pr_sipp message 100 -inf "$T/load.csv" || fail "sipp repeat pass not all 202"
assert_eq 104 "$(pr_xlen apns)" "entries after 100 ids sent twice"
assert_eq 100 "$(pr_entries apns | python3 -c 'import json,sys
print(len({dict(zip(kv[0::2],kv[1::2]))["id"] for _,kv in json.load(sys.stdin)} & {"load-%06d" % i for i in range(100)}))')" \
    "distinct sipp ids queued"

# The dedup key lives for the configured window (dedup_window_s = 300).
DEDUP_KEY=$(pr_qkey "$(pr_shard_of apns "$(printf 'a1%.0s' $(seq 32))")" dedup:contoso.com:dup-1)
ttl=$(rcli TTL "$DEDUP_KEY")
[ "$ttl" -gt 0 ] && [ "$ttl" -le 300 ] || fail "$DEDUP_KEY TTL $ttl, want 1..300"
pass "dedup key TTL $ttl s"
