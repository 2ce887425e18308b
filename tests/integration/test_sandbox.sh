#!/usr/bin/env bash
# test_sandbox.sh - pushrelay-sandbox as a specification: what each fake
# provider accepts, what it answers, what it records, and how the scripted
# device-token behaviours misbehave. Real clients only: curl (HTTP/2 and
# HTTPS/1.1), h2load; JWTs minted by tests/tools/sb_mkjwt (OpenSSL directly).
. "$(dirname "$0")/lib.sh"

MKJWT="$PR_BIN/sb_mkjwt"
TEAM=TEAM123456
KID=KEY1234567
EMAIL=relay@demo-project.iam.gserviceaccount.com
TOKEN_URI=https://oauth2.googleapis.com/token
SCOPE=https://www.googleapis.com/auth/firebase.messaging

pr_gen_certs
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/apns.p8" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.p8" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/sa.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other-sa.key" 2>/dev/null
mk_sa() {  # mk_sa KEYFILE OUT.json
    python3 "$PR_SRC/tests/tools/fcm_service_account.py" "$1" demo-project "$TOKEN_URI" "$2" --email "$EMAIL"
}
mk_sa "$T/sa.key" "$T/sa.json"
mk_sa "$T/other-sa.key" "$T/other-sa.json"

# start_sandbox NAME [flags...]: starts a sandbox on ports the kernel picks; sets PORT, MPNS_PORT, SB_PID.
start_sandbox() {
    local name=$1; shift
    pr_run_sandbox "$name" 0 0 "$@"
    PORT=$SANDBOX_PORT
    SB_PID=$SANDBOX_PID
}

start_sandbox sandbox --apns-key "$T/apns.p8" --apns-team "$TEAM" --apns-key-id "$KID" \
    --fcm-service-account "$T/sa.json" --record "$T/record.jsonl"
MAIN_PID=$SB_PID
MAIN_PORT=$PORT
MAIN_MPNS=$MPNS_PORT
NOW=$(date +%s)
JWT=$("$MKJWT" ES256 "$T/apns.p8" "$KID" "{\"iss\":\"$TEAM\",\"iat\":$NOW}")

# h2 METHOD PATH [curl args]: one HTTP/2 request; sets STATUS, BODY, HDRS (file), TIME.
h2() {
    local method=$1 path=$2; shift 2
    local out
    out=$(curl -s --http2 --cacert "$T/pki/ca.pem" -X "$method" -D "$T/hdrs" -o "$T/body" \
        -w '%{http_code} %{http_version} %{time_total}' "$@" "https://127.0.0.1:$PORT$path" || true)
    STATUS=${out%% *}
    TIME=${out##* }
    BODY=$(cat "$T/body" 2>/dev/null || true)
    [ "$STATUS" = 000 ] || [ "$(echo "$out" | cut -d' ' -f2)" = 2 ] || fail "not HTTP/2: $out"
}
hdr() { grep -i "^$1:" "$T/hdrs" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

APNS_BODY='{"aps":{"alert":{"title":"Missed call","body":"Alice"}},"pr":{"id":"n-1"}}'
# apns TOKEN [curl args]: a well-formed push with the current provider token
# (PUSH_TYPE, PRIORITY and DATA override those: curl would send both copies,
# and join two bodies with '&').
apns() {
    local token=$1; shift
    h2 POST "/3/device/$token" -H "authorization: bearer $JWT" -H 'apns-topic: com.example.voip' \
        -H "apns-push-type: ${PUSH_TYPE:-alert}" -H "apns-priority: ${PRIORITY:-10}" \
        --data-binary "${DATA:-$APNS_BODY}" "$@"
}
records() { wc -l <"$T/record.jsonl" 2>/dev/null || echo 0; }
# main_stat FIELD: a number from the main sandbox's /_sandbox/stats ("held",
# "delayed", "requests", "delivered.apns", or "delivered" for all providers).
main_stat() {
    curl -sS --http2 --cacert "$T/pki/ca.pem" "https://127.0.0.1:$MAIN_PORT/_sandbox/stats" |
        python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(sum(v.values()) if isinstance(v, dict) else v)' "$1"
}
# sync_record: waits until the record file holds every delivery the main
# sandbox counted (lines are written in batches), instead of sleeping.
record_synced() { [ "$(records)" = "$(main_stat delivered)" ]; }
sync_record() { pr_wait_for 60 record_synced || fail "record has $(records) lines, sandbox counted $(main_stat delivered)"; }
main_is() { [ "$(main_stat "$1")" = "$2" ]; }
UUID_RE='^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$'

echo "== APNs: a valid push is delivered, answered with an apns-id and recorded"
DEV=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90
apns "$DEV"
assert_eq 200 "$STATUS" "valid push status"
[[ "$(hdr apns-id)" =~ $UUID_RE ]] || fail "apns-id '$(hdr apns-id)' is not a UUID"
pass "apns-id is a generated UUID"
sync_record
LINE=$(tail -n 1 "$T/record.jsonl")
assert_eq apns "$(jget "$LINE" '["provider"]')" "record provider"
assert_eq "$DEV" "$(jget "$LINE" '["token"]')" "record token"
assert_eq "/3/device/$DEV" "$(jget "$LINE" '["path"]')" "record path"
assert_eq "$APNS_BODY" "$(jget "$LINE" '["body"]')" "record body is the exact request body"
assert_eq "<redacted>" "$(jget "$LINE" '["headers"]["authorization"]')" "record redacts authorization"
assert_eq com.example.voip "$(jget "$LINE" '["headers"]["apns-topic"]')" "record keeps apns-topic"

echo "== APNs: a client apns-id is echoed"
apns "$DEV" -H 'apns-id: 123e4567-e89b-12d3-a456-426614174000'
assert_eq 123e4567-e89b-12d3-a456-426614174000 "$(hdr apns-id)" "echoed apns-id"

echo "== APNs: provider token checks"
h2 POST "/3/device/$DEV" -H 'apns-topic: t' -H 'apns-push-type: alert' --data-binary "$APNS_BODY"
assert_eq "403 MissingProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "no authorization"
[[ "$(hdr apns-id)" =~ $UUID_RE ]] || fail "error answer without apns-id"
pass "errors carry an apns-id"
apns_with_jwt() { local save=$JWT; JWT=$1; apns "$DEV"; JWT=$save; }
apns_with_jwt "$("$MKJWT" ES256 "$T/other.p8" "$KID" "{\"iss\":\"$TEAM\",\"iat\":$NOW}")"
assert_eq "403 InvalidProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "token signed by another key"
apns_with_jwt "$("$MKJWT" ES256 "$T/apns.p8" OTHERKID99 "{\"iss\":\"$TEAM\",\"iat\":$NOW}")"
assert_eq "403 InvalidProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "token with another kid"
apns_with_jwt "$("$MKJWT" ES256 "$T/apns.p8" "$KID" "{\"iss\":\"OTHERTEAM1\",\"iat\":$NOW}")"
assert_eq "403 InvalidProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "token for another team"
apns_with_jwt "$("$MKJWT" RS256 "$T/sa.key" "$KID" "{\"iss\":\"$TEAM\",\"iat\":$NOW}")"
assert_eq "403 InvalidProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "RS256 token"
apns_with_jwt "$("$MKJWT" ES256 "$T/apns.p8" "$KID" "{\"iss\":\"$TEAM\",\"iat\":$((NOW - 3700))}")"
assert_eq "403 ExpiredProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "token older than an hour"
apns_with_jwt "$("$MKJWT" ES256 "$T/apns.p8" "$KID" "{\"iss\":\"$TEAM\",\"iat\":$((NOW + 600))}")"
assert_eq "403 ExpiredProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "token from the future"
apns_with_jwt "not.a.jwt"
assert_eq "403 InvalidProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "garbage token"

echo "== APNs: header and payload checks"
h2 POST "/3/device/$DEV" -H "authorization: bearer $JWT" -H 'apns-push-type: alert' --data-binary "$APNS_BODY"
assert_eq "400 MissingTopic" "$STATUS $(jget "$BODY" '["reason"]')" "no apns-topic"
PUSH_TYPE=telepathy apns "$DEV"
assert_eq "400 InvalidPushType" "$STATUS $(jget "$BODY" '["reason"]')" "unknown push type"
PRIORITY=7 apns "$DEV"
assert_eq "400 BadPriority" "$STATUS $(jget "$BODY" '["reason"]')" "priority 7"
apns "$DEV" -H 'apns-topic: com.example.other'
assert_eq "400 DuplicateHeaders" "$STATUS $(jget "$BODY" '["reason"]')" "two apns-topic headers"
apns "$DEV" -H 'apns-expiration: tomorrow'
assert_eq "400 BadExpirationDate" "$STATUS $(jget "$BODY" '["reason"]')" "non-numeric expiration"
apns "$DEV" -H 'apns-expiration: 0'
assert_eq 200 "$STATUS" "expiration 0"
apns "$DEV" -H 'apns-id: not-a-uuid'
assert_eq "400 BadMessageId" "$STATUS $(jget "$BODY" '["reason"]')" "bad apns-id"
apns "nothex-token"
assert_eq "400 BadDeviceToken" "$STATUS $(jget "$BODY" '["reason"]')" "non-hex device token"
# bad_payload DATA WHAT: the sandbox answers 400 BadPayload to APNs body DATA.
bad_payload() {
    DATA=$1 apns "$DEV"
    assert_eq "400 BadPayload" "$STATUS $(jget "$BODY" '["reason"]')" "$2"
}
bad_payload '{"aps":' "truncated JSON"
bad_payload '{"alert":"no aps"}' "JSON without aps"
bad_payload '{"x":{"aps":{}}}' "aps only nested deeper"
bad_payload '{"aps":"alert"}' "aps not an object"
bad_payload '{"aps":{}} trailing' "trailing garbage"
bad_payload '{"aps":{"alert":"a\qb"}}' "bad escape"
UNI='{ "aps" : {"alert":{"title":"Caf\u00e9 \"x\"","body":"Zoë ☎ 😀"},"badge":1,"sound":null,
  "content-available":true,"mutable-content":false}, "pr":[1,-2.5e3,{"k":[]}] }'
DATA=$UNI apns "$DEV"
assert_eq 200 "$STATUS" "payload with escapes, UTF-8, numbers, literals, whitespace"
sync_record
assert_eq "$UNI" "$(jget "$(tail -n 1 "$T/record.jsonl")" '["body"]')" "record keeps a UTF-8 body exactly"
big() { python3 -c 'import sys; n=int(sys.argv[1]); s="{\"aps\":{\"alert\":\"\"}}"; print("{\"aps\":{\"alert\":\"" + "x"*(n-len(s)) + "\"}}", end="")' "$1"; }
big 4096 >"$T/p4096"; big 4097 >"$T/p4097"; big 5120 >"$T/p5120"; big 5121 >"$T/p5121"
DATA=@"$T/p4096" apns "$DEV"
assert_eq 200 "$STATUS" "4096-byte alert payload"
DATA=@"$T/p4097" apns "$DEV"
assert_eq "413 PayloadTooLarge" "$STATUS $(jget "$BODY" '["reason"]')" "4097-byte alert payload"
PUSH_TYPE=voip DATA=@"$T/p5120" apns "$DEV"
assert_eq 200 "$STATUS" "5120-byte voip payload"
PUSH_TYPE=voip DATA=@"$T/p5121" apns "$DEV"
assert_eq "413 PayloadTooLarge" "$STATUS $(jget "$BODY" '["reason"]')" "5121-byte voip payload"
h2 GET "/3/device/$DEV" -H "authorization: bearer $JWT"
assert_eq "405 MethodNotAllowed" "$STATUS $(jget "$BODY" '["reason"]')" "GET"

echo "== APNs behaviours"
BEFORE=$(records)
apns e5032aa; assert_eq "503 ServiceUnavailable 1" "$STATUS $(jget "$BODY" '["reason"]') $(hdr retry-after)" "e5032 attempt 1"
apns e5032aa; assert_eq 503 "$STATUS" "e5032 attempt 2"
apns e5032aa; assert_eq 200 "$STATUS" "e5032 attempt 3 succeeds"
for i in 1 2 3; do
    apns e4100bb
    assert_eq "410 Unregistered" "$STATUS $(jget "$BODY" '["reason"]')" "e4100 attempt $i"
done
TS=$(jget "$BODY" '["timestamp"]')
[ "$TS" -ge $((NOW * 1000)) ] || fail "410 timestamp $TS is not in ms"
pass "410 carries a timestamp in ms"
apns e4291cc; assert_eq "429 TooManyRequests 1" "$STATUS $(jget "$BODY" '["reason"]') $(hdr retry-after)" "e4291"
apns e4291cc; assert_eq 200 "$STATUS" "e4291 then success"
apns e4000dd; assert_eq "400 BadDeviceToken" "$STATUS $(jget "$BODY" '["reason"]')" "e4000"
apns e4030dd; assert_eq "403 InvalidProviderToken" "$STATUS $(jget "$BODY" '["reason"]')" "e4030"
apns d0200ee
assert_eq 200 "$STATUS" "d0200 succeeds"
python3 -c "import sys; sys.exit(0 if float('$TIME') >= 0.2 else 1)" || fail "d0200 answered in ${TIME}s"
pass "d0200 took ${TIME}s"
apns c1ff
assert_eq 000 "$STATUS" "c1: first attempt gets no answer (connection reset)"
apns c1ff
assert_eq 200 "$STATUS" "c1: second attempt succeeds"
sync_record
# successes only: e5032, e4291, d0200, c1 -> 4 lines
assert_eq 4 $(( $(records) - BEFORE )) "only successful behaviour attempts are recorded"

echo "== APNs: delays do not block other requests"
# The slow request is sent first and waits on its timer (stats "delayed");
# the fast one must then be answered and recorded before the slow one is.
# (h2 writes the answer into its own file: both run at once.)
apns_bg() { curl -s --http2 --cacert "$T/pki/ca.pem" -o /dev/null -w '%{http_code}' \
    -H "authorization: bearer $JWT" -H 'apns-topic: com.example.voip' -H 'apns-push-type: alert' \
    --data-binary "$APNS_BODY" "https://127.0.0.1:$PORT/3/device/$1" >"$T/slow.status"; }
apns_bg d5000aa & SLOW=$!
pr_wait_for 60 main_is delayed 1 || fail "the d5000 request never reached its timer"
apns "$DEV"
assert_eq 200 "$STATUS" "request beside a d5000"
wait $SLOW
assert_eq 200 "$(cat "$T/slow.status")" "the d5000 request"
sync_record
assert_eq "d5000aa" "$(jget "$(tail -n 1 "$T/record.jsonl")" '["token"]')" "the delayed delivery is recorded last"
pass "a delayed answer does not hold up the requests after it"

echo "== APNs: a delayed answer the client gave up on is not a delivery"
BEFORE=$(records)
apns d9999ab --max-time 1
assert_eq 000 "$STATUS" "client gives up before d9999 answers"
# "delayed" back to 0: the answer was either dropped with its stream or sent
pr_wait_for 60 main_is delayed 0 || fail "the abandoned d9999 answer is still waiting"
sync_record
assert_eq "$BEFORE" "$(records)" "nothing recorded for it"

echo "== hold gate: answers kept back until release, dropped when the client leaves"
h2 POST '/_sandbox/hold?after=1'
assert_eq "200 1" "$STATUS $(jget "$BODY" '["hold_after"]')" "hold?after=1"
BEFORE=$(records)
apns "$DEV"
assert_eq 200 "$STATUS" "the delivery before the gate closes is answered"
apns_bg "$DEV" & HELD=$!
pr_wait_for 60 main_is held 1 || fail "the second delivery was not held"
kill -0 "$HELD" 2>/dev/null || fail "a held delivery was answered"
sync_record
assert_eq $((BEFORE + 1)) "$(records)" "a held delivery is not recorded"
REQS=$(main_stat requests)
apns "$DEV" --max-time 1
assert_eq 000 "$STATUS" "a client that gives up on a held answer"
pr_wait_for 60 main_is requests $((REQS + 1)) || fail "the abandoned request never reached the sandbox"
pr_wait_for 60 main_is held 1 || fail "the abandoned held answer was not dropped"
h2 POST /_sandbox/release
assert_eq "200 1" "$STATUS $(jget "$BODY" '["released"]')" "release answers what is still held"
wait $HELD
assert_eq 200 "$(cat "$T/slow.status")" "the held request, after release"
sync_record
assert_eq $((BEFORE + 2)) "$(records)" "released delivery recorded, abandoned one not"
apns "$DEV"
assert_eq 200 "$STATUS" "after release the gate is open"
h2 POST /_sandbox/hold
assert_eq 400 "$STATUS" "hold without after=N"

echo "== OAuth token endpoint"
assertion() {  # assertion KEY [claims overrides as python dict literal]
    local iat=$(date +%s)
    local claims
    claims=$(python3 -c 'import json,sys; c={"iss":sys.argv[1],"scope":sys.argv[2],"aud":sys.argv[3],
        "iat":int(sys.argv[4]),"exp":int(sys.argv[4])+3600}; c.update(eval(sys.argv[5])); print(json.dumps(c))' \
        "$EMAIL" "$SCOPE" "$TOKEN_URI" "$iat" "${2:-{\}}")
    "$MKJWT" RS256 "$1" k1 "$claims"
}
grant() {
    h2 POST /token -H 'content-type: application/x-www-form-urlencoded' \
        --data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer' \
        --data-urlencode "assertion=$1"
}
grant "$(assertion "$T/sa.json")"
assert_eq 200 "$STATUS" "valid assertion"
ACCESS=$(jget "$BODY" '["access_token"]')
[[ "$ACCESS" == ya29.sandbox-* ]] || fail "access token '$ACCESS'"
assert_eq "3600 Bearer" "$(jget "$BODY" '["expires_in"]') $(jget "$BODY" '["token_type"]')" "token lifetime and type"
grant "$(assertion "$T/other-sa.json")"
assert_eq "400 invalid_grant" "$STATUS $(jget "$BODY" '["error"]')" "assertion signed by another key"
grant "$(assertion "$T/sa.json" '{"iss":"mallory@example.com"}')"
assert_eq "400 invalid_grant" "$STATUS $(jget "$BODY" '["error"]')" "assertion for another account"
grant "$(assertion "$T/sa.json" '{"scope":"https://www.googleapis.com/auth/cloud-platform.read-only"}')"
assert_eq "400 invalid_grant" "$STATUS $(jget "$BODY" '["error"]')" "assertion without the messaging scope"
grant "$(assertion "$T/sa.json" '{"aud":"https://evil.example.com/oauth"}')"
assert_eq "400 invalid_grant" "$STATUS $(jget "$BODY" '["error"]')" "assertion for another audience"
grant "$(assertion "$T/sa.json" '{"aud":"https://127.0.0.1:1234/token"}')"
assert_eq 200 "$STATUS" "assertion whose aud is the sandbox's /token"
grant "$(assertion "$T/sa.json" "{\"exp\":$(( $(date +%s) - 10 ))}")"
assert_eq "400 invalid_grant" "$STATUS $(jget "$BODY" '["error"]')" "expired assertion"
h2 POST /token --data-urlencode 'grant_type=password' --data-urlencode "assertion=x"
assert_eq "400 unsupported_grant_type" "$STATUS $(jget "$BODY" '["error"]')" "other grant type"

echo "== FCM"
FCM_PATH=/v1/projects/demo-project/messages:send
fcm() {  # fcm TOKEN [curl args]
    local token=$1; shift
    local data="{\"message\":{\"token\":\"$token\",\"data\":{\"event\":\"im\"}}}"
    h2 POST "$FCM_PATH" -H "authorization: Bearer $ACCESS" -H 'content-type: application/json' \
        --data-binary "$data" "$@"
}
fcm fcm-device-1
assert_eq 200 "$STATUS" "FCM send"
[[ "$(jget "$BODY" '["name"]')" == projects/demo-project/messages/* ]] || fail "name '$BODY'"
pass "FCM answers the message name"
sync_record
LINE=$(tail -n 1 "$T/record.jsonl")
assert_eq "fcm fcm-device-1" "$(jget "$LINE" '["provider"]') $(jget "$LINE" '["token"]')" "FCM record"
h2 POST "$FCM_PATH" --data-binary '{"message":{"token":"x"}}'
assert_eq "401 UNAUTHENTICATED" "$STATUS $(jget "$BODY" '["error"]["status"]')" "FCM without a token"
ACCESS=ya29.forged fcm fcm-device-1
assert_eq 401 "$STATUS" "FCM with a token not issued here"
h2 POST "$FCM_PATH" -H "authorization: Bearer $ACCESS" --data-binary '{"message":{"topic":"x"}}'
assert_eq "400 INVALID_ARGUMENT" "$STATUS $(jget "$BODY" '["error"]["status"]')" "FCM without message.token"
h2 POST "$FCM_PATH" -H "authorization: Bearer $ACCESS" --data-binary '{"message":{"token":"abc"}'
assert_eq "400 INVALID_ARGUMENT" "$STATUS $(jget "$BODY" '["error"]["status"]')" "FCM with truncated JSON"
h2 POST "$FCM_PATH" -H "authorization: Bearer $ACCESS" --data-binary '{"message":{"token":7}}'
assert_eq 400 "$STATUS" "FCM with a non-string token"
h2 POST "$FCM_PATH" -H "authorization: Bearer $ACCESS" \
    --data-binary '{"validate_only":false,"message":{"data":{"token":"no"},"token":"fcm\u002ddevice\/9"}}'
assert_eq 200 "$STATUS" "FCM token with JSON escapes"
sync_record
assert_eq fcm-device/9 "$(jget "$(tail -n 1 "$T/record.jsonl")" '["token"]')" "the recorded token is unescaped"
fcm e4040aa
assert_eq "404 UNREGISTERED" "$STATUS $(jget "$BODY" '["error"]["details"][0]["errorCode"]')" "FCM e4040"
assert_eq type.googleapis.com/google.firebase.fcm.v1.FcmError "$(jget "$BODY" '["error"]["details"][0]["@type"]')" "FcmError type"
fcm e4292bb; assert_eq "429 QUOTA_EXCEEDED 1" "$STATUS $(jget "$BODY" '["error"]["details"][0]["errorCode"]') $(hdr retry-after)" "FCM e4292 attempt 1"
fcm e4292bb; assert_eq 429 "$STATUS" "FCM e4292 attempt 2"
fcm e4292bb; assert_eq 200 "$STATUS" "FCM e4292 attempt 3"
fcm e4030cc; assert_eq "403 SENDER_ID_MISMATCH" "$STATUS $(jget "$BODY" '["error"]["details"][0]["errorCode"]')" "FCM e4030"
fcm e5000dd; assert_eq "500 INTERNAL" "$STATUS $(jget "$BODY" '["error"]["status"]')" "FCM e5000"
fcm c1ee; assert_eq 000 "$STATUS" "FCM c1 resets"
fcm c1ee; assert_eq 200 "$STATUS" "FCM c1 then success"

echo "== control: expire tokens, token endpoint down"
h2 POST /_sandbox/expire-tokens
assert_eq 200 "$STATUS" "expire-tokens"
fcm fcm-device-1
assert_eq 401 "$STATUS" "FCM with an expired token"
h2 POST '/_sandbox/oauth-down?seconds=600'
assert_eq 200 "$STATUS" "oauth-down"
grant "$(assertion "$T/sa.json")"
assert_eq "503 1" "$STATUS $(hdr retry-after)" "token endpoint while down"
h2 POST '/_sandbox/oauth-down?seconds=0'
assert_eq 200 "$STATUS" "oauth-down?seconds=0 ends the outage"
grant "$(assertion "$T/sa.json")"
assert_eq 200 "$STATUS" "token endpoint back up"
ACCESS=$(jget "$BODY" '["access_token"]')
fcm fcm-device-1
assert_eq 200 "$STATUS" "FCM with the new token"

echo "== MPNS (HTTPS/1.1)"
TOAST='<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification"><wp:Toast><wp:Text1>Alice</wp:Text1><wp:Text2>Missed call</wp:Text2></wp:Toast></wp:Notification>'
mpns() {  # mpns CHANNEL-PATH [curl args]; sets STATUS, TIME, headers in $T/hdrs
    local path=$1; shift
    local out
    out=$(curl -s --http1.1 --cacert "$T/pki/ca.pem" -X POST -D "$T/hdrs" -o "$T/body" \
        -w '%{http_code} %{time_total}' -H 'X-NotificationClass: 2' \
        -H "Content-Type: text/xml" -H "X-WindowsPhone-Target: ${TARGET:-toast}" \
        --data-binary "${DATA:-$TOAST}" "$@" "https://127.0.0.1:$MPNS_PORT$path" || true)
    STATUS=${out%% *}
    TIME=${out##* }
}
mpns_status() { echo "$STATUS $(hdr X-NotificationStatus) $(hdr X-SubscriptionStatus) $(hdr X-DeviceConnectionStatus)"; }
mpns /channel/abc123
assert_eq "200 Received Active Connected" "$(mpns_status)" "MPNS toast"
sync_record
LINE=$(tail -n 1 "$T/record.jsonl")
assert_eq "mpns abc123 /channel/abc123" "$(jget "$LINE" '["provider"]') $(jget "$LINE" '["token"]') $(jget "$LINE" '["path"]')" "MPNS record"
assert_eq "$TOAST" "$(jget "$LINE" '["body"]')" "MPNS record body"
mpns /channel/abc123 -H 'X-MessageID: 6b2c1a3e-1111-2222-3333-444455556666'
assert_eq "200 6b2c1a3e-1111-2222-3333-444455556666" "$STATUS $(hdr X-MessageID)" "MPNS echoes X-MessageID"
TARGET=tile mpns /channel/abc123
assert_eq 400 "$STATUS" "MPNS tile target"
DATA='<wp:Notification/>' mpns /channel/abc123
assert_eq 400 "$STATUS" "MPNS body without a toast"
mpns /channel/e4040; assert_eq "404 Dropped Expired Connected" "$(mpns_status)" "MPNS e4040"
mpns /channel/e4060; assert_eq "406 Dropped Active Connected" "$(mpns_status)" "MPNS e4060"
mpns /channel/e4120; assert_eq "412 Dropped  Inactive" "$(mpns_status)" "MPNS e4120"
mpns /channel/e5031; assert_eq "503 1" "$STATUS $(hdr Retry-After)" "MPNS e5031"
mpns /channel/e5031; assert_eq 200 "$STATUS" "MPNS e5031 then success"
mpns /channel/q1; assert_eq "200 QueueFull Active Connected" "$(mpns_status)" "MPNS q1"
mpns /channel/q1; assert_eq "200 Received Active Connected" "$(mpns_status)" "MPNS q1 then received"
mpns /channel/c1; assert_eq 000 "$STATUS" "MPNS c1 resets"
mpns /channel/c1; assert_eq 200 "$STATUS" "MPNS c1 then success"
mpns /channel/d0200
python3 -c "import sys; sys.exit(0 if float('$TIME') >= 0.2 else 1)" || fail "MPNS d0200 answered in ${TIME}s"
assert_eq 200 "$STATUS" "MPNS d0200"
sync_record
BEFORE=$(records)
mpns /channel/d2000ab --max-time 1
assert_eq 000 "$STATUS" "MPNS client gives up before d2000 answers (curl counts from before the sandbox does)"
pr_wait_for 60 main_is delayed 0 || fail "the abandoned MPNS d2000 answer is still waiting"
sync_record
assert_eq "$BEFORE" "$(records)" "nothing recorded for it"
CONNS=$(curl -s --http1.1 --cacert "$T/pki/ca.pem" -o /dev/null -w '%{num_connects}\n' \
    -H 'X-WindowsPhone-Target: toast' -H 'X-NotificationClass: 2' -H 'Content-Type: text/xml' \
    --data-binary "$TOAST" "https://127.0.0.1:$MPNS_PORT/ch/k1" "https://127.0.0.1:$MPNS_PORT/ch/k2" | tr '\n' ' ')
assert_eq "1 0 " "$CONNS" "MPNS keeps the connection alive"

echo "== stats"
h2 GET /_sandbox/stats
# apns: valid + echo + exp0 + unicode + 4096 + 5120 + e5032 + e4291 + d0200 + c1
#       + beside-d5000 + d5000 + hold: before gate, released, after release = 15
assert_eq 15 "$(jget "$BODY" '["delivered"]["apns"]')" "APNs deliveries"
# fcm: device-1 + escaped token + e4292 + c1 + after-new-token = 5
assert_eq 5 "$(jget "$BODY" '["delivered"]["fcm"]')" "FCM deliveries"
# mpns: abc123 + message-id + e5031 + q1 + c1 + d0200 + k1 + k2 = 8
assert_eq 8 "$(jget "$BODY" '["delivered"]["mpns"]')" "MPNS deliveries"
# grants: valid assertion, aud = sandbox /token, after oauth-down = 3
assert_eq 3 "$(jget "$BODY" '["tokens_issued"]')" "tokens issued"
assert_eq 3 "$(jget "$BODY" '["by_status"]["410"]')" "410 answers"

echo "== GOAWAY after N streams, short-lived access tokens, APNs public key"
openssl pkey -in "$T/apns.p8" -pubout -out "$T/apns-public.pem" 2>/dev/null
# The token lifetime is far beyond any wait here: the check "within the
# lifetime" cannot land after it on a busy machine; expire-tokens ends it.
start_sandbox goaway --goaway-after 3 --oauth-token-ttl 3600 --fcm-service-account "$T/sa.json" \
    --apns-key "$T/apns-public.pem" --apns-team "$TEAM" --apns-key-id "$KID"
URLS=()
for i in 1 2 3 4 5; do URLS+=("https://127.0.0.1:$PORT/3/device/abc$i"); done
CONNS=$(curl -s --http2 --cacert "$T/pki/ca.pem" -o /dev/null -w '%{http_code}:%{num_connects} ' \
    -H "authorization: bearer $JWT" -H 'apns-topic: t' -H 'apns-push-type: alert' \
    --data-binary "$APNS_BODY" "${URLS[@]}")
assert_eq "200:1 200:0 200:0 200:1 200:0 " "$CONNS" "GOAWAY after 3 streams moves the client to a new connection (tokens checked with the public key)"
grant "$(assertion "$T/sa.json")"
ACCESS=$(jget "$BODY" '["access_token"]')
assert_eq 3600 "$(jget "$BODY" '["expires_in"]')" "--oauth-token-ttl"
fcm fcm-device-2; assert_eq 200 "$STATUS" "FCM within the token's lifetime"
h2 POST /_sandbox/expire-tokens; assert_eq 200 "$STATUS" "expire-tokens"
fcm fcm-device-2; assert_eq 401 "$STATUS" "FCM once the token is expired"
# The clock ends a token too: one that lives 1 s is refused once that second
# is over (polled: how late the first try comes does not matter). The token
# of the sandbox above, from the same grant path, was accepted.
start_sandbox shortttl --oauth-token-ttl 1 --fcm-service-account "$T/sa.json"
grant "$(assertion "$T/sa.json")"
assert_eq 200 "$STATUS" "grant from the short-lived sandbox"
ACCESS=$(jget "$BODY" '["access_token"]')
assert_eq 1 "$(jget "$BODY" '["expires_in"]')" "--oauth-token-ttl 1"
fcm_refused() { fcm fcm-device-2; [ "$STATUS" = 401 ]; }
pr_wait_for 60 fcm_refused || fail "FCM still accepts the token 60 s after its 1 s lifetime"
pass "FCM refuses the token once its lifetime is over"

echo "== without --apns-key, APNs needs no provider token"
start_sandbox noauth
h2 POST /3/device/abcdef -H 'apns-topic: t' -H 'apns-push-type: alert' --data-binary "$APNS_BODY"
assert_eq 200 "$STATUS" "push without authorization"
h2 POST /token --data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer' \
    --data-urlencode "assertion=$(assertion "$T/sa.json")"
assert_eq "400 invalid_grant" "$STATUS $(jget "$BODY" '["error"]')" "no service account: every grant refused"

echo "== a reset loses only the resetting request's answer, not earlier ones on the connection"
# nghttp sends its requests in order on one connection (curl -Z may reorder them)
printf '%s' "$APNS_BODY" >"$T/nghttp.body"
for i in 1 2 3; do
    OUT=$(nghttp -n -d "$T/nghttp.body" -H 'apns-topic: t' -H 'apns-push-type: alert' \
        "https://127.0.0.1:$PORT/3/device/aa$i" "https://127.0.0.1:$PORT/3/device/bb$i" \
        "https://127.0.0.1:$PORT/3/device/c0cc" "https://127.0.0.1:$PORT/3/device/dd$i" 2>&1 || true)
    assert_eq "total=4, processed=2" "$(echo "$OUT" | grep -o 'total=.*')" \
        "the two requests before a c0 token are answered, round $i"
done
h2 GET /_sandbox/stats
assert_eq "7 3" "$(jget "$BODY" '["delivered"]["apns"]') $(jget "$BODY" '["resets"]')" \
    "deliveries (1 + 2 per round; nothing after the reset) and resets"

echo "== --no-markers: every token succeeds, marker or not"
start_sandbox nomarkers --no-markers
for tok in c0cc b0bb e5030 d9999 c1ff; do
    h2 POST "/3/device/$tok" -H 'apns-topic: t' -H 'apns-push-type: alert' --data-binary "$APNS_BODY"
    assert_eq 200 "$STATUS" "--no-markers: $tok answered 200"
done
h2 GET /_sandbox/stats
assert_eq "5 0" "$(jget "$BODY" '["delivered"]["apns"]') $(jget "$BODY" '["resets"]')" \
    "--no-markers: five deliveries, no reset"

echo "== h2load smoke load"
PORT=$MAIN_PORT
sync_record
BEFORE=$(records)
printf '%s' "$APNS_BODY" >"$T/h2load.body"
h2load -n 20000 -c 4 -m 200 -d "$T/h2load.body" -H "authorization: bearer $JWT" \
    -H 'apns-topic: com.example.voip' -H 'apns-push-type: alert' \
    "https://127.0.0.1:$PORT/3/device/$DEV" >"$T/h2load.log" 2>&1 || fail "h2load failed"
grep -q 'requests: 20000 total, 20000 started, 20000 done, 20000 succeeded' "$T/h2load.log" ||
    fail "h2load: $(grep requests: "$T/h2load.log")"
grep -q 'status codes: 20000 2xx' "$T/h2load.log" || fail "h2load: $(grep 'status codes' "$T/h2load.log")"
pass "h2load: $(grep 'finished in' "$T/h2load.log")"

echo "== SIGTERM: clean exit with the record flushed"
kill -TERM "$MAIN_PID"
wait "$MAIN_PID" && RC=0 || RC=$?
assert_eq 0 "$RC" "exit status after SIGTERM"
assert_eq $((BEFORE + 20000)) "$(records)" "every h2load delivery is in the record"
