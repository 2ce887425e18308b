#!/usr/bin/env bash
# test_e2e_wns.sh - WNS end to end: sipp (through stunnel, presenting the
# edge's certificate) -> pushrelayd (listener and dispatcher) ->
# pushrelay-sandbox as WNS and its token endpoint (login.live.com's
# accesstoken.srf, client credentials).
#
#   * N WNS notifications are delivered exactly once each, as toasts with
#     the WNS headers and a bearer token, Korean + emoji text intact;
#   * the token endpoint down: notifications wait (the relay keeps asking and
#     is refused) and are delivered once it is back;
#   * 406 (channel throttled) is retried until delivered;
#   * 410 kills the channel: the next MESSAGE for it is answered 410;
#   * a channel URI outside allowed_hosts, or plain http, is refused with
#     403 at ingest and nothing is sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

N=${PR_E2E_N:-1000}
TEXT="점심 먹을래요? 🍜"
e2e_boot wns
# channel TOKEN: the percent-encoded channel URI of sandbox WNS channel TOKEN.
channel() { echo "https%3A%2F%2F127.0.0.1%3A$MPNS_PORT%2Fwns%2F$1"; }

echo "== $N WNS notifications, each delivered once"
python3 - "$T/wns.csv" "$N" "$MPNS_PORT" "$TEXT" <<'PY'
import hashlib, sys
out, n, port, text = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(out, "w") as f:
    f.write("SEQUENTIAL\n")
    for i in range(n):
        dev = "0" + hashlib.sha256(b"win-%d" % i).hexdigest()[:40]
        uri = "https%%3A%%2F%%2F127.0.0.1%%3A%s%%2Fwns%%2F%s" % (port, dev)
        f.write("%s;win-%06d;contoso.com;wns;lync-win;im;%s\n" % (uri, i, text))
PY
export PR_SIPP_RATE=1000 PR_SIPP_LIMIT=200
e2e_deliver_all wns message "$T/wns.csv" "WNS"
python3 - "$T/sandbox.jsonl" "$N" "$TEXT" <<'PY' || fail "WNS deliveries not as sent"
import json, sys, xml.etree.ElementTree as ET
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if r["provider"] == "wns"]
n, text = int(sys.argv[2]), sys.argv[3]
toks = [r["token"] for r in recs]
assert len(toks) == n and len(set(toks)) == n, (len(toks), len(set(toks)))
for r in recs:
    h = r["headers"]
    assert h["x-wns-type"] == "wns/toast", h
    assert h["content-type"] == "text/xml", h
    assert h["x-wns-requestforstatus"] == "true", h
    assert 0 < int(h["x-wns-ttl"]) <= 60, h
    assert "authorization" in h, h
    texts = [t.text for t in ET.fromstring(r["body"]).iter("text")]
    assert texts == ["Alice Smith", text], texts
PY
pass "$N WNS toasts delivered once each, headers and Korean + emoji text intact"
assert_eq 0 "$(pr_qsum XLEN dead)" "dead letters after the load"

echo "== token endpoint down: notifications wait, then deliver"
sandbox -X POST "$(sb_url 'oauth-down?seconds=600')" >/dev/null
sandbox -X POST "$(sb_url expire-tokens)" >/dev/null
before=$(sb_stat delivered.wns)
refused=$(sb_stat by_status.503)
pr_msg "$T/wait.sip" provider=wns prid="$(channel wait0001)" param=lync-win
pr_expect_status 202 "$T/wait.sip" "MESSAGE while the token endpoint is down"
# The relay is refused at least twice (401 from WNS or a backed-off retry
# of the fetch): the notification then waits, it is not lost or sent.
pr_wait_for 60 sb_at_least by_status.503 $((refused + 2)) || fail "the relay never asked for a new token"
assert_eq "$before" "$(sb_stat delivered.wns)" "WNS deliveries while no token could be had"
assert_eq 0 "$(pr_qsum XLEN dead)" "dead letters while the token endpoint is down"
sandbox -X POST "$(sb_url 'oauth-down?seconds=0')" >/dev/null
pr_wait_for 60 sb_is delivered.wns $((before + 1)) || fail "WNS did not deliver once the token endpoint was back"
pass "delivered after the token endpoint came back"

echo "== 406 channel throttled: retried"
retried=$(stat_total wns:retried)
before=$(sb_stat delivered.wns)
pr_msg "$T/throttled.sip" provider=wns prid="$(channel e4062thr)" param=lync-win
pr_expect_status 202 "$T/throttled.sip" "MESSAGE for a throttled channel"
pr_wait_for 60 sb_is delivered.wns $((before + 1)) || fail "throttled channel never delivered"
# Stats are flushed once a second: wait for the count rather than read it.
pr_wait_for 60 stat_at_least wns:retried $(( ${retried:-0} + 2 )) ||
    fail "406 was not retried twice (wns:retried $(stat_total wns:retried), was ${retried:-0})"
pass "406 retried, then delivered"

echo "== 410: the channel is dead, the next MESSAGE gets 410"
pr_msg "$T/dead.sip" provider=wns prid="$(channel e4100dead)" param=lync-win
pr_expect_status 202 "$T/dead.sip" "first MESSAGE for a gone channel"
pr_wait_for 60 stat_is wns:token_dead 1 || fail "WNS channel not recorded dead"
pr_msg "$T/dead2.sip" provider=wns prid="$(channel e4100dead)" param=lync-win
pr_expect_status 410 "$T/dead2.sip" "next MESSAGE for the dead WNS channel"

echo "== channels outside allowed_hosts or not https: 403, nothing sent"
requests=$(sb_stat requests)
queued=$(stat_total wns:queued)
pr_msg "$T/evil.sip" provider=wns prid="https%3A%2F%2Fevil.example.com%2Fwns%2F1" param=lync-win
pr_expect_status 403 "$T/evil.sip" "channel host outside allowed_hosts"
[[ "$(pr_header "$RESP" Warning)" == *allowed_hosts* ]] || fail "403 Warning does not name allowed_hosts: $RESP"
pr_msg "$T/http.sip" provider=wns prid="http%3A%2F%2F127.0.0.1%3A$MPNS_PORT%2Fwns%2F1" param=lync-win
pr_expect_status 403 "$T/http.sip" "plain http channel URI"
[[ "$(pr_header "$RESP" Warning)" == *https* ]] || fail "403 Warning does not say https: $RESP"
# A marker MESSAGE after the refused ones: once it is delivered, anything
# the refused ones had caused would have reached the sandbox before it.
before=$(sb_stat delivered.wns)
pr_msg "$T/after.sip" provider=wns prid="$(channel after001)" param=lync-win
pr_expect_status 202 "$T/after.sip" "MESSAGE after the refused channels"
pr_wait_for 60 sb_is delivered.wns $((before + 1)) || fail "the MESSAGE after the refused ones was not delivered"
assert_eq $((requests + 1)) "$(sb_stat requests)" "requests reaching the sandbox: only the marker's"
pr_wait_for 60 stat_at_least wns:queued $(( ${queued:-0} + 1 )) || fail "the marker was never counted queued"
assert_eq $(( ${queued:-0} + 1 )) "$(stat_total wns:queued)" "queued: only the marker"
pass "refused channels sent nothing"
