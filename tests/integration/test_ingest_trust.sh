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
# A domain that was never enabled, from its own (CA-signed) edge: 403.
pr_gen_edge edge.northwind.com
pr_msg "$T/northwind" domain=northwind.com
RESP=$(PR_EDGE=edge.northwind.com pr_sip_request "$T/northwind") || fail "no response for a domain not enabled"
assert_eq 403 "$(pr_status "$RESP")" "northwind.com (not enabled) MESSAGE"

# A client certificate from an untrusted CA: the TLS handshake is refused,
# no SIP response is ever read.
rc=0
RESP=$(PR_EDGE=rogue pr_sip_request "$T/contoso") || rc=$?
case $rc in
    3|4) pass "rogue-CA client certificate refused (rc=$rc: ${RESP%%$'\n'*})" ;;
    *) fail "rogue-CA client certificate: expected a refused handshake, got rc=$rc: $RESP" ;;
esac
# No client certificate at all: refused as well.
rc=0
RESP=$(PR_CERT='' PR_KEY='' pr_sip_request "$T/contoso") || rc=$?
case $rc in
    3|4) pass "no client certificate refused (rc=$rc: ${RESP%%$'\n'*})" ;;
    *) fail "no client certificate: expected a refused handshake, got rc=$rc: $RESP" ;;
esac
# The same with openssl s_client: no SIP status line comes back.
out=$( (cat "$T/contoso"; sleep 2) | timeout 5 openssl s_client -connect "127.0.0.1:$SIP_PORT" \
    -CAfile "$T/pki/ca.pem" -verify_return_error -quiet 2>&1 || true)
case $out in
    *"SIP/2.0 "*) fail "openssl s_client without a client certificate got a SIP response: $out" ;;
    *) pass "openssl s_client without a client certificate gets no SIP response" ;;
esac
# And a real edge stack (stunnel + sipp) with the rogue certificate fails.
pr_start_stunnel rogue
pr_gen_csv "$T/rogue.csv" 5
if pr_sipp message 5 -inf "$T/rogue.csv" -recv_timeout 3000 -timeout 20s; then
    fail "sipp through a rogue-CA tunnel had its MESSAGEs accepted"
fi
pass "sipp through a rogue-CA tunnel: no MESSAGE accepted"

assert_eq 2 "$(pr_xlen apns)" "entries after every refused attempt (only the two controls)"
