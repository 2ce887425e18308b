#!/usr/bin/env bash
# test_ops_testpush.sh - `pushrelayctl test-push` against a full stack (redis,
# pushrelay-sandbox, pushrelayd --role all): a working path passes every step
# and exits 0; each way it can break fails at its own step, exits 1 and says
# what to fix.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_ops_testpush

pr_boot --sandbox all
pr_enable fabrikam.com edge.contoso.com --apns          # FCM and MPNS stay disabled
pr_enable litware.com edge.contoso.com
pr_ctl disable-push --domain litware.com >/dev/null      # the whole domain

EDGE="--cert $T/pki/edge-edge.contoso.com.pem --key $T/pki/edge-edge.contoso.com.key"

# tp OUTFILE ARGS...: runs test-push, leaves stdout+stderr in OUTFILE, prints the exit code.
tp() {
    local out=$1 rc=0
    shift
    "$PR_BIN/pushrelayctl" -c "$T/relay.conf" test-push --timeout 60 "$@" >"$T/$out" 2>&1 || rc=$?
    cat "$T/$out" >>"$T/ctl.log"
    echo "$rc"
}

# --- success, one per provider: every step PASS, exit 0, and the sandbox got the toast
for p in apns fcm mpns; do
    case $p in
        apns) tok=$(pr_hex a1) ;;
        fcm) tok="fcm-test-push-token-1" ;;
        mpns) tok="https://127.0.0.1:$MPNS_PORT/channel/tp1" ;;
    esac
    assert_eq 0 "$(tp ok-$p.out --domain contoso.com --provider $p --token "$tok" $EDGE)" "test-push $p exit code"
    for step in connect tls options message delivered; do pr_has ok-$p.out "PASS $step:"; done
    pr_lacks ok-$p.out "FAIL"
    id=$(sed -n 's/^PASS message: .*Push-Id \([^ ]*\).*/\1/p' "$T/ok-$p.out")
    [ -n "$id" ] || fail "no Push-Id in ok-$p.out"
    pr_wait_for 60 grep -q "pushrelay test" "$T/sandbox.jsonl" || fail "sandbox recorded no test toast"
    grep -F "\"provider\":\"$p\"" "$T/sandbox.jsonl" | grep -q "pushrelay test" ||
        fail "sandbox recorded no $p toast titled 'pushrelay test'"
    pass "sandbox received the $p test toast"
done
pr_has ok-apns.out "pn-param ABCDE12345.com.example.lync"
pr_has ok-fcm.out "pn-param example-lync"
pr_has ok-mpns.out "pn-param lync-wp"

# --- retried then delivered: still exit 0, and the retry is reported on the way
assert_eq 0 "$(tp retry.out --domain contoso.com --provider apns --token "$(pr_hex e5031)" $EDGE)" "retried-then-delivered exit code"
pr_has retry.out "PASS delivered:"

# --- wrong certificate: refused at TLS, with the CA hint
assert_eq 1 "$(tp rogue.out --domain contoso.com --provider apns --token "$(pr_hex a2)" \
    --cert "$T/pki/edge-rogue.pem" --key "$T/pki/edge-rogue.key")" "wrong certificate exit code"
pr_has rogue.out "PASS connect:"
pr_has rogue.out "FAIL tls: the relay refused our certificate: is it signed by the CA in federation.tls.ca_file?"
pr_lacks rogue.out "PASS tls"

# --- the relay's certificate does not verify against --ca
assert_eq 1 "$(tp badca.out --domain contoso.com --provider apns --token "$(pr_hex a2)" $EDGE \
    --ca "$T/pki/rogue-ca.pem")" "untrusted relay certificate exit code"
pr_has badca.out "FAIL tls: the relay's certificate did not verify"

# --- disabled domain: 403 with the domain's Warning and the enable-push hint
assert_eq 1 "$(tp domain.out --domain litware.com --provider apns --token "$(pr_hex a3)" $EDGE)" "disabled domain exit code"
pr_has domain.out "FAIL message: answered 403"
pr_has domain.out "is not enabled for push"
pr_has domain.out "the domain is not enabled: pushrelayctl enable-push --domain litware.com"

# --- disabled provider: 403 naming the provider
assert_eq 1 "$(tp provider.out --domain fabrikam.com --provider fcm --token "fcm-tok-2" $EDGE)" "disabled provider exit code"
pr_has provider.out "FAIL message: answered 403"
pr_has provider.out "provider fcm is disabled for fabrikam.com"
pr_has provider.out "the provider is disabled for the domain: pushrelayctl enable-push --domain fabrikam.com --edge-fqdn <edge> --fcm"
pr_lacks domain.out "the provider is disabled"

# --- unreachable listener
NOPORT=$(pr_free_port)
assert_eq 1 "$(tp unreach.out --domain contoso.com --provider apns --token "$(pr_hex a4)" $EDGE --port "$NOPORT")" "unreachable listener exit code"
pr_has unreach.out "FAIL connect: cannot reach the federation listener at 127.0.0.1:$NOPORT"
pr_lacks unreach.out "PASS"

# --- dead token: first the provider reports it (delivered step fails), then ingest answers 410
DEAD=$(pr_hex e4100)
assert_eq 1 "$(tp dead1.out --domain contoso.com --provider apns --token "$DEAD" $EDGE)" "token reported dead exit code"
pr_has dead1.out "PASS message: 202"
pr_has dead1.out "FAIL delivered: token dead:"
assert_eq 1 "$(tp dead2.out --domain contoso.com --provider apns --token "$DEAD" $EDGE)" "known dead token exit code"
pr_has dead2.out "FAIL message: answered 410"
pr_has dead2.out "the device token is recorded dead: pushrelayctl tokens show $DEAD"

# --- permanent provider error: a dead letter, never "delivered"
assert_eq 1 "$(tp dlq.out --domain contoso.com --provider apns --token "$(pr_hex e4130)" $EDGE)" "dead letter exit code"
pr_has dlq.out "FAIL delivered: dead letter: 413 PayloadTooLarge"
pr_lacks dlq.out "PASS delivered"

# --- no dispatcher: accepted but never delivered within --timeout
pr_stop_relay
pr_start_relay listener
rc=0
"$PR_BIN/pushrelayctl" -c "$T/relay.conf" test-push --timeout 2 --domain contoso.com --provider apns \
    --token "$(pr_hex a5)" $EDGE >"$T/nodisp.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "no dispatcher exit code"
pr_has nodisp.out "PASS message: 202"
pr_has nodisp.out "FAIL delivered: not delivered within 2s: still in the apns stream"

# --- usage errors exit 2 and name the flag
rc=0
"$PR_BIN/pushrelayctl" -c "$T/relay.conf" test-push --domain contoso.com --provider apns $EDGE >"$T/usage.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "missing --token exit code"
pr_has usage.out "--token is required"
rc=0
"$PR_BIN/pushrelayctl" -c "$T/relay.conf" test-push --domain contoso.com --provider apns --token x \
    --cert "$T/nope.pem" --key "$T/nope.key" >"$T/usage2.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "unreadable --cert exit code"
pr_has usage2.out "--cert $T/nope.pem"

echo "test_ops_testpush: all passed"
