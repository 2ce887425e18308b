#!/usr/bin/env bash
# Every refusal of design section 5, one request each over mutual TLS, with
# the status, the explaining header (Warning, Allow) and the RFC 3261 copies
# (Via, From, To with a tag, Call-ID, CSeq) checked; and nothing refused is
# queued.
. "$(dirname "$0")/lib.sh"

export PR_MAX_MESSAGE_BYTES=4096
pr_boot listener
TOK=$(printf 'c3%.0s' $(seq 32))

# expect CODE WHAT pr_msg-args...: build the request, send it, check status.
expect() {
    local code=$1 what=$2
    shift 2
    pr_msg "$T/req" "$@"
    pr_expect_status "$code" "$T/req" "$what"
}

# ---- accepted, as the control ----
expect 202 "well-formed MESSAGE" prid="$TOK" callid=ctl-1@edge.contoso.com cseq=7
assert_eq ctl-1@edge.contoso.com "$(pr_header "$RESP" Call-ID)" "Call-ID copied"
assert_eq "7 MESSAGE" "$(pr_header "$RESP" CSeq)" "CSeq copied"
case $(pr_header "$RESP" Via) in *"branch=z9hG4bK"*) pass "Via copied" ;; *) fail "Via not copied: $RESP" ;; esac
case $(pr_header "$RESP" From) in "<sip:mcx@contoso.com>;tag="*) pass "From copied" ;; *) fail "From not copied: $RESP" ;; esac
case $(pr_header "$RESP" To) in "<sip:push@push.example.net>;tag="?*) pass "To carries a tag" ;; *) fail "To without tag: $RESP" ;; esac
QUEUED=1

# ---- 413: bigger than max_message_bytes (headers + body) ----
expect 413 "MESSAGE over max_message_bytes" text="$(head -c 5000 /dev/zero | tr '\0' x)"

# ---- 404: pn-param names no configured app ----
expect 404 "unknown APNs pn-param" param=ZZZZZ99999.com.example.unknown
expect 404 "unknown FCM project" provider=fcm param=no-such-project

# ---- 403: provider disabled for the domain ----
pr_ctl disable-push --domain contoso.com --mpns >/dev/null || fail "disable-push --mpns failed"
expect 403 "MPNS MESSAGE after disable-push --mpns" provider=mpns param=lync-wp \
    prid=https%3A%2F%2F127.0.0.1%3A1%2Fchannel%2F1
expect 202 "APNs MESSAGE still accepted after disable-push --mpns" prid="$TOK"
QUEUED=$((QUEUED + 1))

# ---- 400: missing pn params, malformed JSON, with a Warning that says which ----
expect 400 "MESSAGE without pn-prid" omit=pn-prid
case $(pr_header "$RESP" Warning) in *pn-prid*) pass "Warning names pn-prid" ;;
    *) fail "400 without a Warning naming pn-prid: $RESP" ;; esac
expect 400 "MESSAGE without pn-provider" omit=pn-provider
[ -n "$(pr_header "$RESP" Warning)" ] || fail "400 without Warning: $RESP"
expect 400 "MESSAGE with an unknown pn-provider" provider=carrier-pigeon
expect 400 "MESSAGE with a body that is not JSON" body='{"id": "x", "event": "im", "body": '
[ -n "$(pr_header "$RESP" Warning)" ] || fail "400 for bad JSON without Warning: $RESP"
pass "bad JSON answered with a Warning: $(pr_header "$RESP" Warning)"
expect 400 "MESSAGE whose JSON is not an object" body='["im"]'
expect 400 "MESSAGE with an unknown event" event=telegram

# ---- 415: wrong Content-Type ----
expect 415 "MESSAGE with Content-Type text/plain" ctype=text/plain

# ---- 405 with Allow; OPTIONS 200 with Allow ----
expect 405 "INVITE" method=INVITE body=''
case $(pr_header "$RESP" Allow) in *MESSAGE*) pass "405 Allow lists MESSAGE" ;;
    *) fail "405 without Allow: MESSAGE: $RESP" ;; esac
expect 200 "OPTIONS" method=OPTIONS uri=sip:push@push.example.net
case $(pr_header "$RESP" Allow) in *MESSAGE*OPTIONS*|*OPTIONS*MESSAGE*) pass "OPTIONS Allow lists MESSAGE and OPTIONS" ;;
    *) fail "OPTIONS without Allow: MESSAGE, OPTIONS: $RESP" ;; esac

# ---- CRLF keep-alive answered with a CRLF pong ----
assert_eq pong "$(pr_sipclient ping)" "RFC 5626 CRLF keep-alive"

# ---- 410: token recorded dead ----
DEAD=$(printf 'd4%.0s' $(seq 32))
DEAD_KEY=$(pr_qkey "$(pr_shard_of apns "$DEAD")" "token:apns:$DEAD")
rcli HSET "$DEAD_KEY" reason Unregistered since "$(date +%s)000" >/dev/null
rcli EXPIRE "$DEAD_KEY" 3600 >/dev/null
expect 410 "MESSAGE to a token known dead" prid="$DEAD"

# ---- the same refusals through sipp: unknown app, each logged 404 ----
pr_start_stunnel edge.contoso.com
PR_CSV_TAG=bad pr_gen_csv "$T/bad.csv" 10 contoso.com apns ZZZZZ99999.com.example.unknown
pr_sipp message_expect_any 10 -inf "$T/bad.csv" || fail "sipp: unexpected answers to unknown-app MESSAGEs"
assert_eq 10 "$(grep -c '^[0-9]* 404 ' "$T/sipp-message_expect_any-status.log")" "sipp MESSAGEs answered 404"

# Nothing refused reached any stream.
assert_eq "$QUEUED" "$(pr_xlen apns)" "APNs entries (only the accepted controls)"
assert_eq 0 "$(pr_xlen fcm)" "FCM entries"
assert_eq 0 "$(pr_xlen mpns)" "MPNS entries"
