#!/usr/bin/env bash
# test_pclient_apns.sh - the APNs client (relay/apns.c over relay/h2c.c)
# against pushrelay-sandbox: exact requests, many concurrent streams on a
# small pool, GOAWAY, connection resets, Apple's error answers, provider
# token refresh, timeouts, shutdown and certificate checks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pclient_common.sh"

TEAM=TEAM123456
KID=KEY1234567
TOPIC=com.example.lync
DEV=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90

pr_gen_certs
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/apns.p8" 2>/dev/null
start_sandbox sb --apns-key "$T/apns.p8" --apns-team "$TEAM" --apns-key-id "$KID" \
    --max-concurrent-streams 100
APNS=(--provider apns --endpoint "https://127.0.0.1:$PORT" --ca-file "$T/pki/ca.pem"
      --topic "$TOPIC" --team-id "$TEAM" --key-id "$KID" --key-file "$T/apns.p8")

echo "== requests reach the sandbox exactly as the payload builder made them"
send exact "${APNS[@]}" --token "$DEV" --token "${DEV%90}01" --token "${DEV%90}02" \
    --collapse-id conv-42 --title 'Zoë "Z" Ünal' --body 'Hi ✓ <b>' --payloads "$T/exact.payloads"
assert_eq 3 "$(field exact delivered)" "delivered"
sync_record "$T/sb.jsonl"
compare_payloads "$T/exact.payloads" "$T/sb.jsonl"
assert_eq 3 "$(grep -c '"authorization":"<redacted>"' "$T/sb.jsonl")" "requests with a provider token"
ID=$(field exact id '^result i=0')
[[ "$ID" =~ ^[0-9a-f-]{36}$ ]] || fail "apns-id not captured: '$ID'"
pass "apns-id captured ($ID)"

echo "== 5000 notifications share 2 connections, streams up to the server's limit"
before=$(records "$T/sb.jsonl")
send many "${APNS[@]}" --token "$DEV" --count 5000 --window 5000 --id-prefix many- --quiet
assert_eq 5000 "$(field many delivered)" "delivered"
assert_eq 2 "$(field many max_open)" "connections used"
sync_record "$T/sb.jsonl"
assert_eq 5000 "$(( $(records "$T/sb.jsonl") - before ))" "requests recorded"
assert_eq 5000 "$(grep -o '\\"id\\":\\"many-[0-9]*' "$T/sb.jsonl" | sort -u | wc -l)" "distinct notifications recorded"

echo "== Apple's 410 gives the reason and the timestamp"
send gone "${APNS[@]}" --token "e4100$DEV"
assert_eq 410 "$(field gone status '^result')" "status"
assert_eq Unregistered "$(field gone reason '^result')" "reason"
assert_eq token_dead "$(field gone outcome '^result')" "outcome"
TS=$(field gone ts '^result')
[ "$TS" -gt 1700000000000 ] || fail "timestamp not parsed: $TS"
pass "timestamp $TS"

echo "== 503 carries Retry-After"
send busy "${APNS[@]}" --token "e5030$DEV"
assert_eq "503 ServiceUnavailable retry 1" \
    "$(field busy status '^result') $(field busy reason '^result') $(field busy outcome '^result') $(field busy retry_after '^result')" "answer"

echo "== a connection reset ends the request with no answer"
send reset "${APNS[@]}" --token "c0$DEV"
assert_eq "0 connection lost" "$(field reset status '^result') $(grep -o 'reason=connection lost' "$T/reset.out" | head -1 | cut -d= -f2)" "status and reason"
assert_eq retry "$(field reset outcome '^result')" "outcome"
grep -q "\"c0$DEV\"" "$T/sb.jsonl" && fail "reset request recorded as delivered"
pass "nothing recorded for the reset token"

echo "== a refused provider token is dropped and a new one works"
send reauth "${APNS[@]}" --token "e4031$DEV" --reauth-retry
grep -q "^reauth i=0 status=403 reason=InvalidProviderToken" "$T/reauth.out" || fail "no 403 seen"
assert_eq "delivered 2" "$(field reauth outcome '^result') $(field reauth attempts '^result')" "second attempt"

echo "== a slow answer times out"
# d9999: the answer comes 9.7 s after the 300 ms deadline, not 1.7 s: a busy
# machine cannot reorder the two
send slow "${APNS[@]}" --token "d9999$DEV" --timeout-ms 300
assert_eq "0 timeout" "$(field slow status '^result') $(field slow reason '^result')" "status and reason"

echo "== pclient_free completes every pending request"
send shut "${APNS[@]}" --token "d9999$DEV" --token "d9999${DEV%90}01" --shutdown-after-ms 300
assert_eq 2 "$(grep -c 'status=0 reason=shutdown' "$T/shut.out")" "requests ended by shutdown"

echo "== the server certificate must match the endpoint host"
before=$(records "$T/sb.jsonl")
send badname "${APNS[@]}" --endpoint "https://localhost:$PORT" --token "$DEV" --timeout-ms 500
assert_eq "0 timeout" "$(field badname status '^result') $(field badname reason '^result')" "status"
grep -q "certificate verify failed: hostname mismatch" "$T/badname.log" || fail "no verify error logged"
assert_eq "$before" "$(records "$T/sb.jsonl")" "records after a failed handshake"

echo "== an unknown CA is refused"
send badca "${APNS[@]}" --ca-file "$T/pki/rogue-ca.pem" --token "$DEV" --timeout-ms 500
assert_eq 0 "$(field badca status '^result')" "status"
grep -q "certificate verify failed" "$T/badca.log" || fail "no verify error logged"

echo "== the app can come from a configuration file (cfg_load)"
cat >"$T/relay.conf" <<CONF
node_id = "relay-test";
federation = { domain = "push.example.net";
  tls = { certificate = "pki/server.pem"; private_key = "pki/server.key"; ca_file = "pki/ca.pem"; }; };
apps = ( { id = "lync-ios"; provider = "apns"; topic = "$TOPIC"; team_id = "$TEAM";
           key_id = "$KID"; key_file = "apns.p8"; endpoint = "https://127.0.0.1:$PORT";
           ca_file = "pki/ca.pem"; connections = 1; } );
CONF
send conf --config "$T/relay.conf" --app lync-ios --token "$DEV" --count 20
assert_eq 20 "$(field conf delivered)" "delivered"
assert_eq 1 "$(field conf max_open)" "connections (connections = 1)"
stop_sandbox

echo "== certificate auth: no provider token, the TLS client certificate instead"
start_sandbox certauth
pr_gen_edge client.example.com
send cert --provider apns --endpoint "https://127.0.0.1:$PORT" --ca-file "$T/pki/ca.pem" \
    --topic "$TOPIC" --cert "$T/pki/edge-client.example.com.pem" \
    --key "$T/pki/edge-client.example.com.key" --token "$DEV"
assert_eq delivered "$(field cert outcome '^result')" "outcome"
sync_record "$T/certauth.jsonl"
assert_eq 0 "$(grep -c authorization "$T/certauth.jsonl")" "requests with an authorization header"
stop_sandbox

echo "== GOAWAY after 100 streams: every notification still gets through"
start_sandbox goaway --apns-key "$T/apns.p8" --apns-team "$TEAM" --apns-key-id "$KID" \
    --goaway-after 100 --max-concurrent-streams 50
APNS[3]="https://127.0.0.1:$PORT"
send goaway "${APNS[@]}" --token "$DEV" --count 2000 --id-prefix ga- --retry-no-answer 50 \
    --quiet --debug
assert_eq 2000 "$(field goaway delivered)" "delivered"
grep -q GOAWAY "$T/goaway.log" || fail "the sandbox sent no GOAWAY"
# Streams above the GOAWAY's last-stream-id never reached the server: h2c sends them
# again on a new connection by itself, without bothering the caller.
refused=$(grep -c "refused, sending it again" "$T/goaway.log" || true)
[ "$refused" -gt 0 ] || fail "no stream was sent again after GOAWAY"
pass "$refused streams above last-stream-id sent again transparently"
sync_record "$T/goaway.jsonl"
assert_eq 2000 "$(grep -o '\\"id\\":\\"ga-[0-9]*' "$T/goaway.jsonl" | sort -u | wc -l)" "distinct notifications recorded"
# At least once: a notification is recorded twice only if its first answer was lost.
dups=$(( $(records "$T/goaway.jsonl") - 2000 ))
[ "$dups" -le "$(field goaway retries)" ] || fail "$dups duplicates but only $(field goaway retries) resends"
pass "duplicates ($dups) only from resends after a lost answer"
stop_sandbox

echo "== a silent server is found by PING (2 s idle + 1 s for the answer)"
start_sandbox silent --apns-key "$T/apns.p8" --apns-team "$TEAM" --apns-key-id "$KID"
APNS[3]="https://127.0.0.1:$PORT"
started=$(date +%s%3N)
send silent "${APNS[@]}" --debug --token "$DEV" --token "${DEV%90}01" --window 1 --timeout-ms 90000 \
    --ping-idle-ms 2000 --ping-timeout-ms 1000 --after-first "kill -STOP $SB_PID"
kill -CONT "$SB_PID"
elapsed=$(( $(date +%s%3N) - started ))
assert_eq delivered "$(field silent outcome '^result i=0')" "first, before the server froze"
assert_eq "0 retry" "$(field silent status '^result i=1') $(field silent outcome '^result i=1')" "second"
grep -q "no PING answer" "$T/silent.log" || fail "PING timeout not logged"
# The idle PING, not the 90 s request timeout, found the dead server: the
# PING went out because the connection was idle, and no request timed out
# before its answer was missed. The lower bound holds whatever the speed
# of the machine (timers never fire early, and both waits began after
# 'started'; 100 ms spare for the wall clock slewing against the timers'
# monotonic one); no upper bound is needed, the log tells the paths apart.
grep -q "idle, PING" "$T/silent.log" || fail "no idle PING was sent"
! grep -q "a request timed out" "$T/silent.log" || fail "the request timed out before the PING did"
[ "$elapsed" -ge 2900 ] || fail "dropped after ${elapsed} ms, before 2 s idle + 1 s for the answer"
pass "connection dropped after ${elapsed} ms without a PING answer"
