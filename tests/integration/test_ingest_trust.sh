#!/usr/bin/env bash
# Trust: mutual TLS is required, the client certificate must chain to the
# configured CA, and one of its DNS SANs must be an edge registered for the
# From domain. A domain can never push as another domain; nothing refused is
# queued.
. "$(dirname "$0")/lib.sh"

pr_boot listener
pr_gen_edge edge.fabrikam.com
pr_gen_edge edge.unlisted.example
pr_enable fabrikam.com edge.fabrikam.com

# Control: each edge may push for its own domain.
pr_msg "$T/contoso" domain=contoso.com
pr_expect_status 202 "$T/contoso" "contoso.com MESSAGE from edge.contoso.com"
pr_msg "$T/fabrikam" domain=fabrikam.com
PR_EDGE=edge.fabrikam.com pr_expect_status 202 "$T/fabrikam" "fabrikam.com MESSAGE from edge.fabrikam.com"
assert_eq 2 "$(pr_xlen apns)" "entries after the two accepted MESSAGEs"

# An edge of another domain, valid CA: 403.
pr_msg "$T/spoof" domain=contoso.com
RESP=$(PR_EDGE=edge.fabrikam.com pr_sip_request "$T/spoof") || fail "no response to a spoofed From"
assert_eq 403 "$(pr_status "$RESP")" "contoso.com MESSAGE from edge.fabrikam.com"
# A certificate from the right CA whose name is no registered edge: 403.
RESP=$(PR_EDGE=edge.unlisted.example pr_sip_request "$T/contoso") || fail "no response to an unlisted edge"
assert_eq 403 "$(pr_status "$RESP")" "contoso.com MESSAGE from edge.unlisted.example"
# A domain that was never enabled, from its own (CA-signed) edge: 403, once
# the listener has checked the tenant copies (before: 503, relay/queue.c).
pr_wait_for 60 grep -q 'tenant: shard copies of .* checked' "$T/relay.log" ||
    fail "the listener logged no pass over the tenant copies"
pr_gen_edge edge.northwind.com
pr_msg "$T/northwind" domain=northwind.com
RESP=$(PR_EDGE=edge.northwind.com pr_sip_request "$T/northwind") || fail "no response for a domain not enabled"
assert_eq 403 "$(pr_status "$RESP")" "northwind.com (not enabled) MESSAGE"

# A client certificate from an untrusted CA: the TLS handshake is refused
# with an alert the client can read, no SIP response is ever read.
rc=0
RESP=$(PR_EDGE=rogue pr_sip_request "$T/contoso") || rc=$?
case $rc:$RESP in
    3:*UNKNOWN_CA*) pass "rogue-CA client certificate refused with an alert (${RESP%%$'\n'*})" ;;
    *) fail "rogue-CA client certificate: expected a handshake refused with 'unknown ca', got rc=$rc: $RESP" ;;
esac
# No client certificate at all: refused as well.
rc=0
RESP=$(PR_CERT='' PR_KEY='' pr_sip_request "$T/contoso") || rc=$?
case $rc:$RESP in
    3:*CERTIFICATE_REQUIRED*) pass "no client certificate refused with an alert (${RESP%%$'\n'*})" ;;
    *) fail "no client certificate: expected a handshake refused with 'certificate required', got rc=$rc: $RESP" ;;
esac
# The refusals as openssl s_client reports them: each names the TLS alert
# the relay sent (no bare EOF), and no SIP status line ever comes back.
# -ign_eof keeps the client reading until the relay closes, however slowly
# the alert arrives; `timeout` is only a ceiling.
s_alert() {
    timeout 60 openssl s_client -connect "127.0.0.1:$SIP_PORT" -CAfile "$T/pki/ca.pem" \
        -verify_return_error -ign_eof "$@" </dev/null 2>&1 || true
}
expect_alert() {    # expect_alert ALERT WHAT s_client-args...
    local alert=$1 what=$2 out
    shift 2
    out=$(s_alert "$@")
    case $out in
        *"SIP/2.0 "*) fail "$what: got a SIP response: $out" ;;
        *"alert $alert"*) pass "$what: the relay sent the '$alert' alert" ;;
        *) fail "$what: no '$alert' alert in: $out" ;;
    esac
}
E="$T/pki/edge-edge.contoso.com"
expect_alert "certificate required" "s_client without a client certificate"
expect_alert "unknown ca" "s_client with a client certificate from an untrusted CA" \
    -cert "$T/pki/edge-rogue.pem" -key "$T/pki/edge-rogue.key"
# TLS 1.1 (below the floor) even with a good certificate; the client's own
# security level would not offer it otherwise.
expect_alert "protocol version" "s_client -tls1_1" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -cert "$E.pem" -key "$E.key"
expect_alert "protocol version" "s_client -tls1" -tls1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -cert "$E.pem" -key "$E.key"
# TLS 1.2 without a certificate: the alert of that version.
expect_alert "handshake failure" "s_client -tls1_2 without a client certificate" -tls1_2
# One log line per refused peer, naming the reason.
pr_wait_for 60 grep -q 'TLS handshake refused: .*unsupported protocol' "$T/relay.log" ||
    fail "no log line for the TLS 1.1 refusal"
pr_wait_for 60 grep -q 'TLS handshake refused: client certificate refused: ' "$T/relay.log" ||
    fail "no log line naming the refused client certificate"
pr_wait_for 60 grep -q 'TLS handshake refused: .*certificate' "$T/relay.log" ||
    fail "no log line for the missing client certificate"
pass "each refused handshake logged with its reason: $(grep -c 'TLS handshake refused' "$T/relay.log") lines"
# And a real edge stack (stunnel + sipp) with the rogue certificate fails.
pr_start_stunnel rogue
pr_gen_csv "$T/rogue.csv" 5
if pr_sipp message 5 -inf "$T/rogue.csv" -recv_timeout 3000 -timeout 20s; then
    fail "sipp through a rogue-CA tunnel had its MESSAGEs accepted"
fi
pass "sipp through a rogue-CA tunnel: no MESSAGE accepted"

assert_eq 2 "$(pr_xlen apns)" "entries after every refused attempt (only the two controls)"
