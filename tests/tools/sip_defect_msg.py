"""sip_defect_msg.py - a MESSAGE whose one defect is KIND, for test_ingest_oversize.sh.

  sip_defect_msg.py OUT KIND

KIND: long_line, long_line_first, many_headers, big_block, big_body,
nul_from, ctl_subject, ctl_content_type.
"""
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
