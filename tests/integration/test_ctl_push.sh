#!/usr/bin/env bash
# test_ctl_push.sh - pushrelayctl enable-push / disable-push / show-push
# against a real redis-server: exit codes, the line each prints, and the
# exact hash each leaves in Redis (relay/tenant.h); usage errors (exit 2)
# naming the flag at fault; config errors (exit 2); Redis down or refusing
# AUTH (exit 1).
. "$(dirname "$0")/lib.sh"

CTL="$PR_BIN/pushrelayctl"
DB=2    # the config SELECTs it: every key below must land there

pr_start_redis
pr_gen_certs
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/AuthKey.p8" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/sa.key" 2>/dev/null
python3 - "$T/sa.key" "$T/service-account.json" <<'EOF'
import json, sys
json.dump({"type": "service_account", "client_email": "relay@test.iam.example.com",
           "private_key": open(sys.argv[1]).read(), "token_uri": "https://127.0.0.1:1/token"},
          open(sys.argv[2], "w"))
EOF

# write_conf FILE REDIS_EXTRA: a minimal valid config pointing at our redis.
write_conf() {
    cat >"$1" <<EOF
node_id = "ctl-test";
redis = { host = "127.0.0.1"; port = $REDIS_PORT; db = $DB; $2 };
federation = {
  domain = "push.example.net";
  tls = { certificate = "pki/server.pem"; private_key = "pki/server.key"; ca_file = "pki/ca.pem"; };
};
apps = (
  { id = "ios"; provider = "apns"; topic = "com.example.lync"; team_id = "ABCDE12345";
    key_id = "KEY1234567"; key_file = "AuthKey.p8"; },
  { id = "android"; provider = "fcm"; project_id = "example-lync"; service_account = "service-account.json"; },
  { id = "wp"; provider = "mpns"; allowed_hosts = [ "*.notify.live.net" ]; }
);
EOF
}
CONF="$T/pushrelay.conf"
write_conf "$CONF" ""

# run ARGS...: runs pushrelayctl, sets RC, OUT (stdout) and ERR (stderr).
run() {
    RC=0
    OUT=$("$CTL" "$@" 2>"$T/stderr") || RC=$?
    ERR=$(cat "$T/stderr")
}
ctl() { run -c "$CONF" "$@"; }

# hdump DOMAIN: the tenant hash as sorted "field=value" words; timestamps
# (13-digit epoch ms) shown as <ms>.
hdump() {
    rcli -n "$DB" HGETALL "pr:tenant:$1" | paste -d= - - | sort |
        sed -E 's/^(created_ms|updated_ms)=[0-9]{13}$/\1=<ms>/' | tr '\n' ' ' | sed 's/ $//'
}
hget() { rcli -n "$DB" HGET "pr:tenant:$1" "$2"; }

# --- help and usage errors (exit 2, the flag named) --------------------------
run --help
assert_eq 0 "$RC" "--help exit code"
grep -q '^  enable-push --domain D --edge-fqdn F' <<<"$OUT" || fail "--help lists enable-push: $OUT"
grep -q '^  show-push \[--domain D\] \[--json\]' <<<"$OUT" || fail "--help lists show-push: $OUT"

ctl enable-push --help
assert_eq 0 "$RC" "enable-push --help exit code"
assert_eq "usage: pushrelayctl [-c FILE] enable-push --domain D --edge-fqdn F [--edge-fqdn F2 ...] [--apns] [--fcm] [--mpns] [--wns] [--hms] [--webpush] [--rate-limit N]" \
    "$OUT" "enable-push --help"

run
assert_eq 2 "$RC" "no command"
run -c "$CONF" frobnicate
assert_eq 2 "$RC" "unknown command exit code"
assert_eq "pushrelayctl: usage: unknown command 'frobnicate' (see pushrelayctl --help)" "$ERR" "unknown command"
run --bogus enable-push
assert_eq 2 "$RC" "unknown global option"

usage_err() {   # usage_err "MESSAGE" ARGS...: exit 2 and the first stderr line
    local want=$1; shift
    ctl "$@"
    assert_eq 2 "$RC" "exit code of: $*"
    assert_eq "$want" "$(echo "$ERR" | head -n1)" "error of: $*"
    echo "$ERR" | sed -n 2p | grep -q "^usage: pushrelayctl \[-c FILE\] $1 " ||
        fail "usage line after the error of: $*"
}
usage_err "pushrelayctl: enable-push: --domain is required" enable-push --edge-fqdn e.contoso.com
usage_err "pushrelayctl: enable-push: --edge-fqdn is required (the edge servers of the domain)" \
    enable-push --domain contoso.com
usage_err "pushrelayctl: enable-push: --domain 'contoso_com': not a valid DNS name" \
    enable-push --domain contoso_com --edge-fqdn e.contoso.com
usage_err "pushrelayctl: enable-push: --edge-fqdn '-edge.contoso.com': not a valid DNS name" \
    enable-push --domain contoso.com --edge-fqdn=-edge.contoso.com
usage_err "pushrelayctl: enable-push: --rate-limit 'fast': must be an integer from 0 to 1000000" \
    enable-push --domain contoso.com --edge-fqdn e.contoso.com --rate-limit fast
usage_err "pushrelayctl: enable-push: --rate-limit '-1': must be an integer from 0 to 1000000" \
    enable-push --domain contoso.com --edge-fqdn e.contoso.com --rate-limit -1
usage_err "pushrelayctl: enable-push: --rate-limit needs a value" \
    enable-push --domain contoso.com --edge-fqdn e.contoso.com --rate-limit
usage_err "pushrelayctl: enable-push: unknown option '--gcm'" \
    enable-push --domain contoso.com --edge-fqdn e.contoso.com --gcm
usage_err "pushrelayctl: enable-push: --domain given more than once" \
    enable-push --domain contoso.com --domain fabrikam.com --edge-fqdn e.contoso.com
usage_err "pushrelayctl: enable-push: --apns takes no value" \
    enable-push --domain contoso.com --edge-fqdn e.contoso.com --apns=1
usage_err "pushrelayctl: disable-push: --domain is required" disable-push --apns
usage_err "pushrelayctl: show-push: unexpected argument 'contoso.com'" show-push contoso.com
assert_eq 0 "$(rcli -n "$DB" DBSIZE)" "usage errors wrote nothing"

# --- configuration errors (exit 2, file:line) ------------------------------
run -c "$T/none.conf" show-push
assert_eq 2 "$RC" "missing config exit code"
assert_eq "pushrelayctl: $T/none.conf: cannot read: No such file or directory" "$ERR" "missing config"
sed 's/^node_id = "ctl-test";$/node_id = "ctl-test";\nverbose = 1;/' "$CONF" >"$T/bad.conf"
run -c "$T/bad.conf" show-push
assert_eq 2 "$RC" "bad config exit code"
assert_eq "pushrelayctl: $T/bad.conf:2: verbose: unknown key" "$ERR" "bad config"

# --- enable-push --------------------------------------------------------------
ctl show-push
assert_eq 0 "$RC" "show-push with no records"
assert_eq "no domain has a push record" "$OUT" "show-push with no records"

ctl enable-push --domain Contoso.COM --edge-fqdn Edge.Contoso.com
assert_eq 0 "$RC" "enable-push contoso exit code"
assert_eq "contoso.com: push enabled for apns,fcm,mpns,wns,hms,webpush; edges: edge.contoso.com" "$OUT" "enable-push contoso"
assert_eq "apns=1 created_ms=<ms> edge:edge.contoso.com=1 enabled=1 fcm=1 hms=1 mpns=1 rate_limit=0 updated_ms=<ms> webpush=1 wns=1" \
    "$(hdump contoso.com)" "contoso hash (no provider flag: all)"
assert_eq "contoso.com" "$(rcli -n "$DB" SMEMBERS pr:tenants)" "tenants set"
assert_eq 0 "$(rcli -n 0 DBSIZE)" "nothing written outside the configured db"

ctl enable-push --domain fabrikam.com --edge-fqdn e1.fabrikam.com --apns --rate-limit 50
assert_eq 0 "$RC" "enable-push fabrikam exit code"
assert_eq "fabrikam.com: push enabled for apns; edges: e1.fabrikam.com; rate limit: 50/s" "$OUT" \
    "enable-push fabrikam"
assert_eq "apns=1 created_ms=<ms> edge:e1.fabrikam.com=1 enabled=1 fcm=0 hms=0 mpns=0 rate_limit=50 updated_ms=<ms> webpush=0 wns=0" \
    "$(hdump fabrikam.com)" "fabrikam hash (apns only)"
created=$(hget fabrikam.com created_ms)

# the clock must have moved past created_ms for "updated_ms moved" to mean anything
clock_past() { [ "$(date +%s%3N)" -gt "$1" ]; }
pr_wait_for 60 clock_past "$created" || fail "the clock did not pass $created"
# enabling again adds edges and providers, keeps the rate limit and created_ms
ctl enable-push --domain fabrikam.com --edge-fqdn e2.fabrikam.com --edge-fqdn E1.fabrikam.com --fcm
assert_eq 0 "$RC" "enable-push again exit code"
assert_eq "fabrikam.com: push enabled for fcm; edges: e2.fabrikam.com,e1.fabrikam.com" "$OUT" \
    "enable-push again"
assert_eq "apns=1 created_ms=<ms> edge:e1.fabrikam.com=1 edge:e2.fabrikam.com=1 enabled=1 fcm=1 hms=0 mpns=0 rate_limit=50 updated_ms=<ms> webpush=0 wns=0" \
    "$(hdump fabrikam.com)" "fabrikam hash after adding fcm and an edge"
assert_eq "$created" "$(hget fabrikam.com created_ms)" "created_ms kept"
[ "$(hget fabrikam.com updated_ms)" -gt "$created" ] || fail "updated_ms moved forward"

ctl enable-push --domain fabrikam.com --edge-fqdn e1.fabrikam.com --rate-limit 0
assert_eq "fabrikam.com: push enabled for apns,fcm,mpns,wns,hms,webpush; edges: e1.fabrikam.com; rate limit: unlimited" \
    "$OUT" "rate limit set to unlimited"
assert_eq "0" "$(hget fabrikam.com rate_limit)" "rate limit updated"
assert_eq "1" "$(hget fabrikam.com mpns)" "no provider flag enables every provider"
assert_eq "contoso.com fabrikam.com" "$(rcli -n "$DB" SMEMBERS pr:tenants | sort | tr '\n' ' ' | sed 's/ $//')" \
    "tenants set has both"

# --- disable-push -------------------------------------------------------------
ctl disable-push --domain fabrikam.com --apns --mpns
assert_eq 0 "$RC" "disable-push providers exit code"
assert_eq "fabrikam.com: push disabled for apns,mpns" "$OUT" "disable-push providers"
assert_eq "apns=0 created_ms=<ms> edge:e1.fabrikam.com=1 edge:e2.fabrikam.com=1 enabled=1 fcm=1 hms=1 mpns=0 rate_limit=0 updated_ms=<ms> webpush=1 wns=1" \
    "$(hdump fabrikam.com)" "fabrikam hash after disabling apns and mpns"

ctl disable-push --domain CONTOSO.com
assert_eq 0 "$RC" "disable-push domain exit code"
assert_eq "contoso.com: push disabled for the domain (providers and edges kept)" "$OUT" "disable-push domain"
assert_eq "apns=1 created_ms=<ms> edge:edge.contoso.com=1 enabled=0 fcm=1 hms=1 mpns=1 rate_limit=0 updated_ms=<ms> webpush=1 wns=1" \
    "$(hdump contoso.com)" "contoso hash after disabling the domain"

ctl disable-push --domain unknown.example
assert_eq 1 "$RC" "disable-push unknown domain exit code"
assert_eq "pushrelayctl: disable-push: domain unknown.example has no push record" "$ERR" \
    "disable-push unknown domain"
assert_eq 0 "$(rcli -n "$DB" EXISTS pr:tenant:unknown.example)" "disable-push created no record"

# --- show-push ----------------------------------------------------------------
ctl show-push
assert_eq 0 "$RC" "show-push exit code"
echo "$OUT" | sed -n 1p | grep -Eq '^DOMAIN +ENABLED +PROVIDERS +EDGES +RATE LIMIT +UPDATED$' ||
    fail "show-push header: $OUT"
assert_eq 3 "$(echo "$OUT" | wc -l)" "show-push lines (header + 2 domains)"
echo "$OUT" | sed -n 2p | grep -Eq '^contoso\.com +no +apns,fcm,mpns,wns,hms,webpush +edge\.contoso\.com +unlimited +20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' ||
    fail "show-push contoso row: $(echo "$OUT" | sed -n 2p)"
echo "$OUT" | sed -n 3p | grep -Eq '^fabrikam\.com +yes +fcm,wns,hms,webpush +e1\.fabrikam\.com,e2\.fabrikam\.com +unlimited +20' ||
    fail "show-push fabrikam row: $(echo "$OUT" | sed -n 3p)"
pass "show-push table"

ctl show-push --domain Fabrikam.com
assert_eq 0 "$RC" "show-push --domain exit code"
assert_eq 2 "$(echo "$OUT" | wc -l)" "show-push --domain lines"
grep -q '^fabrikam\.com ' <<<"$OUT" || fail "show-push --domain row: $OUT"
pass "show-push --domain"

ctl show-push --json
assert_eq 0 "$RC" "show-push --json exit code"
got=$(echo "$OUT" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    assert t["created_ms"] > 1e12 and t["updated_ms"] >= t["created_ms"], t
    print(t["domain"], t["enabled"], ",".join(t["providers"]), ",".join(t["edges"]), t["rate_limit"])
')
assert_eq "contoso.com False apns,fcm,mpns,wns,hms,webpush edge.contoso.com 0
fabrikam.com True fcm,wns,hms,webpush e1.fabrikam.com,e2.fabrikam.com 0" "$got" "show-push --json"

ctl show-push --domain fabrikam.com --json
assert_eq 0 "$RC" "show-push --domain --json exit code"
assert_eq "fabrikam.com" "$(echo "$OUT" | python3 -c 'import json,sys; a=json.load(sys.stdin); assert len(a)==1; print(a[0]["domain"])')" \
    "show-push --domain --json is an array of one"

ctl show-push --domain nope.example
assert_eq 1 "$RC" "show-push unknown domain exit code"
assert_eq "pushrelayctl: show-push: domain nope.example has no push record" "$ERR" "show-push unknown domain"

# --- Redis refusing AUTH, then down (exit 1) --------------------------------
rcli CONFIG SET requirepass s3cret >/dev/null
ctl show-push
assert_eq 1 "$RC" "no password exit code"
grep -q "^pushrelayctl: SELECT: Redis at 127.0.0.1:$REDIS_PORT refused: NOAUTH" <<<"$ERR" ||
    fail "no password: $ERR"
write_conf "$T/auth.conf" 'password = "s3cret";'
run -c "$T/auth.conf" show-push --domain contoso.com
assert_eq 0 "$RC" "AUTH with the configured password"
write_conf "$T/wrong.conf" 'password = "wrong";'
run -c "$T/wrong.conf" show-push
assert_eq 1 "$RC" "wrong password exit code"
grep -q "^pushrelayctl: AUTH: Redis at 127.0.0.1:$REDIS_PORT refused: WRONGPASS" <<<"$ERR" ||
    fail "wrong password: $ERR"
redis-cli -p "$REDIS_PORT" -a s3cret --no-auth-warning CONFIG SET requirepass "" >/dev/null

pr_stop_redis
ctl enable-push --domain contoso.com --edge-fqdn edge.contoso.com
assert_eq 1 "$RC" "Redis down exit code"
assert_eq "pushrelayctl: cannot reach Redis at 127.0.0.1:$REDIS_PORT: Connection refused" "$ERR" "Redis down"
ctl show-push
assert_eq 1 "$RC" "show-push with Redis down"
echo "all pushrelayctl push tests passed"
