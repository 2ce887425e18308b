#!/usr/bin/env bash
# test_e2e_providers.sh - the whole pipeline for all three providers: sipp
# (through stunnel, presenting the edge's certificate) -> pushrelayd (listener
# and dispatcher) -> pushrelay-sandbox as APNs, FCM (+ OAuth) and MPNS.
#
#   * a mixed load (10,000 APNs, 3,000 FCM, 3,000 MPNS) is delivered exactly
#     once each, to the right endpoint, Korean + emoji text byte-exact;
#   * FCM access tokens expiring mid-run cost no notification;
#   * the OAuth token endpoint down for a while: FCM notifications wait, then
#     deliver;
#   * FCM UNREGISTERED and MPNS Expired kill the token: the next MESSAGE for
#     it is answered 410;
#   * an MPNS channel URI outside allowed_hosts, or plain http, is refused
#     with 403 at ingest and nothing is sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

N=${PR_E2E_N:-3000}            # FCM and MPNS
NA=${PR_E2E_APNS:-10000}       # APNs
# Retries wait up to the test default of 1 s: the OAuth outage below is
# ridden out by FCM requests waiting, not by fast retries.
PR_MAX_DELAY_MS=1000 e2e_boot apns fcm mpns

# record_synced: the record file holds every delivery the sandbox counted
# (it is written in batches): read it only then.
record_synced() {
    local p sum=0
    for p in $E2E_PROVIDERS; do
        sum=$((sum + $(sb_stat "delivered.$p")))
    done
    [ "$(wc -l <"$T/sandbox.jsonl")" = "$sum" ]
}
# record_count PROVIDER: deliveries in the sandbox record, and distinct tokens among them.
record_count() {
    python3 - "$T/sandbox.jsonl" "$1" <<'PY'
import json, sys
toks = [json.loads(l)["token"] for l in open(sys.argv[1]) if json.loads(l)["provider"] == sys.argv[2]]
print(len(toks), len(set(toks)))
PY
}

# MPNS channel URIs, percent-encoded for pn-prid: one device per row.
mpns_csv() {
    python3 - "$1" "$2" "$MPNS_PORT" <<'PY'
import hashlib, sys
out, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "w") as f:
    f.write("SEQUENTIAL\n")
    for i in range(n):
        dev = "0" + hashlib.sha256(b"wp-%d" % i).hexdigest()[:40]
        uri = "https%%3A%%2F%%2F127.0.0.1%%3A%s%%2Fchannel%%2F%s" % (port, dev)
        f.write("%s;wp-%06d;contoso.com;mpns;lync-wp;voicemail;Voicemail from Alice\n" % (uri, i))
PY
}

echo "== mixed load: $NA APNs, $N FCM, $N MPNS"
PR_CSV_TAG=ios pr_gen_csv "$T/apns.csv" "$NA" contoso.com apns ABCDE12345.com.example.lync im "점심 먹을래요? 🍜"
PR_CSV_TAG=droid pr_gen_csv "$T/fcm.csv" "$N" contoso.com fcm example-lync call "Incoming call"
mpns_csv "$T/mpns.csv" "$N"
export PR_SIPP_RATE=1500 PR_SIPP_LIMIT=200
pr_sipp message "$NA" -inf "$T/apns.csv" || fail "sipp: not every APNs MESSAGE got 202"
# Access tokens expire while the FCM batch is being delivered. "While" is an
# event: once APNs is done, the sandbox holds every answer (hold gate); when
# FCM requests are held, the tokens are expired and the answers released.
# At most max_in_flight (500) of the $N FCM requests were sent before that:
# the rest carry the expired token, get 401 and need a new one.
pr_wait_for 120 sb_is delivered.apns "$NA" || fail "APNs batch not delivered: $(sb_stat delivered.apns) of $NA"
sandbox -X POST "$(sb_url 'hold?after=0')" >/dev/null || fail "sandbox hold"
pr_sipp message "$N" -inf "$T/fcm.csv" || fail "sipp: not every FCM MESSAGE got 202"
pr_wait_for 60 sb_at_least held 1 || fail "no FCM request reached the sandbox"
sandbox -X POST "$(sb_url expire-tokens)" >/dev/null || fail "sandbox expire-tokens"
sandbox -X POST "$(sb_url release)" >/dev/null || fail "sandbox release"
pr_wait_for 60 sb_at_least tokens_issued 2 ||
    fail "the access token was not renewed after expiring mid-run (issued $(sb_stat tokens_issued))"
issued=$(sb_stat tokens_issued)
pass "access token renewed mid-run ($issued issued)"
pr_sipp message "$N" -inf "$T/mpns.csv" || fail "sipp: not every MPNS MESSAGE got 202"
pr_wait_for 120 drained || fail "queues not drained: apns $(pr_xlen apns) fcm $(pr_xlen fcm) mpns $(pr_xlen mpns)"
pr_wait_for 60 stat_is all:delivered $((NA + 2 * N)) ||
    fail "delivered $(stat_total all:delivered) of $((NA + 2 * N))"
pr_wait_for 60 record_synced || fail "sandbox record behind its delivery count"
for p in apns fcm mpns; do
    want=$N
    [ $p = apns ] && want=$NA
    assert_eq "$want $want" "$(record_count $p)" "$p deliveries recorded / distinct tokens"
    assert_eq "$want" "$(sb_stat delivered.$p)" "$p deliveries counted by the sandbox"
    assert_eq "$want" "$(stat_total $p:delivered)" "pr:stats:total $p:delivered"
done
assert_eq 0 "$(pr_pending apns)" "APNs entries pending in the consumer group"
assert_eq 0 "$(pr_qsum XLEN dead)" "dead letters after the mixed load"
python3 - "$T/sandbox.jsonl" <<'PY' || fail "Korean + emoji text did not arrive byte-exact at APNs"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["provider"] == "apns":
        assert json.loads(r["body"])["aps"]["alert"]["body"] == "점심 먹을래요? 🍜", r["body"]
        break
PY
pass "Korean + emoji text byte-exact at APNs"

echo "== OAuth token endpoint down: FCM notifications wait, then deliver"
# The outage lasts until the test ends it (seconds=0), not for a guessed time.
refused=$(sb_stat by_status.503)
sandbox -X POST "$(sb_url 'oauth-down?seconds=600')" >/dev/null
sandbox -X POST "$(sb_url expire-tokens)" >/dev/null
PR_CSV_TAG=wait pr_gen_csv "$T/fcm-wait.csv" 50 contoso.com fcm example-lync im "after the outage"
before=$(sb_stat delivered.fcm)
start=$(date +%s)
pr_sipp message 50 -inf "$T/fcm-wait.csv" || fail "sipp: not every FCM MESSAGE got 202 during the OAuth outage"
# the relay tried to get a new token and was refused: it is waiting for one
pr_wait_for 60 sb_at_least by_status.503 $((refused + 1)) ||
    fail "the relay never asked the token endpoint during the outage"
[ "$(sb_stat delivered.fcm)" = "$before" ] || fail "FCM delivered while no access token could be had"
pass "nothing delivered while the token endpoint is down"
sandbox -X POST "$(sb_url 'oauth-down?seconds=0')" >/dev/null
pr_wait_for 60 sb_is delivered.fcm $((before + 50)) || fail "FCM did not resume after the outage"
pass "all 50 delivered $(( $(date +%s) - start )) s after the outage began"
assert_eq 0 "$(pr_qsum XLEN dead)" "dead letters after the OAuth outage"

echo "== dead tokens: FCM UNREGISTERED and MPNS Expired -> 410 at ingest"
FCM_DEAD=e4040deadfcmtoken
MPNS_DEAD="https%3A%2F%2F127.0.0.1%3A$MPNS_PORT%2Fchannel%2Fe4040deadwp"
pr_msg "$T/fcm-dead.sip" provider=fcm prid="$FCM_DEAD" param=example-lync
pr_msg "$T/mpns-dead.sip" provider=mpns prid="$MPNS_DEAD" param=lync-wp
pr_expect_status 202 "$T/fcm-dead.sip" "first MESSAGE for an unregistered FCM token"
pr_expect_status 202 "$T/mpns-dead.sip" "first MESSAGE for an expired MPNS channel"
pr_wait_for 60 stat_is fcm:token_dead 1 || fail "FCM token not recorded dead"
pr_wait_for 60 stat_is mpns:token_dead 1 || fail "MPNS channel not recorded dead"
pr_msg "$T/fcm-dead2.sip" provider=fcm prid="$FCM_DEAD" param=example-lync
pr_msg "$T/mpns-dead2.sip" provider=mpns prid="$MPNS_DEAD" param=lync-wp
pr_expect_status 410 "$T/fcm-dead2.sip" "next MESSAGE for the dead FCM token"
pr_expect_status 410 "$T/mpns-dead2.sip" "next MESSAGE for the dead MPNS channel"

echo "== MPNS channels: never an open proxy"
requests=$(sb_stat requests)
pr_msg "$T/mpns-evil.sip" provider=mpns prid="https%3A%2F%2Fevil.example.com%2Fchannel%2F1" param=lync-wp
pr_expect_status 403 "$T/mpns-evil.sip" "channel host outside allowed_hosts"
[[ "$(pr_header "$RESP" Warning)" == *allowed_hosts* ]] || fail "403 Warning does not name allowed_hosts: $RESP"
pr_msg "$T/mpns-http.sip" provider=mpns prid="http%3A%2F%2F127.0.0.1%3A$MPNS_PORT%2Fchannel%2F1" param=lync-wp
pr_expect_status 403 "$T/mpns-http.sip" "plain http channel URI"
[[ "$(pr_header "$RESP" Warning)" == *https* ]] || fail "403 Warning does not say https: $RESP"
# A valid MPNS notification sent last: once it is delivered, anything the
# refused ones could have caused would have reached the sandbox before it.
mpns_before=$(sb_stat delivered.mpns)
pr_msg "$T/mpns-sentinel.sip" provider=mpns prid="https%3A%2F%2F127.0.0.1%3A$MPNS_PORT%2Fchannel%2Fsentinel1" param=lync-wp
pr_expect_status 202 "$T/mpns-sentinel.sip" "a valid MPNS channel sent after the refused ones"
pr_wait_for 60 sb_is delivered.mpns $((mpns_before + 1)) || fail "the sentinel MPNS notification was not delivered"
assert_eq $((requests + 1)) "$(sb_stat requests)" "requests reaching the sandbox: only the sentinel"
assert_eq 0 "$(pr_xlen mpns)" "MPNS stream after the refused channels"
