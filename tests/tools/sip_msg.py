"""sip_msg.py - writes one SIP request for pushrelay's tests.

  sip_msg.py OUT [key=value...]

CRLF line ends and a byte-exact Content-Length; the keys and their defaults
are listed at pr_msg in tests/integration/lib.sh, which calls this.
"""
import json, sys, uuid
out = sys.argv[1]
kv = dict(a.split("=", 1) for a in sys.argv[2:])
g = lambda k, d: kv.get(k, d)
omit = set(filter(None, g("omit", "").split(",")))
method = g("method", "MESSAGE")
dom = g("domain", "contoso.com")
pid = g("id", uuid.uuid4().hex)
params = [("pn-provider", g("provider", "apns")),
          ("pn-prid", g("prid", "a1" * 32)),
          ("pn-param", g("param", "ABCDE12345.com.example.lync"))]
uri = g("uri", "sip:push@push.example.net" +
        "".join(";%s=%s" % p for p in params if p[0] not in omit))
if "body" in kv:
    body = kv["body"]
elif method == "MESSAGE":
    body = json.dumps({"id": pid, "event": g("event", "im"),
                       "from": "sip:alice@" + dom, "to": "sip:bob@" + dom,
                       "title": "Alice Smith", "body": g("text", "Lunch at 12?"),
                       "badge": 3, "sound": "default", "ttl": 60,
                       "priority": "high"}, ensure_ascii=False)
else:
    body = ""
body = body.encode("utf-8")
cid = g("callid", uuid.uuid4().hex + "@edge." + dom)
hdrs = [("Via", "SIP/2.0/TLS edge.%s:5061;branch=z9hG4bK%s" % (dom, uuid.uuid4().hex[:12])),
        ("Max-Forwards", "70"),
        ("From", "<sip:mcx@%s>;tag=%s" % (dom, uuid.uuid4().hex[:8])),
        ("To", "<sip:push@push.example.net>"),
        ("Call-ID", cid),
        ("CSeq", "%s %s" % (g("cseq", "1"), method))]
if body or method == "MESSAGE":
    hdrs.append(("Content-Type", g("ctype", "application/json")))
hdrs.append(("Content-Length", g("clen", str(len(body)))))
lines = ["%s %s SIP/2.0" % (method, uri)]
lines += ["%s: %s" % h for h in hdrs if h[0] not in omit]
lines += [x for x in g("extra", "").split("|") if x]
open(out, "wb").write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)
