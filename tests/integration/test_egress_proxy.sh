#!/usr/bin/env bash
# test_egress_proxy.sh - provider egress through an HTTP CONNECT proxy
# (egress.proxy, egress.no_proxy). The APNs and FCM apps (and FCM's OAuth
# token endpoint) are configured as https://push.example.net:<port>, a name
# only the proxy resolves (to the sandbox on 127.0.0.1), so a delivery that
# bypassed the proxy could not happen; TLS is verified against
# push.example.net, the sandbox certificate's name, end to end through the
# tunnel. The proxy demands Basic credentials from the proxy URL. MPNS
# channels on 127.0.0.1 are listed in no_proxy and go direct.
#
#   1. 200 APNs + 50 FCM + 50 MPNS: each delivered (counted once by the
#      relay; the sandbox saw every id, extra copies only where a request was
#      retried); the proxy opened tunnels only to push.example.net, none to
#      the MPNS host.
#   2. proxy stopped: new APNs notifications wait (retried, never dead-
#      lettered), then are delivered once the proxy is back.
#   3. proxy answers 407: the dispatcher logs the proxy and its status,
#      retries, and delivers once the proxy lets tunnels through again.
# The password never appears in the dispatcher's log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N_APNS=200 N_FCM=50 N_MPNS=50 N_DOWN=40 N_407=40
PROXY_AUTH=relay:pw-s3cret-9

disp_setup
disp_service_account "https://push.example.net:$SB_PORT/token"
PROXY_PORT=$(pr_free_port)

# start_proxy: (re)starts the CONNECT proxy on PROXY_PORT and waits until it
# printed that it is ready.
start_proxy() {
    : >"$T/proxy.out"
    python3 "$PR_SRC/tests/tools/connect_proxy.py" --port "$PROXY_PORT" \
        --map push.example.net=127.0.0.1 --auth "$PROXY_AUTH" --refuse-file "$T/refuse" \
        --count-file "$T/tunnels" --log-file "$T/connects" >"$T/proxy.out" 2>>"$T/proxy.log" &
    PROXY_PID=$!
    pr_track "$PROXY_PID"
    for _ in $(seq 600); do
        grep -q '^ready ' "$T/proxy.out" && return 0
        kill -0 "$PROXY_PID" 2>/dev/null || fail "proxy exited before it was ready"
        sleep 0.1
    done
    fail "proxy not ready after 60 s"
}
start_proxy

disp_config_base egress-test >"$T/pushrelay.conf"
cat >>"$T/pushrelay.conf" <<EOF
dispatcher = { max_in_flight = 300;
  retry = { max_attempts = 100; base_delay_ms = 100; max_delay_ms = 2000; }; };
apps = (
  { id = "test-ios"; provider = "apns"; topic = "$TOPIC"; team_id = "$TEAM"; key_id = "$KID";
    key_file = "$T/apns.p8"; endpoint = "https://push.example.net:$SB_PORT";
    ca_file = "$T/pki/ca.pem"; },
  { id = "test-android"; provider = "fcm"; project_id = "demo-project";
    service_account = "$T/sa.json"; endpoint = "https://push.example.net:$SB_PORT";
    ca_file = "$T/pki/ca.pem"; },
  { id = "test-wp"; provider = "mpns"; allowed_hosts = [ "127.0.0.1" ]; ca_file = "$T/pki/ca.pem"; }
);
egress = { proxy = "http://$PROXY_AUTH@127.0.0.1:$PROXY_PORT"; no_proxy = [ "127.0.0.1", "localhost" ]; };
EOF

# ids_check PROVIDER PREFIX N: the sandbox's record (complete once it
# stopped) holds every id PREFIX0..PREFIX<N-1> of PROVIDER; prints how many
# extra copies it got (at-least-once: a request that timed out after the
# sandbox acted is sent again).
ids_check() {
    python3 - "$T/record.jsonl" "$@" <<'PY'
import collections, json, re, sys
path, provider, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = collections.Counter()
for line in open(path, encoding="utf-8", errors="replace"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("provider") != provider:
        continue
    if provider == "apns":
        pid = json.loads(r["body"])["pr"]["id"]
    elif provider == "fcm":
        pid = json.loads(r["body"])["message"]["data"]["pr_id"]
    else:
        m = re.search(r"[?&;]id=([^<&]+)", r["body"])
        pid = m.group(1) if m else ""
    if pid.startswith(prefix) and pid[len(prefix):].isdigit():
        seen[pid] += 1
missing = [prefix + str(i) for i in range(n) if seen[prefix + str(i)] == 0]
if missing or len(seen) != n:
    sys.exit("%s %s*: %d distinct ids, %d missing (%s)" % (provider, prefix, len(seen),
             len(missing), " ".join(missing[:5])))
print(sum(seen.values()) - n)
PY
}
tunnels() { cat "$T/tunnels" 2>/dev/null | wc -l; }
dead() { dead_len; }
log_count() { grep -c -- "$1" "$T/dispatcher.log" 2>/dev/null || true; }

echo "== 1. every provider's notifications delivered, APNs and FCM through the proxy"
CHANNEL="https://127.0.0.1:$MPNS_PORT/channel/wp-device"
queue $N_APNS --provider apns --id-prefix ios-
queue $N_FCM --provider fcm --app test-android --id-prefix droid-
queue $N_MPNS --provider mpns --app test-wp --token "$CHANNEL" --id-prefix wp-
disp_start "$T/pushrelay.conf"
wait_for 60 '[ "$(stat_total all:delivered)" = $((N_APNS + N_FCM + N_MPNS)) ]'
assert_eq $N_APNS "$(stat_total apns:delivered)" "APNs notifications delivered"
assert_eq $N_FCM "$(stat_total fcm:delivered)" "FCM notifications delivered"
assert_eq $N_MPNS "$(stat_total mpns:delivered)" "MPNS notifications delivered"
assert_eq 0 "$(dead)" "dead letters"
[ "$(tunnels)" -gt 0 ] || fail "the proxy opened no tunnel"
pass "the proxy opened $(tunnels) tunnels"
assert_eq 0 "$(grep -cv "^push.example.net:$SB_PORT\$" "$T/tunnels")" \
    "tunnels to anything but push.example.net:$SB_PORT (MPNS is in no_proxy)"
assert_eq 0 "$(grep -cv ' basic-ok$' "$T/connects")" "CONNECTs without the right credentials"

echo "== 2. proxy down: notifications wait, then go out when it is back"
pr_stop "$PROXY_PID"
retried0=$(stat_total apns:retried)
fails0=$(log_count "failed: proxy 127.0.0.1:$PROXY_PORT:")
queue $N_DOWN --provider apns --id-prefix down-
wait_for 60 '[ "$(log_count "failed: proxy 127.0.0.1:$PROXY_PORT:")" -gt "$fails0" ]'
wait_for 60 '[ "$(stat_total apns:retried)" -gt "$retried0" ]'
assert_eq $N_APNS "$(stat_total apns:delivered)" "APNs delivered while the proxy is down"
assert_eq 0 "$(dead)" "dead letters while the proxy is down"
start_proxy
wait_for 60 '[ "$(stat_total apns:delivered)" = $((N_APNS + N_DOWN)) ]'
assert_eq 0 "$(dead)" "dead letters after the proxy came back"

echo "== 3. proxy refuses with 407: logged, retried, delivered once it allows again"
pr_stop "$PROXY_PID"
echo 407 >"$T/refuse"
start_proxy
retried0=$(stat_total apns:retried)
queue $N_407 --provider apns --id-prefix refused-
REFUSAL="proxy 127.0.0.1:$PROXY_PORT refused the tunnel to push.example.net:$SB_PORT: 407 Proxy Authentication Required"
wait_for 60 '[ "$(log_count "$REFUSAL")" -gt 0 ]'
wait_for 60 '[ "$(stat_total apns:retried)" -gt "$retried0" ]'
grep -q ' 407 ' "$T/connects" || fail "the proxy never refused a CONNECT"
assert_eq $((N_APNS + N_DOWN)) "$(stat_total apns:delivered)" "APNs delivered while the proxy refuses"
assert_eq 0 "$(dead)" "dead letters while the proxy refuses"
rm -f "$T/refuse"
wait_for 60 '[ "$(stat_total apns:delivered)" = $((N_APNS + N_DOWN + N_407)) ]'
assert_eq 0 "$(dead)" "dead letters at the end"

echo "== the sandbox got every notification; extra copies only where a request was retried"
sb_stop
extra=0
for spec in "apns ios- $N_APNS" "apns down- $N_DOWN" "apns refused- $N_407" \
            "fcm droid- $N_FCM" "mpns wp- $N_MPNS"; do
    # shellcheck disable=SC2086
    e=$(ids_check $spec) || fail "sandbox record: missing notifications"
    pass "sandbox got every ${spec% *}* (${e} extra copies)"
    extra=$((extra + e))
done
[ "$extra" -le "$(stat_total all:retried)" ] ||
    fail "$extra extra copies but only $(stat_total all:retried) retries"

echo "== the proxy password is never logged"
assert_eq 0 "$(grep -c -- "${PROXY_AUTH#*:}" "$T/dispatcher.log")" "log lines with the password"
disp_stop_clean
