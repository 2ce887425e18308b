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

# rawsend.py FILE [close|answer]: send FILE over mutual TLS while reading
# what comes back (the relay may stop reading mid-way) and print the first
# response's head. close (default): then "EOF" once the relay has closed the
# connection, or "NORESPONSE" and "EOF" when it closed without answering.
# answer: return once the head is in. Exit 5 when the relay neither answers
# nor closes within 60 s.
cat >"$T/rawsend.py" <<'PY'
import os, select, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.environ["PR_CA"])
ctx.load_cert_chain(os.environ["PR_CERT"], os.environ["PR_KEY"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(os.environ["PR_PORT"])), 60),
                    server_hostname="push.example.net")
data = open(sys.argv[1], "rb").read()
mode = sys.argv[2] if len(sys.argv) > 2 else "close"
# One thread drives both directions (an SSL object is not safe to share
# between threads): send while the relay reads, read whatever it answers.
s.setblocking(False)
buf, off, eof = b"", 0, False
while not eof and (mode == "close" or b"\r\n\r\n" not in buf):
    r, w, _ = select.select([s], [s] if off < len(data) else [], [], 60)
    if not r and not w:
        print("TIMEOUT after:", buf.decode("utf-8", "replace"))
        sys.exit(5)
    if w:
        try:
            off += s.send(data[off:off + 16384])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError:
            off = len(data)     # the relay stopped reading and closed: expected for most cases
    while r:
        try:
            chunk = s.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            break
        except OSError:
            chunk = b""         # a reset after the answer still ends the connection
        if not chunk:
            eof = True
            break
        buf += chunk
        r = s.pending() > 0
head = buf.split(b"\r\n\r\n", 1)[0]
print(head.decode("utf-8", "replace") if head else "NORESPONSE")
if mode == "close":
    print("EOF")
PY
rawsend() {
    PR_PORT=$SIP_PORT PR_CA="$T/pki/ca.pem" PR_CERT="$T/pki/edge-edge.contoso.com.pem" \
        PR_KEY="$T/pki/edge-edge.contoso.com.key" python3 "$T/rawsend.py" "$@"
}

# build OUT KIND: a MESSAGE whose one defect is KIND (python below).
build() {
    python3 - "$1" "$2" <<'PY'
import sys
out, kind = sys.argv[1], sys.argv[2]
addr = [b"Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK" + kind.encode().replace(b"_", b""),
        b"Max-Forwards: 70",
        b"From: <sip:mcx@contoso.com>;tag=49583",
        b"To: <sip:push@push.example.net>",
        b"Call-ID: " + kind.encode() + b"@edge.contoso.com",
        b"CSeq: 7 MESSAGE"]
rline = b"MESSAGE sip:push@push.example.net;pn-provider=apns;pn-prid=" + b"a1" * 32 + \
        b";pn-param=ABCDE12345.com.example.lync SIP/2.0"
body = b'{"event":"im","body":"hi"}'
tail = [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
extra = []
if kind == "long_line":                 # 100 kB header line after the address headers
    extra = [b"X-Big: " + b"a" * 100000]
elif kind == "long_line_first":         # ... and before them: nothing to address
    addr = [b"X-Big: " + b"a" * 100000] + addr
elif kind == "many_headers":            # 5,000 header lines
    extra = [b"X-H%d: v" % i for i in range(5000)]
elif kind == "big_block":               # header block never ends within max_message_bytes
    extra = [b"X-Fill%d: " % i + b"f" * 1000 for i in range(20)]
elif kind == "big_body":                # complete header block, Content-Length too large
    body = b'{"event":"im","body":"' + b"x" * 20000 + b'"}'
    tail = [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
elif kind == "nul_from":
    addr[2] = b"From: <sip:mcx@contoso.com>;tag=49\x00583"
elif kind == "ctl_subject":
    extra = [b"Subject: lunch\x01at 12"]
elif kind == "ctl_content_type":
    tail[0] = b"Content-Type: application/json\x1b[0m"
else:
    sys.exit("unknown kind " + kind)
msg = b"\r\n".join([rline] + addr + extra + tail) + b"\r\n\r\n" + body
open(out, "wb").write(msg)
PY
}

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
