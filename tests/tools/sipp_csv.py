"""sipp_csv.py - a sipp injection file for pushrelay's tests.

  sipp_csv.py OUT N [DOMAIN] [PROVIDER] [PARAM] [EVENT] [BODY]

The fields are listed at pr_gen_csv in tests/integration/lib.sh, which
calls this; PR_CSV_TAG makes tokens and ids distinct across files.
"""
import hashlib, os, sys
out, n = sys.argv[1], int(sys.argv[2])
a = sys.argv[3:] + [None] * 5
dom = a[0] or "contoso.com"; prov = a[1] or "apns"
param = a[2] or "ABCDE12345.com.example.lync"; ev = a[3] or "im"
body = a[4] or "Lunch at 12?"
tag = os.environ.get("PR_CSV_TAG", "t")
with open(out, "w", encoding="utf-8") as f:
    f.write("SEQUENTIAL\n")
    for i in range(n):
        # A leading 0 keeps tokens clear of the sandbox's behaviour markers
        # (e<SSS><N>, d<MMMM>, c<N>, q<N>), which random hex would hit.
        tok = "0" + hashlib.sha256(("%s-%d" % (tag, i)).encode()).hexdigest()[1:]
        f.write("%s;%s-%06d;%s;%s;%s;%s;%s\n" % (tok, tag, i, dom, prov, param, ev, body))
