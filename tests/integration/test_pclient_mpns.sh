#!/usr/bin/env bash
# test_pclient_mpns.sh - the MPNS client (relay/mpns.c, HTTP/1.1 over TLS)
# against pushrelay-sandbox: exact toast requests, kept-alive connections,
# the allowed_hosts rule (nothing sent to other hosts), MPNS status
# headers, connection resets, timeouts and shutdown.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pclient_common.sh"

pr_gen_certs
start_sandbox sb
MPNS=(--provider mpns --ca-file "$T/pki/ca.pem" --allowed-host 127.0.0.1)
CH="https://127.0.0.1:$MPNS_PORT/throttledthirdparty/01.00"
UUID=5f0c2a1e-1b2c-4d3e-8f90-00000000000   # + index: a UUID-shaped push id

echo "== toasts reach the sandbox exactly as built, with the MPNS headers"
send exact "${MPNS[@]}" --token "$CH/tokA" --token "$CH/tokB?x=1" --title 'Zoë <Z> & co' \
    --body 'Hi ✓' --id-prefix "$UUID" --payloads "$T/exact.payloads"
assert_eq 2 "$(field exact delivered)" "delivered"
assert_eq "Received/Active/Connected" "$(field exact reason '^result')" "status headers"
sync_record "$T/sb.jsonl"
compare_payloads "$T/exact.payloads" "$T/sb.jsonl"
python3 - "$T/sb.jsonl" "$UUID" <<'PY' || fail "headers"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["path"] for r in recs] == ["/throttledthirdparty/01.00/tokA",
                                     "/throttledthirdparty/01.00/tokB?x=1"] or \
       sorted(r["path"] for r in recs) == ["/throttledthirdparty/01.00/tokA",
                                           "/throttledthirdparty/01.00/tokB?x=1"], recs
for r in recs:
    h = r["headers"]
    assert h["content-type"] == "text/xml", h
    assert h["x-windowsphone-target"] == "toast", h
    assert h["x-notificationclass"] == "2", h
    assert h["x-messageid"].startswith(sys.argv[2]), h
print("ok: paths, Content-Type, X-WindowsPhone-Target, X-NotificationClass, X-MessageID")
PY

echo "== a channel on a host that is not allowed is refused, nothing sent"
requests=$(sandbox_stat 'd["requests"]')
send refused --provider mpns --ca-file "$T/pki/ca.pem" --allowed-host '*.notify.live.net' \
    --token "$CH/tokR" --token "http://127.0.0.1:$MPNS_PORT/plain" --allowed-host 127.0.0.1 \
    --token "https://evil.example.com/steal" --token "https://user@127.0.0.1:$MPNS_PORT/x"
# Allowed: *.notify.live.net and 127.0.0.1; only the https channel on 127.0.0.1 may be used.
reason() { grep -E "^result i=$2 " "$T/$1.out" | sed 's/.* reason=\(.*\) outcome=.*/\1/'; }
assert_eq "-1 host not allowed" "$(field refused status '^result i=2') $(reason refused 2)" "other host"
assert_eq "-1 channel URI not https" "$(field refused status '^result i=1') $(reason refused 1)" "http channel"
assert_eq dead_letter "$(field refused outcome '^result i=2')" "outcome"
assert_eq -1 "$(field refused status '^result i=3')" "user info in the channel"
assert_eq 1 "$(field refused delivered)" "delivered (the allowed channel only)"
assert_eq $((requests + 1)) "$(sandbox_stat 'd["requests"]')" "requests the sandbox saw"
send refused2 --provider mpns --ca-file "$T/pki/ca.pem" --allowed-host '*.notify.live.net' \
    --token "$CH/tokR"
assert_eq "-1 host not allowed" "$(field refused2 status '^result') $(reason refused2 0)" "127.0.0.1 not in *.notify.live.net"
assert_eq $((requests + 1)) "$(sandbox_stat 'd["requests"]')" "requests the sandbox saw"

echo "== MPNS answers become reasons"
send codes "${MPNS[@]}" --token "$CH/e4040x" --token "$CH/e4120x" --token "$CH/q1x"
assert_eq "404 Dropped/Expired/Connected token_dead" "$(field codes status '^result i=0') $(field codes reason '^result i=0') $(field codes outcome '^result i=0')" "404"
assert_eq "412 Dropped//Inactive retry" "$(field codes status '^result i=1') $(field codes reason '^result i=1') $(field codes outcome '^result i=1')" "412"
assert_eq "200 QueueFull/Active/Connected retry" "$(field codes status '^result i=2') $(field codes reason '^result i=2') $(field codes outcome '^result i=2')" "QueueFull"

echo "== 500 toasts over kept-alive connections"
send many "${MPNS[@]}" --token "$CH/tokM" --count 500 --quiet --debug
assert_eq 500 "$(field many delivered)" "delivered"
assert_eq 2 "$(grep -c 'new connection' "$T/many.log")" "connections opened"

echo "== a reset connection: no answer, and the next toast uses a fresh connection"
send reset "${MPNS[@]}" --token "$CH/c1x" --token "$CH/tokZ" --window 1
assert_eq "0 retry" "$(field reset status '^result i=0') $(field reset outcome '^result i=0')" "reset"
assert_eq delivered "$(field reset outcome '^result i=1')" "next toast"

echo "== slow answers time out; shutdown completes what is pending"
send slow "${MPNS[@]}" --token "$CH/d9999x" --timeout-ms 300     # answer far past the deadline
assert_eq "0 timeout" "$(field slow status '^result') $(field slow reason '^result')" "timeout"
send shut "${MPNS[@]}" --token "$CH/d9999x" --token "$CH/d9999y" --token "$CH/d9999z" \
    --connections 1 --shutdown-after-ms 300
assert_eq 3 "$(grep -c 'status=0 reason=shutdown' "$T/shut.out")" "requests ended by shutdown (sent and waiting)"
