#!/usr/bin/env bash
# test_sandbox_ext.sh - pushrelay-sandbox's Web Push, WNS and HMS as a
# specification: what each accepts, what it answers, what it records, and
# how behaviour markers script it. Real clients only: curl over HTTP/2 and
# HTTPS/1.1; Web Push messages are encrypted and signed by the relay's own
# relay/ece.c and relay/vapid.c through tests/tools/sb_wpclient, and the
# sandbox must decrypt them back to the exact text.
. "$(dirname "$0")/lib.sh"

WPCLIENT="$PR_BIN/sb_wpclient"
# The sandbox picks its own ports (0) and reports them in a port file, so no
# other process on this busy machine can take them between choice and bind.
pr_gen_certs
REC="$T/sandbox.jsonl"
"$PR_BIN/pushrelay-sandbox" --listen 127.0.0.1:0 --mpns-listen 127.0.0.1:0 \
    --cert "$T/pki/server.pem" --key "$T/pki/server.key" --record "$REC" \
    --port-file "$T/ports" 2>"$T/sandbox.log" &
pr_track $!
pr_wait_for 60 test -s "$T/ports" || fail "the sandbox wrote no port file: $(cat "$T/sandbox.log")"
H2="https://127.0.0.1:$(sed -n 1p "$T/ports")"
H1="https://127.0.0.1:$(sed -n 2p "$T/ports")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/vapid.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.pem" 2>/dev/null

# req URL METHOD [curl args]: one request (HTTP/2 on the main port, 1.1 on
# the MPNS port); sets STATUS and BODY, headers in $T/hdrs.
req() {
    local url=$1 method=$2; shift 2
    local proto=--http2
    case $url in "$H1"*) proto=--http1.1 ;; esac
    STATUS=$(curl -s $proto --cacert "$T/pki/ca.pem" -X "$method" -D "$T/hdrs" -o "$T/body" \
        -w '%{http_code}' "$@" "$url" || true)
    BODY=$(cat "$T/body" 2>/dev/null || true)
}
hdr() { grep -i "^$1:" "$T/hdrs" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval("d"+sys.argv[2]))' "$1" "$2"; }
# recorded PROVIDER TOKEN: the bodies recorded for TOKEN, one a line.
recorded() {
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["provider"] == sys.argv[2] and r["token"] == sys.argv[3]: print(r["body"])' \
        "$REC" "$1" "$2" 2>/dev/null
}
nrecorded() { recorded "$@" | wc -l; }

# ---------------------------------------------------------------- Web Push
# subscribe [MARKER]: a fresh subscription; sets ID EP P256DH AUTH.
subscribe() {
    req "$H2/_sandbox/webpush/subscribe${1:+?marker=$1}" POST
    [ "$STATUS" = 200 ] || fail "subscribe: $STATUS $BODY"
    ID=$(jget "$BODY" '["id"]'); EP=$(jget "$BODY" '["endpoint"]')
    P256DH=$(jget "$BODY" '["p256dh"]'); AUTH=$(jget "$BODY" '["auth"]')
}
# wpush TEXT [sb_wpclient options] -- [curl args]: encrypt and sign TEXT for
# the current subscription, POST it with TTL and Content-Encoding (TTL_HDR
# and CE_HDR replace those: curl would send both copies; curl args after --
# add headers).
wpush() {
    local text=$1; shift
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    local vauth
    # "--": a base64url key or id may start with '-', which getopt would take for an option.
    vauth=$("$WPCLIENT" "${opts[@]}" -- "$EP" "$P256DH" "$AUTH" "$T/vapid.pem" \
        mailto:ops@example.net "$text" "$T/wp.bin") || fail "sb_wpclient failed"
    req "$EP" POST -H "authorization: $vauth" -H "${CE_HDR-content-encoding: aes128gcm}" \
        -H "${TTL_HDR-ttl: 60}" --data-binary @"$T/wp.bin" "$@"
}

echo "== Web Push: a subscription is an endpoint on this sandbox with P-256 and auth keys"
subscribe
case $EP in "$H2/wpush/$ID") pass "endpoint $EP" ;; *) fail "endpoint $EP" ;; esac
assert_eq 87 "${#P256DH}" "p256dh length (65 bytes base64url)"
assert_eq 22 "${#AUTH}" "auth length (16 bytes base64url)"

echo "== Web Push: a signed, encrypted message is 201 Created and recorded decrypted"
TEXT='{"title":"김민수","body":"会議は12時 🎉","pr":{"id":"wp-1"}}'
wpush "$TEXT" -- -H 'urgency: high' -H 'topic: conv-42'
assert_eq 201 "$STATUS" "webpush status"
case $(hdr location) in "$H2/wpush-msg/"*) pass "Location $(hdr location)" ;;
    *) fail "no Location: $(cat "$T/hdrs")" ;; esac
pr_wait_for 60 test "$(nrecorded webpush "$ID")" -ge 1 || fail "webpush delivery not recorded"
assert_eq "$TEXT" "$(recorded webpush "$ID")" "recorded plaintext"
grep -q "\"authorization\":\"<redacted>\"" "$REC" || fail "authorization not redacted in the record"

echo "== Web Push: RFC 8030 headers are checked (400)"
TTL_HDR='x-no-ttl: 1' wpush "x"
assert_eq 400 "$STATUS" "without TTL"
wpush "x" -- -H 'urgency: urgent'
assert_eq 400 "$STATUS" "Urgency not in RFC 8030's four"
wpush "x" -- -H 'topic: 0123456789012345678901234567890123'
assert_eq 400 "$STATUS" "Topic over 32 characters"
CE_HDR='content-encoding: aesgcm' wpush "x"
assert_eq 400 "$STATUS" "Content-Encoding not aes128gcm"

echo "== Web Push: VAPID is checked (401 absent or expired, 403 invalid)"
req "$EP" POST -H 'content-encoding: aes128gcm' -H 'ttl: 60' --data-binary @"$T/wp.bin"
assert_eq 401 "$STATUS" "no Authorization"
wpush "x" --clock-offset -50000
assert_eq 401 "$STATUS" "JWT expired"
wpush "x" --clock-offset 50000
assert_eq 403 "$STATUS" "JWT exp more than 24 h ahead"
wpush "x" --sign-for https://push.example.net/wpush/x
assert_eq 403 "$STATUS" "aud not the endpoint's origin"
wpush "x" --k-from "$T/other.pem"
assert_eq 403 "$STATUS" "k not the signer's key"

echo "== Web Push: a body that does not decrypt is 400, one over 4096 bytes 413"
"$WPCLIENT" -- "$EP" "$P256DH" "$AUTH" "$T/vapid.pem" mailto:ops@example.net "tamper" "$T/wp.bin" \
    >"$T/vauth" || fail "sb_wpclient failed"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-1]^=1; open(sys.argv[1],"wb").write(b)' "$T/wp.bin"
req "$EP" POST -H "authorization: $(cat "$T/vauth")" -H 'content-encoding: aes128gcm' -H 'ttl: 60' \
    --data-binary @"$T/wp.bin"
assert_eq 400 "$STATUS" "altered body"
FIRST_EP=$EP
subscribe    # a second subscription: the message below is encrypted for its keys
EP=$FIRST_EP
wpush "for someone else"
assert_eq 400 "$STATUS" "body encrypted for another subscription"
head -c 5000 /dev/zero >"$T/big.bin"
req "$EP" POST -H "authorization: $(cat "$T/vauth")" -H 'content-encoding: aes128gcm' -H 'ttl: 60' \
    --data-binary @"$T/big.bin"
assert_eq 413 "$STATUS" "body over 4096 bytes"

echo "== Web Push: unknown subscription 404, expired 410"
req "$H2/wpush/snosuchsubscription" POST -H 'ttl: 60' --data-binary x
assert_eq 404 "$STATUS" "unknown subscription"
subscribe
req "$H2/_sandbox/webpush/expire/$ID" POST
assert_eq 200 "$STATUS" "expire control"
wpush "late"
assert_eq 410 "$STATUS" "expired subscription"

echo "== Web Push: markers in the subscription id script the answers"
subscribe e4291
MARKED=$ID
case $ID in e4291s*) pass "marked id $ID" ;; *) fail "marker not at the start: $ID" ;; esac
wpush "first"
assert_eq "429 1" "$STATUS $(hdr retry-after)" "e4291: 429 with Retry-After first"
wpush "second"
assert_eq 201 "$STATUS" "e4291: then 201"
subscribe e4100
wpush "gone"
assert_eq 410 "$STATUS" "e4100: always 410"
subscribe d0050
wpush "later, still decrypted"
assert_eq 201 "$STATUS" "d0050: success after a delay"
pr_wait_for 60 test "$(nrecorded webpush "$ID")" -ge 1 || fail "delayed webpush delivery not recorded"
assert_eq "later, still decrypted" "$(recorded webpush "$ID")" "a delayed delivery is recorded decrypted"
req "$H2/_sandbox/webpush/subscribe?marker=E4/" POST
assert_eq 400 "$STATUS" "a marker that is not letters and digits"
pr_wait_for 60 test "$(nrecorded webpush "$MARKED")" -ge 1 || fail "marked delivery not recorded"
assert_eq 1 "$(nrecorded webpush "$MARKED")" "the marked subscription recorded once (not its 429)"

# ---------------------------------------------------------------- WNS
WNS_SID='ms-app://s-1-15-2-1234'
# wns_token: a WNS access token into WNS_TOKEN.
wns_token() {
    req "$H1/accesstoken.srf" POST --data-urlencode grant_type=client_credentials \
        --data-urlencode "client_id=$WNS_SID" --data-urlencode client_secret=s3cret \
        --data-urlencode scope=notify.windows.com
    [ "$STATUS" = 200 ] || fail "WNS token: $STATUS $BODY"
    WNS_TOKEN=$(jget "$BODY" '["access_token"]')
}
TOAST='<toast><visual><binding template="ToastGeneric"><text>Alice</text><text>Lunch?</text></binding></visual></toast>'
# wns CHANNEL-PATH [curl args]: a toast with the current token (WNS_TYPE and
# WNS_BODY replace the X-WNS-Type and the body).
wns() {
    local path=$1; shift
    req "$H1$path" POST -H "authorization: Bearer $WNS_TOKEN" -H "x-wns-type: ${WNS_TYPE:-wns/toast}" \
        -H 'content-type: text/xml' --data-binary "${WNS_BODY:-$TOAST}" "$@"
}

echo "== WNS: the token endpoint takes client credentials with scope notify.windows.com"
wns_token
assert_eq "bearer 3600" "$(jget "$BODY" '["token_type"]') $(jget "$BODY" '["expires_in"]')" "token answer"
req "$H1/accesstoken.srf" POST --data "grant_type=client_credentials&client_id=x&client_secret=y"
assert_eq "400 invalid_scope" "$STATUS $(jget "$BODY" '["error"]')" "scope missing"
req "$H1/accesstoken.srf" POST --data "grant_type=client_credentials&client_id=x&scope=notify.windows.com"
assert_eq "400 invalid_client" "$STATUS $(jget "$BODY" '["error"]')" "secret missing"

echo "== WNS: a toast is 200, with X-WNS-Status only when asked for, and recorded"
wns /wns/chan-1 -H 'x-wns-requestforstatus: true' -H 'x-wns-ttl: 60' -H 'x-wns-tag: conv-42'
assert_eq "200 received connected" "$STATUS $(hdr x-wns-status) $(hdr x-wns-deviceconnectionstatus)" \
    "toast with RequestForStatus"
[ -n "$(hdr x-wns-msg-id)" ] || fail "no X-WNS-Msg-ID"
wns /wns/chan-1
assert_eq "200 " "$STATUS $(hdr x-wns-status)" "toast without RequestForStatus"
pr_wait_for 60 test "$(nrecorded wns chan-1)" -ge 2 || fail "WNS deliveries not recorded"
case $(recorded wns chan-1) in *"$TOAST"*) pass "WNS record holds the toast" ;;
    *) fail "WNS record lacks the toast" ;; esac

echo "== WNS: refusals"
WNS_TOKEN_SAVED=$WNS_TOKEN
WNS_TOKEN=EwBnotissued
wns /wns/chan-1
assert_eq 401 "$STATUS" "a token not issued here"
WNS_TOKEN=$WNS_TOKEN_SAVED
WNS_TYPE=wns/tile wns /wns/chan-1
assert_eq 400 "$STATUS" "X-WNS-Type not wns/toast"
wns /wns/chan-1 -H 'x-wns-ttl: 1h'
assert_eq 400 "$STATUS" "X-WNS-TTL not seconds"
wns /wns/chan-1 -H "x-wns-tag: $(printf '%065d' 0)"
assert_eq 400 "$STATUS" "X-WNS-Tag over 64 characters"
WNS_BODY=$(head -c 6000 /dev/zero | tr '\0' a) wns /wns/chan-1
assert_eq 413 "$STATUS" "toast over 5 KB"

echo "== WNS: markers in the channel (path segment or ?token=)"
wns /wns/e4100chan -H 'x-wns-requestforstatus: true'
assert_eq "410 dropped" "$STATUS $(hdr x-wns-status)" "e4100: channel expired"
wns /wns/e4060chan -H 'x-wns-requestforstatus: true'
assert_eq "406 channelthrottled" "$STATUS $(hdr x-wns-status)" "e4060: throttled"
wns '/wns/?token=e4040AwYAAAB'
assert_eq 404 "$STATUS" "e4040 in a ?token= channel URI"

# ---------------------------------------------------------------- HMS
HMS_APP=101234567
# hms_token [BASE]: an HMS access token into HMS_TOKEN.
hms_token() {
    req "${1:-$H2}/oauth2/v3/token" POST --data-urlencode grant_type=client_credentials \
        --data-urlencode "client_id=$HMS_APP" --data-urlencode client_secret=s3cret
    [ "$STATUS" = 200 ] || fail "HMS token: $STATUS $BODY"
    HMS_TOKEN=$(jget "$BODY" '["access_token"]')
}
hms_msg() {
    printf '{"validate_only":false,"message":{"android":{"urgency":"HIGH","notification":{"title":"Alice","body":"Lunch?","click_action":{"type":3}}},"token":["%s"]}}' "$1"
}
# hms DEVICE-TOKEN [BASE] [curl args]: a message with the current access token.
hms() {
    local dev=$1 base=${2:-$H2}; shift; [ $# -gt 0 ] && shift
    req "$base/v1/$HMS_APP/messages:send" POST -H "authorization: Bearer $HMS_TOKEN" \
        -H 'content-type: application/json' --data-binary "${HMS_BODY:-$(hms_msg "$dev")}" "$@"
}

echo "== HMS: the token endpoint takes client credentials"
hms_token
assert_eq "Bearer 3600" "$(jget "$BODY" '["token_type"]') $(jget "$BODY" '["expires_in"]')" "token answer"
req "$H2/oauth2/v3/token" POST --data "grant_type=client_credentials&client_id=$HMS_APP"
assert_eq 400 "$STATUS" "secret missing"

echo "== HMS: a message is 200 80000000 and recorded, on either listener"
hms hmsdev1
assert_eq "200 80000000 Success" "$STATUS $(jget "$BODY" '["code"]') $(jget "$BODY" '["msg"]')" "send"
hms_token "$H1"
hms hmsdev1 "$H1"
assert_eq "200 80000000" "$STATUS $(jget "$BODY" '["code"]')" "send over HTTPS/1.1"
pr_wait_for 60 test "$(nrecorded hms hmsdev1)" -ge 2 || fail "HMS deliveries not recorded"

echo "== HMS: result codes"
hms e4000dev
assert_eq "400 80300007" "$STATUS $(jget "$BODY" '["code"]')" "e4000: invalid token"
hms e5001dev
assert_eq "500 81000001 1" "$STATUS $(jget "$BODY" '["code"]') $(hdr retry-after)" "e5001: internal error first"
hms e5001dev
assert_eq "200 80000000" "$STATUS $(jget "$BODY" '["code"]')" "e5001: then success"
HMS_BODY=$(python3 -c 'import sys; print("{\"message\":{\"token\":[\"big\"],\"android\":{\"notification\":{\"body\":\"" + "a"*5000 + "\"}}}}")') hms big
assert_eq "413 80300008" "$STATUS $(jget "$BODY" '["code"]')" "body over 4 KB"
HMS_BODY='{"message":{"token":[]}}' hms none
assert_eq "400 80100001" "$STATUS $(jget "$BODY" '["code"]')" "no token in the message"
HMS_BODY='{"message":{"token":["x"],"android":{"notification":{"title":"no body"}}}}' hms x
assert_eq "400 80100001" "$STATUS $(jget "$BODY" '["code"]')" "a notification without a body"
HMS_SAVED=$HMS_TOKEN; HMS_TOKEN=$WNS_TOKEN
hms hmsdev1
assert_eq "401 80200003" "$STATUS $(jget "$BODY" '["code"]')" "a WNS token at HMS"
HMS_TOKEN=$HMS_SAVED

echo "== expire-tokens and oauth-down reach the WNS and HMS token endpoints"
req "$H2/_sandbox/expire-tokens" POST
assert_eq 200 "$STATUS" "expire-tokens"
wns /wns/chan-2
assert_eq 401 "$STATUS" "WNS token expired"
hms hmsdev2
assert_eq "401 80200003" "$STATUS $(jget "$BODY" '["code"]')" "HMS token expired"
req "$H2/_sandbox/oauth-down?seconds=600" POST
req "$H1/accesstoken.srf" POST --data "grant_type=client_credentials&client_id=x&client_secret=y&scope=notify.windows.com"
assert_eq "503 1" "$STATUS $(hdr retry-after)" "WNS token endpoint down"
req "$H2/oauth2/v3/token" POST --data "grant_type=client_credentials&client_id=x&client_secret=y"
assert_eq 503 "$STATUS" "HMS token endpoint down"
req "$H2/_sandbox/oauth-down?seconds=0" POST
wns_token
hms_token
wns /wns/chan-2
assert_eq 200 "$STATUS" "WNS with a fresh token"
hms hmsdev2
assert_eq 200 "$STATUS" "HMS with a fresh token"

echo "== stats count what was delivered, provider by provider"
req "$H2/_sandbox/stats" GET
assert_eq "3 3 4" "$(jget "$BODY" '["delivered"]["webpush"]') $(jget "$BODY" '["delivered"]["wns"]') $(jget "$BODY" '["delivered"]["hms"]')" \
    "delivered webpush, wns, hms"
pr_wait_for 60 test "$(grep -c '"provider":"hms"' "$REC")" -ge 4 || fail "HMS records"
assert_eq "3 3 4" "$(grep -c '"provider":"webpush"' "$REC") $(grep -c '"provider":"wns"' "$REC") $(grep -c '"provider":"hms"' "$REC")" \
    "records per provider"
echo "PASS"
