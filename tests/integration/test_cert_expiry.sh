#!/usr/bin/env bash
# test_cert_expiry.sh - credential expiry (design section 12):
#   - /metrics has pushrelay_certificate_expiry_timestamp_seconds for every
#     certificate the relay holds (server certificate and its chain, the
#     edge CA bundle, an MPNS client certificate), each equal to that
#     certificate's notAfter as openssl reads it, and no other;
#   - a relay certificate made to expire in 10 days is warned about by the
#     daemon's log at start, by `pushrelayctl show-push` and by `test-push`;
#     certificates far from expiry are not.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_cert_expiry

# --- PKI: a long-lived CA; the relay's certificate lasts 10 days, the MPNS
# client certificate 400. pr_write_config keeps a PKI it finds in $T/pki.
d="$T/pki"
mkdir -p "$d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=pushrelay expiry test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
leaf() {  # leaf NAME CN SAN DAYS
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=$2" -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$d/$1.ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days "$4" -extfile "$d/$1.ext" -out "$d/$1.pem" 2>/dev/null
}
leaf server-leaf push.example.net "DNS:push.example.net,IP:127.0.0.1" 10
cat "$d/server-leaf.pem" "$d/ca.pem" >"$d/server.pem"      # leaf + chain
mv "$d/server-leaf.key" "$d/server.key"
leaf mpns-client lync-wp.example.net "DNS:lync-wp.example.net" 400
leaf edge-edge.contoso.com edge.contoso.com "DNS:edge.contoso.com" 400

pr_start_redis
pr_write_config "$T/relay.conf"
# The MPNS app authenticates with a client certificate.
sed -i "s|provider = \"mpns\";|provider = \"mpns\"; certificate = \"$d/mpns-client.pem\"; private_key = \"$d/mpns-client.key\";|" \
    "$T/relay.conf"
grep -q 'mpns-client.pem' "$T/relay.conf" || fail "config: MPNS client certificate not set"
pr_start_relay all
pr_enable contoso.com edge.contoso.com

# --- the gauge: exactly one series per certificate, value = notAfter
metrics() { curl -sS "http://127.0.0.1:$MON_PORT/metrics"; }
pr_wait_for 60 metrics || fail "/metrics does not answer"
metrics >"$T/metrics.txt"
python3 - "$T/metrics.txt" "$d" <<'PY' || fail "expiry gauge does not match the certificates"
import calendar, re, subprocess, sys, time
text, d = open(sys.argv[1]).read(), sys.argv[2]

def not_afters(path):
    """notAfter of every certificate in a PEM file, in file order, by openssl."""
    out, pem = [], ""
    for line in open(path):
        pem += line
        if line.startswith("-----END CERTIFICATE"):
            s = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem,
                               capture_output=True, text=True, check=True).stdout
            t = time.strptime(s.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
            out.append(calendar.timegm(t))
            pem = ""
    return out

want = sorted([("federation", d + "/server.pem", v) for v in not_afters(d + "/server.pem")] +
              [("edge-ca", d + "/ca.pem", v) for v in not_afters(d + "/ca.pem")] +
              [("lync-wp", d + "/mpns-client.pem", v) for v in not_afters(d + "/mpns-client.pem")])
assert len(want) == 4, want
got = []
pat = re.compile(r'^pushrelay_certificate_expiry_timestamp_seconds\{app="([^"]*)",file="([^"]*)",subject="([^"]*)"\} (\d+)$')
for line in text.splitlines():
    if line.startswith("pushrelay_certificate_expiry_timestamp_seconds"):
        m = pat.match(line)
        if not m:
            sys.exit("malformed series: " + line)
        got.append((m.group(1), m.group(2), int(m.group(4))))
got.sort()
if got != want:
    sys.exit("want %r\n got %r" % (want, got))
if "# TYPE pushrelay_certificate_expiry_timestamp_seconds gauge" not in text:
    sys.exit("no TYPE line for the gauge")
# The 10-day certificate really is the one about to expire.
soon = [g for g in got if g[2] - time.time() < 30 * 86400]
if [(a, f) for a, f, _ in soon] != [("federation", d + "/server.pem")]:
    sys.exit("expected only the relay's leaf within 30 days: %r" % soon)
print("gauge: %d series match openssl's notAfter" % len(got))
PY
pass "expiry gauge equals each certificate's notAfter"

# --- the daemon's warning at start: the 10-day certificate, nothing else
warned() { grep -q "certificate $d/server.pem (app federation, CN=push.example.net) expires in \(9\|10\) days" "$T/relay.log"; }
pr_wait_for 60 warned || fail "no 30-day warning in the log: $(grep -i certif "$T/relay.log" || true)"
if grep -E "certinfo.*(ca\.pem|mpns-client\.pem)" "$T/relay.log"; then
    fail "the log warns about a certificate far from expiry"
fi
[ "$(grep -c 'certinfo.*expires in' "$T/relay.log")" = 1 ] || fail "expected one expiry warning: $(grep certinfo "$T/relay.log")"
pass "pushrelayd logs the 10-day certificate"

# --- show-push warns on stderr, stdout stays the table / JSON
"$PR_BIN/pushrelayctl" -c "$T/relay.conf" show-push --json >"$T/show.json" 2>"$T/show.err" ||
    fail "show-push failed: $(cat "$T/show.err")"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/show.json" || fail "show-push --json is not JSON"
grep -q "^warning: certificate $d/server.pem (app federation, CN=push.example.net) expires in \(9\|10\) days" "$T/show.err" ||
    fail "show-push did not warn: $(cat "$T/show.err")"
[ "$(grep -c '^warning: ' "$T/show.err")" = 1 ] || fail "show-push: one warning expected: $(cat "$T/show.err")"
pass "show-push warns about the 10-day certificate only"

# --- test-push warns too (here against a port where nothing listens: the
# warning comes before any network step)
closed=$(pr_free_port)
set +e
"$PR_BIN/pushrelayctl" -c "$T/relay.conf" test-push --domain contoso.com --provider apns \
    --token "$(printf 'a%.0s' $(seq 64))" --cert "$d/edge-edge.contoso.com.pem" \
    --key "$d/edge-edge.contoso.com.key" --host 127.0.0.1 --port "$closed" --timeout 5 \
    >"$T/tp.out" 2>"$T/tp.err"
tp_rc=$?
set -e
[ "$tp_rc" = 1 ] || fail "test-push to a closed port: want exit 1, got $tp_rc"
grep -q "^warning: certificate $d/server.pem (app federation, CN=push.example.net) expires in \(9\|10\) days" "$T/tp.err" ||
    fail "test-push did not warn: $(cat "$T/tp.err")"
pass "test-push warns about the 10-day certificate"

# --- renewal: a new certificate for the same key, SIGHUP; the gauge follows
# and the reload logs no warning for it
openssl x509 -req -in "$d/server-leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 400 -extfile "$d/server-leaf.ext" -out "$d/server-leaf.pem" 2>/dev/null
cat "$d/server-leaf.pem" "$d/ca.pem" >"$d/server.pem"
renewed=$(python3 -c 'import calendar,subprocess,sys,time
s=subprocess.run(["openssl","x509","-noout","-enddate","-in",sys.argv[1]],capture_output=True,text=True,check=True).stdout
print(calendar.timegm(time.strptime(s.strip().split("=",1)[1],"%b %d %H:%M:%S %Y GMT")))' "$d/server-leaf.pem")
kill -HUP "$RELAY_PID"
reloaded() {
    metrics | grep -q "^pushrelay_certificate_expiry_timestamp_seconds{app=\"federation\",file=\"$d/server.pem\",subject=\"CN=push.example.net\"} $renewed\$"
}
pr_wait_for 60 reloaded || fail "after SIGHUP the gauge does not show the renewed notAfter $renewed: $(metrics | grep expiry)"
grep -q 'configuration reloaded' "$T/relay.log" || fail "reload not logged"
[ "$(grep -c 'certinfo.*expires in' "$T/relay.log")" = 1 ] || fail "the reload warned again: $(grep certinfo "$T/relay.log")"
pass "after renewal and SIGHUP the gauge shows the new notAfter, and no warning"
