#!/usr/bin/env bash
# test_e2e_webpush.sh - Web Push end to end: sipp (through stunnel,
# presenting the edge's certificate) -> pushrelayd (listener and dispatcher)
# -> pushrelay-sandbox as a push service that hands out subscriptions and
# decrypts what is sent to them (RFC 8030, 8291, 8292).
#
#   * N notifications to N subscriptions are delivered exactly once each,
#     VAPID-signed and aes128gcm-encrypted; the sandbox's decryption gives
#     back the text, Korean + emoji intact;
#   * 429 is retried until delivered;
#   * an expired subscription (410) is recorded dead: the next MESSAGE gets 410;
#   * bad subscription keys are refused with 400 naming the field, an
#     endpoint outside allowed_hosts or over http with 403; nothing is sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

N=${PR_E2E_N:-3000}
TEXT="점심 먹을래요? 🍜"
e2e_boot webpush
# subscribe [MARKER]: a fresh subscription as "id endpoint-percent-encoded p256dh auth".
subscribe() {
    sandbox -X POST "$(sb_url "webpush/subscribe${1:+?marker=$1}")" | python3 -c '
import json, sys, urllib.parse
s = json.load(sys.stdin)
print(s["id"], urllib.parse.quote(s["endpoint"], safe=""), s["p256dh"], s["auth"])'
}
# webpush_msg FILE SUBSCRIPTION-LINE: a MESSAGE for that subscription.
webpush_msg() {
    local f=$1 id ep key auth
    read -r id ep key auth <<<"$2"
    pr_msg "$f" provider=webpush prid="$ep" param=lync-web \
        body="{\"event\":\"im\",\"title\":\"Alice Smith\",\"body\":\"hi\",\"webpush\":{\"p256dh\":\"$key\",\"auth\":\"$auth\"}}"
}

echo "== $N Web Push notifications, each delivered once and decrypted intact"
# One curl for all N subscriptions (one connection, one answer a line).
for _ in $(seq 1 "$N"); do sb_url webpush/subscribe; done >"$T/subscribe.urls"
xargs sh -c 'exec curl -sf --http2 --cacert "$0" -X POST -w "\n" "$@"' "$T/pki/ca.pem" <"$T/subscribe.urls" |
    python3 -c '
import json, sys, urllib.parse
text = sys.argv[1]
for i, line in enumerate(l for l in sys.stdin if l.strip()):
    s = json.loads(line)
    print("%s;web-%06d;contoso.com;webpush;lync-web;im;%s;%s;%s" % (
        urllib.parse.quote(s["endpoint"], safe=""), i + 1, text, s["p256dh"], s["auth"]))' "$TEXT" \
    >"$T/webpush.csv.rows" || fail "subscriptions"
{ echo SEQUENTIAL; cat "$T/webpush.csv.rows"; } >"$T/webpush.csv"
[ "$(wc -l <"$T/webpush.csv.rows")" = "$N" ] || fail "subscriptions made: $(wc -l <"$T/webpush.csv.rows") of $N"
export PR_SIPP_RATE=500 PR_SIPP_LIMIT=100
e2e_deliver_all webpush message_webpush "$T/webpush.csv" "Web Push"
python3 - "$T/sandbox.jsonl" "$N" "$TEXT" <<'PY' || fail "Web Push deliveries not as sent"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if r["provider"] == "webpush"]
n, text = int(sys.argv[2]), sys.argv[3]
toks = [r["token"] for r in recs]
assert len(toks) == n and len(set(toks)) == n, (len(toks), len(set(toks)))
for r in recs:
    h = r["headers"]
    assert h["content-encoding"] == "aes128gcm", h
    assert h["urgency"] == "high", h
    assert 0 < int(h["ttl"]) <= 60, h
    assert len(h["topic"]) >= 1, h
    plain = json.loads(r["body"])
    assert plain["title"] == "Alice Smith" and plain["body"] == text, plain
PY
pass "$N Web Push messages delivered once each, decrypted Korean + emoji text intact"
assert_eq 0 "$(pr_qsum XLEN dead)" "dead letters after the load"

echo "== 429: retried"
retried=$(stat_total webpush:retried)
before=$(sb_stat delivered.webpush)
webpush_msg "$T/busy.sip" "$(subscribe e4292)"
pr_expect_status 202 "$T/busy.sip" "MESSAGE for a busy push service"
pr_wait_for 60 sb_is delivered.webpush $((before + 1)) || fail "never delivered after 429s"
pr_wait_for 60 stat_at_least webpush:retried $(( ${retried:-0} + 2 )) ||
    fail "429 was not retried twice (webpush:retried $(stat_total webpush:retried), was ${retried:-0})"
pass "429 retried, then delivered"

echo "== expired subscription: 410, then 410 at ingest"
sub=$(subscribe)
sandbox -X POST "$(sb_url "webpush/expire/${sub%% *}")" >/dev/null || fail "expire the subscription"
webpush_msg "$T/dead.sip" "$sub"
pr_expect_status 202 "$T/dead.sip" "first MESSAGE for an expired subscription"
pr_wait_for 60 stat_is webpush:token_dead 1 || fail "subscription not recorded dead"
webpush_msg "$T/dead2.sip" "$sub"
pr_expect_status 410 "$T/dead2.sip" "next MESSAGE for the expired subscription"

echo "== refused at ingest: bad keys (400), foreign or http endpoints (403); nothing sent"
requests=$(sb_stat requests)
queued=$(stat_total webpush:queued)
read -r id ep key auth <<<"$(subscribe)"
pr_msg "$T/nokeys.sip" provider=webpush prid="$ep" param=lync-web
pr_expect_status 400 "$T/nokeys.sip" "MESSAGE without webpush keys"
[[ "$(pr_header "$RESP" Warning)" == *webpush* ]] || fail "400 Warning does not name webpush: $RESP"
webpush_msg "$T/badkey.sip" "$id $ep AAAA $auth"
pr_expect_status 400 "$T/badkey.sip" "MESSAGE with a p256dh that is no P-256 point"
[[ "$(pr_header "$RESP" Warning)" == *webpush.p256dh* ]] || fail "400 Warning does not name webpush.p256dh: $RESP"
webpush_msg "$T/badauth.sip" "$id $ep $key short"
pr_expect_status 400 "$T/badauth.sip" "MESSAGE with a short auth secret"
[[ "$(pr_header "$RESP" Warning)" == *webpush.auth* ]] || fail "400 Warning does not name webpush.auth: $RESP"
webpush_msg "$T/evil.sip" "$id https%3A%2F%2Fevil.example.com%2Fwpush%2F1 $key $auth"
pr_expect_status 403 "$T/evil.sip" "endpoint host outside allowed_hosts"
[[ "$(pr_header "$RESP" Warning)" == *allowed_hosts* ]] || fail "403 Warning does not name allowed_hosts: $RESP"
webpush_msg "$T/http.sip" "$id http%3A%2F%2F127.0.0.1%3A$SANDBOX_PORT%2Fwpush%2F$id $key $auth"
pr_expect_status 403 "$T/http.sip" "plain http endpoint"
# A marker MESSAGE after the refused ones: once it is delivered, anything
# they had caused would have reached the sandbox before it.
before=$(sb_stat delivered.webpush)
webpush_msg "$T/after.sip" "$id $ep $key $auth"
pr_expect_status 202 "$T/after.sip" "MESSAGE after the refused ones"
pr_wait_for 60 sb_is delivered.webpush $((before + 1)) || fail "the MESSAGE after the refused ones was not delivered"
assert_eq $((requests + 1)) "$(sb_stat requests)" "requests reaching the push service: only the marker's"
pr_wait_for 60 stat_at_least webpush:queued $(( ${queued:-0} + 1 )) || fail "the marker was never counted queued"
assert_eq $(( ${queued:-0} + 1 )) "$(stat_total webpush:queued)" "queued: only the marker"
pass "refused MESSAGEs sent nothing"

echo "== pushrelayctl test-push to a Web Push subscription"
read -r id ep key auth <<<"$(subscribe)"
endpoint=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$ep")
before=$(sb_stat delivered.webpush)
tp_args=(-c "$T/relay.conf" test-push --timeout 60 --domain contoso.com --provider webpush
         --token "$endpoint" --cert "$T/pki/edge-edge.contoso.com.pem" --key "$T/pki/edge-edge.contoso.com.key")
rc=0
"$PR_BIN/pushrelayctl" "${tp_args[@]}" --auth "$auth" >"$T/tp-nokey.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "test-push webpush without --p256dh: usage error"
grep -q -- "--p256dh and --auth" "$T/tp-nokey.out" || fail "usage error does not name the flags: $(cat "$T/tp-nokey.out")"
rc=0
"$PR_BIN/pushrelayctl" "${tp_args[@]}" --p256dh "$key" --auth "$auth" >"$T/tp.out" 2>&1 || rc=$?
assert_eq 0 "$rc" "test-push webpush exit code (delivered) [$(tr '\n' ' ' <"$T/tp.out")]"
assert_eq $((before + 1)) "$(sb_stat delivered.webpush)" "the sandbox decrypted test-push's toast"
