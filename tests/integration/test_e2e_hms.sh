#!/usr/bin/env bash
# test_e2e_hms.sh - HMS Push Kit end to end: sipp (through stunnel,
# presenting the edge's certificate) -> pushrelayd (listener and dispatcher)
# -> pushrelay-sandbox as HMS and its OAuth2 token endpoint (client
# credentials).
#
#   * N HMS notifications are delivered exactly once each to
#     /v1/<hms_app_id>/messages:send with a bearer token, Korean + emoji
#     text intact;
#   * the token endpoint down: notifications wait (the relay keeps asking and
#     is refused) and are delivered once it is back;
#   * 503 (code 81000001) is retried until delivered;
#   * code 80300007 kills the token: the next MESSAGE for it is answered 410;
#   * a token that is not an HMS token is refused with 400 and nothing is sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

N=${PR_E2E_N:-1000}
TEXT="점심 먹을래요? 🍜"
e2e_boot hms

echo "== $N HMS notifications, each delivered once"
python3 - "$T/hms.csv" "$N" "$TEXT" <<'PY'
import hashlib, sys
out, n, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "w") as f:
    f.write("SEQUENTIAL\n")
    for i in range(n):
        tok = "0" + hashlib.sha256(b"hw-%d" % i).hexdigest()[:60]
        f.write("%s;hw-%06d;contoso.com;hms;101234567;im;%s\n" % (tok, i, text))
PY
export PR_SIPP_RATE=1000 PR_SIPP_LIMIT=200
e2e_deliver_all hms message "$T/hms.csv" "HMS"
python3 - "$T/sandbox.jsonl" "$N" "$TEXT" <<'PY' || fail "HMS deliveries not as sent"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if r["provider"] == "hms"]
n, text = int(sys.argv[2]), sys.argv[3]
toks = [r["token"] for r in recs]
assert len(toks) == n and len(set(toks)) == n, (len(toks), len(set(toks)))
for r in recs:
    assert r["path"] == "/v1/101234567/messages:send", r["path"]
    assert "authorization" in r["headers"], r["headers"]
    note = json.loads(r["body"])["message"]["android"]["notification"]
    assert note["title"] == "Alice Smith" and note["body"] == text, note
PY
pass "$N HMS messages delivered once each, Korean + emoji text intact"
assert_eq 0 "$(pr_qsum XLEN dead)" "dead letters after the load"

echo "== token endpoint down: notifications wait, then deliver"
sandbox -X POST "$(sb_url 'oauth-down?seconds=600')" >/dev/null
sandbox -X POST "$(sb_url expire-tokens)" >/dev/null
before=$(sb_stat delivered.hms)
refused=$(sb_stat by_status.503)
pr_msg "$T/wait.sip" provider=hms prid=0waitingtoken01 param=101234567
pr_expect_status 202 "$T/wait.sip" "MESSAGE while the token endpoint is down"
pr_wait_for 60 sb_at_least by_status.503 $((refused + 2)) || fail "the relay never asked for a new token"
assert_eq "$before" "$(sb_stat delivered.hms)" "HMS deliveries while no token could be had"
assert_eq 0 "$(pr_qsum XLEN dead)" "dead letters while the token endpoint is down"
sandbox -X POST "$(sb_url 'oauth-down?seconds=0')" >/dev/null
pr_wait_for 60 sb_is delivered.hms $((before + 1)) || fail "HMS did not deliver once the token endpoint was back"
pass "delivered after the token endpoint came back"

echo "== 503 (81000001): retried"
retried=$(stat_total hms:retried)
before=$(sb_stat delivered.hms)
pr_msg "$T/busy.sip" provider=hms prid=e5032busy param=101234567
pr_expect_status 202 "$T/busy.sip" "MESSAGE for a busy HMS"
pr_wait_for 60 sb_is delivered.hms $((before + 1)) || fail "never delivered after 503s"
pr_wait_for 60 stat_at_least hms:retried $(( ${retried:-0} + 2 )) ||
    fail "503 was not retried twice (hms:retried $(stat_total hms:retried), was ${retried:-0})"
pass "503 retried, then delivered"

echo "== 80300007: the token is dead, the next MESSAGE gets 410"
pr_msg "$T/dead.sip" provider=hms prid=e4000dead param=101234567
pr_expect_status 202 "$T/dead.sip" "first MESSAGE for an invalid HMS token"
pr_wait_for 60 stat_is hms:token_dead 1 || fail "HMS token not recorded dead"
pr_msg "$T/dead2.sip" provider=hms prid=e4000dead param=101234567
pr_expect_status 410 "$T/dead2.sip" "next MESSAGE for the dead HMS token"

echo "== not an HMS token: 400, nothing sent"
queued=$(stat_total hms:queued)
pr_msg "$T/bad.sip" provider=hms prid='has%20space' param=101234567
pr_expect_status 400 "$T/bad.sip" "HMS token with a space"
before=$(sb_stat delivered.hms)
pr_msg "$T/after.sip" provider=hms prid=0aftertoken01 param=101234567
pr_expect_status 202 "$T/after.sip" "MESSAGE after the refused token"
pr_wait_for 60 sb_is delivered.hms $((before + 1)) || fail "the MESSAGE after the refused one was not delivered"
pr_wait_for 60 stat_at_least hms:queued $(( ${queued:-0} + 1 )) || fail "the marker was never counted queued"
assert_eq $(( ${queued:-0} + 1 )) "$(stat_total hms:queued)" "queued: only the marker"
pass "refused token sent nothing"
