#!/usr/bin/env bash
# Oversized and malformed requests are answered before the connection
# closes: 413 with a Warning naming the limit (header line, header count,
# header block or whole message over max_message_bytes), 400 naming the
# header that holds a NUL or another control byte; each answer carries the
# RFC 3261 copies (Call-ID, CSeq); after a 413 the listener closes (the
# stream cannot be framed further), and nothing is queued. When the headers that address an answer are not within what
# the listener reads (an over-long line before them), it closes without one,
# as the README says.
. "$(dirname "$0")/lib.sh"

export PR_MAX_MESSAGE_BYTES=16384
pr_boot listener

# rawsend FILE [close|answer]: sipclient.py stream: send FILE over mutual TLS
# while reading what comes back (the relay may stop reading mid-way) and
# print the first response's head. close (default): then "EOF" once the
# relay has closed the connection, or "NORESPONSE" and "EOF" when it closed
# without answering. answer: return once the head is in. Exit 5 when the
# relay neither answers nor closes within 60 s.
rawsend() { pr_sipclient stream "$@"; }

# build OUT KIND: a MESSAGE whose one defect is KIND (tests/tools/sip_defect_msg.py).
build() { python3 "$PR_SRC/tests/tools/sip_defect_msg.py" "$1" "$2"; }

# expect KIND CODE WARNING-PART [close|answer]: the answer, its Warning and
# copies; with close (default), the relay must then close the connection (a
# framing error: the stream cannot be read further). A request framed whole
# but refused (answer) leaves the connection usable. The answer's head is
# left in $head.
expect() {
    local kind=$1 code=$2 warn=$3 mode=${4:-close} out
    head=""
    build "$T/$kind" "$kind"
    out=$(rawsend "$T/$kind" "$mode") || fail "$kind: no answer and no close within 60 s: $out"
    head=${out%$'\n'EOF}
    [ "$mode" = answer ] || [ "$head" != "$out" ] || fail "$kind: connection not closed after the answer: $out"
    case $head in "SIP/2.0 "*) ;; *) fail "$kind: no SIP answer: $out" ;; esac
    assert_eq "$code" "$(pr_status "$head")" "$kind: status"
    case $(pr_header "$head" Warning) in
        *"$warn"*) pass "$kind: Warning names it ($(pr_header "$head" Warning))" ;;
        *) fail "$kind: Warning without '$warn': $head" ;;
    esac
    assert_eq "$kind@edge.contoso.com" "$(pr_header "$head" Call-ID)" "$kind: Call-ID copied"
    assert_eq "7 MESSAGE" "$(pr_header "$head" CSeq)" "$kind: CSeq copied"
    case $(pr_header "$head" Via) in *"z9hG4bK"*) ;; *) fail "$kind: Via not copied: $head" ;; esac
    case $(pr_header "$head" To) in "<sip:push@push.example.net>;tag="?*) ;; *) fail "$kind: To without tag: $head" ;; esac
}

expect long_line 413 "header line longer than 8192 bytes"
expect many_headers 413 "more than 100 header lines"
expect big_block 413 "header block larger than max_message_bytes"
expect big_body 413 "message larger than max_message_bytes"
expect nul_from 400 "bad byte in From header" answer
case $(pr_header "$head" From) in
    "<sip:mcx@contoso.com>;tag=49") pass "nul_from: From copied up to the NUL" ;;
    *) fail "nul_from: From should be copied up to the NUL: $(pr_header "$head" From)" ;;
esac
expect ctl_subject 400 "bad header line" answer
expect ctl_content_type 400 "bad byte in Content-Type header" answer

# Documented limit: an over-long line before Via/From/To/Call-ID/CSeq leaves
# nothing to address an answer with; the listener closes without one.
build "$T/first" long_line_first
out=$(rawsend "$T/first") || fail "long_line_first: no close within 60 s: $out"
assert_eq "NORESPONSE"$'\n'"EOF" "$out" "long_line_first: closed without an answer"

# Nothing refused reached a stream, and the listener still serves.
assert_eq 0 "$(pr_xlen apns)" "APNs entries after the refused requests"
pr_msg "$T/ok" prid="$(printf 'c3%.0s' $(seq 32))"
pr_expect_status 202 "$T/ok" "a well-formed MESSAGE afterwards"
