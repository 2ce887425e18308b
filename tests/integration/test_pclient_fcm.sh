#!/usr/bin/env bash
# test_pclient_fcm.sh - the FCM client (relay/fcm.c, relay/oauth.c over
# relay/h2c.c) against pushrelay-sandbox: the OAuth2 token exchange, exact
# messages:send requests, Google's error answers, an expired access token,
# a failing token endpoint.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pclient_common.sh"

PROJECT=demo-project
pr_gen_certs
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/sa.key" 2>/dev/null
PORT=$(pr_free_port)
python3 "$PR_SRC/tests/tools/fcm_service_account.py" "$T/sa.key" "$PROJECT" \
    "https://127.0.0.1:$PORT/token" "$T/sa.json"
start_sandbox sb --fcm-service-account "$T/sa.json"
FCM=(--provider fcm --endpoint "https://127.0.0.1:$PORT" --ca-file "$T/pki/ca.pem"
     --project-id "$PROJECT" --service-account "$T/sa.json")

echo "== one access token serves every request, sent exactly as built"
send exact "${FCM[@]}" --token tokA --token tokB --token tokC --collapse-id conv-7 \
    --title 'Zoë "Z"' --body 'Hi ✓' --payloads "$T/exact.payloads"
assert_eq 3 "$(field exact delivered)" "delivered"
assert_eq 1 "$(sandbox_stat 'd["tokens_issued"]')" "access tokens fetched"
sync_record "$T/sb.jsonl"
compare_payloads "$T/exact.payloads" "$T/sb.jsonl"
assert_eq 3 "$(grep -c "\"path\":\"/v1/projects/$PROJECT/messages:send\"" "$T/sb.jsonl")" "requests to messages:send"
NAME=$(field exact id '^result i=0')
[[ "$NAME" == projects/$PROJECT/messages/* ]] || fail "message name not captured: '$NAME'"
pass "message name captured"

echo "== 1000 concurrent notifications"
send many "${FCM[@]}" --token tokM --count 1000 --quiet
assert_eq 1000 "$(field many delivered)" "delivered"

echo "== Google's error JSON gives the reason"
send unreg "${FCM[@]}" --token e4040tok
assert_eq "404 UNREGISTERED token_dead" \
    "$(field unreg status '^result') $(field unreg reason '^result') $(field unreg outcome '^result')" "404"
send unavail "${FCM[@]}" --token e5030tok
assert_eq "503 UNAVAILABLE retry 1" \
    "$(field unavail status '^result') $(field unavail reason '^result') $(field unavail outcome '^result') $(field unavail retry_after '^result')" "503"

echo "== an expired access token: 401, the token is dropped, a new one works"
issued=$(sandbox_stat 'd["tokens_issued"]')
EXPIRE="curl -s --http2 --cacert $T/pki/ca.pem -X POST https://127.0.0.1:$PORT/_sandbox/expire-tokens >/dev/null"
send expired "${FCM[@]}" --token tokE1 --token tokE2 --token tokE3 --reauth-retry --after-first "$EXPIRE"
assert_eq "after-first rc=0" "$(grep '^after-first' "$T/expired.out")" "tokens expired after the first answer"
grep -q "^reauth i=1 status=401 reason=UNAUTHENTICATED" "$T/expired.out" || fail "no 401 seen"
assert_eq 3 "$(field expired delivered)" "delivered after reauth"
assert_eq $((issued + 2)) "$(sandbox_stat 'd["tokens_issued"]')" "access tokens fetched (one before, one after)"

echo "== a failing token endpoint is retried with backoff"
# The outage ends when the test sees the client refused (a 503 from /token),
# not after a guessed 2 s that a slow start could outlast or miss.
sb_post() { curl -sf --http2 --cacert "$T/pki/ca.pem" -X POST "https://127.0.0.1:$PORT/_sandbox/$1" >/dev/null; }
refused=$(sandbox_stat 'd["by_status"].get("503", 0)')
sb_post 'oauth-down?seconds=600' || fail "sandbox oauth-down"
send down "${FCM[@]}" --token tokD --timeout-ms 60000 &
DOWN_PID=$!
refused_more() { [ "$(sandbox_stat 'd["by_status"].get("503", 0)')" -gt "$refused" ]; }
pr_wait_for 60 refused_more || fail "the client never asked the token endpoint"
sb_post 'oauth-down?seconds=0' || fail "sandbox oauth-down?seconds=0"
wait "$DOWN_PID" || fail "driver for the OAuth outage failed"
assert_eq delivered "$(field down outcome '^result')" "outcome once the endpoint is back"
grep -q "token fetch from .* failed: HTTP 503" "$T/down.log" || fail "failure not logged"
pass "failure logged"

echo "== no token endpoint at all: requests time out, nothing is sent"
stop_sandbox
before=$(records "$T/sb.jsonl")
send none "${FCM[@]}" --token tokN --timeout-ms 500
assert_eq "0 timeout" "$(field none status '^result') $(field none reason '^result')" "status"
assert_eq "$before" "$(records "$T/sb.jsonl")" "records"
