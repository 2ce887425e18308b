#!/usr/bin/env bash
# test_egress_proxy.sh - provider egress through an HTTP CONNECT proxy
# (egress.proxy, egress.no_proxy). The APNs, FCM and WNS apps (and the FCM
# and WNS OAuth token endpoints) and MPNS/WNS channels are configured as
# https://push.example.net:<port>, a name only the proxy resolves (to the
# sandbox on 127.0.0.1), so a delivery that bypassed the proxy could not
# happen; TLS is verified against push.example.net, the sandbox
# certificate's name, end to end through the tunnel. The proxy demands
# Basic credentials from the proxy URL. MPNS channels on 127.0.0.1 are
# listed in no_proxy and go direct.
#
#   1. 200 APNs + 50 FCM + 50 MPNS and 50 WNS through the proxy + 50 MPNS
#      direct: each delivered (counted once by the relay; the sandbox saw
#      every id, extra copies only where a request was retried); the proxy
#      opened tunnels only to push.example.net (HTTP/2 and HTTP/1.1 ports
#      both), and its own log holds no CONNECT to the no_proxy host.
#   2. proxy stopped: new APNs, MPNS and WNS notifications wait (retried,
#      never dead-lettered), then are delivered once the proxy is back.
#   3. proxy answers 407: the dispatcher logs the proxy and its status,
#      retries, and delivers once the proxy lets tunnels through again.
#   4. the same for MPNS and WNS with 407, 403 and 502 in turn.
#   5. an MPNS channel host the proxy reaches but the sandbox certificate
#      does not name: the tunnel opens, TLS to the channel host fails its
#      name check (end to end, not the proxy's), nothing is delivered.
# The password never appears in the dispatcher's log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N_APNS=200 N_FCM=50 N_MPNS=50 N_WNS=50 N_DIRECT=50 N_DOWN=40 N_407=40 N_REFUSED=10
PROXY_AUTH=relay:pw-s3cret-9

disp_setup
disp_service_account "https://push.example.net:$SB_PORT/token"
PROXY_PORT=$(pr_free_port)

# start_proxy: (re)starts the CONNECT proxy on PROXY_PORT and waits until it
# printed that it is ready.
start_proxy() {
    : >"$T/proxy.out"
    python3 "$PR_SRC/tests/tools/connect_proxy.py" --port "$PROXY_PORT" \
        --map push.example.net=127.0.0.1 --map wrong.example.net=127.0.0.1 --auth "$PROXY_AUTH" --refuse-file "$T/refuse" \
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

echo "test-only-wns-secret" >"$T/wns-secret.txt"
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
  { id = "test-wp"; provider = "mpns"; allowed_hosts = [ "push.example.net", "127.0.0.1", "wrong.example.net" ];
    ca_file = "$T/pki/ca.pem"; },
  { id = "test-win"; provider = "wns"; package_sid = "ms-app://s-1-15-2-1234";
    client_secret_file = "$T/wns-secret.txt";
    token_endpoint = "https://push.example.net:$SB_PORT/accesstoken.srf";
    allowed_hosts = [ "push.example.net" ]; ca_file = "$T/pki/ca.pem"; }
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
        m = re.search(r'[?&;]id=([^<&"]+)', r["body"])
        pid = m.group(1) if m else ""
    if pid.startswith("wrongname-"):
        sys.exit("the sandbox got a notification for wrong.example.net")
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

echo "== 1. every provider's notifications delivered, all but the no_proxy host through the proxy"
CHANNEL="https://push.example.net:$MPNS_PORT/channel/wp-device"
DIRECT_CHANNEL="https://127.0.0.1:$MPNS_PORT/channel/wp-direct"
WNS_CHANNEL="https://push.example.net:$MPNS_PORT/wns/win-device"
queue $N_APNS --provider apns --id-prefix ios-
queue $N_FCM --provider fcm --app test-android --id-prefix droid-
queue $N_MPNS --provider mpns --app test-wp --token "$CHANNEL" --id-prefix wp-
queue $N_DIRECT --provider mpns --app test-wp --token "$DIRECT_CHANNEL" --id-prefix wpd-
queue $N_WNS --provider wns --app test-win --token "$WNS_CHANNEL" --id-prefix win-
disp_start "$T/pushrelay.conf"
wait_for 60 '[ "$(stat_total all:delivered)" = $((N_APNS + N_FCM + N_MPNS + N_DIRECT + N_WNS)) ]'
assert_eq $N_APNS "$(stat_total apns:delivered)" "APNs notifications delivered"
assert_eq $N_FCM "$(stat_total fcm:delivered)" "FCM notifications delivered"
assert_eq $((N_MPNS + N_DIRECT)) "$(stat_total mpns:delivered)" "MPNS notifications delivered"
assert_eq $N_WNS "$(stat_total wns:delivered)" "WNS notifications delivered"
assert_eq 0 "$(dead)" "dead letters"
[ "$(tunnels)" -gt 0 ] || fail "the proxy opened no tunnel"
pass "the proxy opened $(tunnels) tunnels"
assert_eq 0 "$(grep -cv "^push.example.net:\($SB_PORT\|$MPNS_PORT\)\$" "$T/tunnels")" \
    "tunnels to anything but push.example.net:$SB_PORT and :$MPNS_PORT"
[ "$(grep -c "^push.example.net:$MPNS_PORT\$" "$T/tunnels")" -gt 0 ] ||
    fail "no tunnel to the MPNS/WNS channel host push.example.net:$MPNS_PORT"
pass "MPNS and WNS channels reached through $(grep -c "^push.example.net:$MPNS_PORT\$" "$T/tunnels") tunnels"
# The direct channel's notifications were delivered (above, and by id
# below) while the proxy's own log holds no CONNECT to its host.
assert_eq 0 "$(grep -c '^127\.0\.0\.1:' "$T/connects")" \
    "CONNECTs to the no_proxy host 127.0.0.1 in the proxy's log"
assert_eq 0 "$(grep -cv ' basic-ok$' "$T/connects")" "CONNECTs without the right credentials"

echo "== 2. proxy down: notifications wait, then go out when it is back"
pr_stop "$PROXY_PID"
retried0=$(stat_total apns:retried)
fails0=$(log_count "apns: connect to .* failed: proxy 127.0.0.1:$PROXY_PORT:")
mpns_retried0=$(stat_total mpns:retried) wns_retried0=$(stat_total wns:retried)
mpns_fails0=$(log_count "mpns: connect to push.example.net:$MPNS_PORT failed: proxy 127.0.0.1:$PROXY_PORT:")
wns_fails0=$(log_count "wns: connect to push.example.net:$MPNS_PORT failed: proxy 127.0.0.1:$PROXY_PORT:")
mpns_delivered0=$(stat_total mpns:delivered) wns_delivered0=$(stat_total wns:delivered)
queue $N_DOWN --provider apns --id-prefix down-
queue $N_DOWN --provider mpns --app test-wp --token "$CHANNEL" --id-prefix wpdown-
queue $N_DOWN --provider wns --app test-win --token "$WNS_CHANNEL" --id-prefix windown-
wait_for 60 '[ "$(log_count "apns: connect to .* failed: proxy 127.0.0.1:$PROXY_PORT:")" -gt "$fails0" ]'
wait_for 60 '[ "$(log_count "mpns: connect to push.example.net:$MPNS_PORT failed: proxy 127.0.0.1:$PROXY_PORT:")" -gt "$mpns_fails0" ]'
wait_for 60 '[ "$(log_count "wns: connect to push.example.net:$MPNS_PORT failed: proxy 127.0.0.1:$PROXY_PORT:")" -gt "$wns_fails0" ]'
wait_for 60 '[ "$(stat_total apns:retried)" -gt "$retried0" ]'
wait_for 60 '[ "$(stat_total mpns:retried)" -gt "$mpns_retried0" ]'
wait_for 60 '[ "$(stat_total wns:retried)" -gt "$wns_retried0" ]'
assert_eq $N_APNS "$(stat_total apns:delivered)" "APNs delivered while the proxy is down"
assert_eq "$mpns_delivered0" "$(stat_total mpns:delivered)" "MPNS delivered while the proxy is down"
assert_eq "$wns_delivered0" "$(stat_total wns:delivered)" "WNS delivered while the proxy is down"
assert_eq 0 "$(dead)" "dead letters while the proxy is down"
start_proxy
wait_for 60 '[ "$(stat_total apns:delivered)" = $((N_APNS + N_DOWN)) ]'
wait_for 60 '[ "$(stat_total mpns:delivered)" = $((mpns_delivered0 + N_DOWN)) ]'
wait_for 60 '[ "$(stat_total wns:delivered)" = $((wns_delivered0 + N_DOWN)) ]'
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

echo "== 4. MPNS and WNS: the proxy refuses with 407, 403, 502: logged, retried, delivered after"
for st in 407 403 502; do
    # A restarted proxy drops the kept-alive tunnels: the next requests need new ones.
    pr_stop "$PROXY_PID"
    echo $st >"$T/refuse"
    start_proxy
    mpns_delivered0=$(stat_total mpns:delivered) wns_delivered0=$(stat_total wns:delivered)
    mpns_retried0=$(stat_total mpns:retried) wns_retried0=$(stat_total wns:retried)
    queue $N_REFUSED --provider mpns --app test-wp --token "$CHANNEL" --id-prefix "wp$st-"
    queue $N_REFUSED --provider wns --app test-win --token "$WNS_CHANNEL" --id-prefix "win$st-"
    REFUSAL="connect to push.example.net:$MPNS_PORT failed: proxy 127.0.0.1:$PROXY_PORT refused the tunnel to push.example.net:$MPNS_PORT: $st "
    wait_for 60 '[ "$(log_count "mpns: $REFUSAL")" -gt 0 ]'
    wait_for 60 '[ "$(log_count "wns: $REFUSAL")" -gt 0 ]'
    wait_for 60 '[ "$(stat_total mpns:retried)" -gt "$mpns_retried0" ]'
    wait_for 60 '[ "$(stat_total wns:retried)" -gt "$wns_retried0" ]'
    grep -q "^push.example.net:$MPNS_PORT $st " "$T/connects" ||
        fail "the proxy never refused a CONNECT to the channel host with $st"
    assert_eq "$mpns_delivered0" "$(stat_total mpns:delivered)" "MPNS delivered while the proxy answers $st"
    assert_eq "$wns_delivered0" "$(stat_total wns:delivered)" "WNS delivered while the proxy answers $st"
    assert_eq 0 "$(dead)" "dead letters while the proxy answers $st"
    rm -f "$T/refuse"
    wait_for 60 '[ "$(stat_total mpns:delivered)" = $((mpns_delivered0 + N_REFUSED)) ]'
    wait_for 60 '[ "$(stat_total wns:delivered)" = $((wns_delivered0 + N_REFUSED)) ]'
    assert_eq 0 "$(dead)" "dead letters after the proxy stopped answering $st"
    pass "MPNS and WNS: $st logged and retried, then $N_REFUSED + $N_REFUSED delivered"
done

echo "== 5. TLS through the tunnel checks the channel host's name, not the proxy's"
mpns_delivered0=$(stat_total mpns:delivered)
queue 1 --provider mpns --app test-wp --token "https://wrong.example.net:$MPNS_PORT/channel/x" \
    --id-prefix wrongname-
wait_for 60 '[ "$(log_count "mpns: connection to wrong.example.net:$MPNS_PORT: TLS: .*certificate verify failed")" -gt 0 ]'
grep -q "^wrong.example.net:$MPNS_PORT\$" "$T/tunnels" || fail "no tunnel to wrong.example.net was opened"
assert_eq "$mpns_delivered0" "$(stat_total mpns:delivered)" "MPNS delivered to a host the certificate does not name"
pass "the tunnel opened, and TLS refused the sandbox certificate for wrong.example.net"

echo "== the sandbox got every notification; extra copies only where a request was retried"
sb_stop
extra=0
for spec in "apns ios- $N_APNS" "apns down- $N_DOWN" "apns refused- $N_407" \
            "fcm droid- $N_FCM" "mpns wp- $N_MPNS" "mpns wpd- $N_DIRECT" "wns win- $N_WNS" \
            "mpns wpdown- $N_DOWN" "wns windown- $N_DOWN" \
            "mpns wp407- $N_REFUSED" "wns win407- $N_REFUSED" "mpns wp403- $N_REFUSED" \
            "wns win403- $N_REFUSED" "mpns wp502- $N_REFUSED" "wns win502- $N_REFUSED"; do
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
