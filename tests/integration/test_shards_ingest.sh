#!/usr/bin/env bash
# test_shards_ingest.sh - the listener side of queue shards (redis.shards = 8,
# design section 7): a MESSAGE is queued in the shard of (provider, token),
# all its ingest keys carry that shard's {q<k>} tag, dedup and dead tokens
# are per shard, a domain's rate limit is shared ceil(limit / S) per shard,
# enable/disable-push write the record and every shard's copy of it, a
# missing or stale copy is reported by show-push and repaired by enable-push,
# by a listener reload (SIGHUP) and by a listener restart, and the queue
# depths on /metrics and in `stats` are summed over the shards.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_shards_ingest

export PR_REDIS_SHARDS=8
S=8
pr_boot listener            # contoso.com enabled, all providers
A1=$(printf 'a1%.0s' $(seq 32))
ctl() { "$PR_BIN/pushrelayctl" -c "$T/relay.conf" "$@"; }    # stdout and stderr apart

# copy_diff DOM: how many of the S shard copies differ from pr:tenant:DOM.
hash_of() { rcli HGETALL "$1" | paste -d= - - | sort | tr '\n' ' '; }
copy_diff() {
    local want k n=0
    want=$(hash_of "pr:tenant:$1")
    [ -n "$want" ] || fail "no record pr:tenant:$1"
    for ((k = 0; k < S; k++)); do
        [ "$(hash_of "$(pr_qkey "$k" "tenant:$1")")" = "$want" ] || n=$((n + 1))
    done
    echo "$n"
}
copy_field() {  # copy_field DOM FIELD: the field in every copy, one line
    local k
    for ((k = 0; k < S; k++)); do printf '%s ' "$(rcli HGET "$(pr_qkey "$k" "tenant:$1")" "$2")"; done
}
same_n() { printf "$1 %.0s" $(seq "$S"); }    # same_n V: "V V ... " (S times)
send() {    # send FILE N: N pipelined requests over one connection, in one write
    RESP=$(pr_sip_request "$1" "$2") || fail "no answer to $1: $RESP"
    STATUSES=$(printf '%s\n' "$RESP" | sed -n 's/^SIP\/2\.0 \([0-9]\{3\}\).*/\1/p' | tr -d '\r' | tr '\n' ' ')
}

# ---- enable-push wrote the record and all 8 copies ----
assert_eq 0 "$(copy_diff contoso.com)" "shard copies of contoso.com differing from the record after enable-push"
assert_eq "$(same_n 1)" "$(copy_field contoso.com enabled)" "enabled in every copy"

# ---- sipp: 200 APNs and 200 FCM MESSAGEs for distinct tokens ----
pr_start_stunnel edge.contoso.com
PR_CSV_TAG=sa pr_gen_csv "$T/apns.csv" 200
PR_CSV_TAG=sf pr_gen_csv "$T/fcm.csv" 200 contoso.com fcm example-lync
pr_sipp message 200 -inf "$T/apns.csv" || fail "sipp: APNs MESSAGEs not all 202"
pr_sipp message 200 -inf "$T/fcm.csv" || fail "sipp: FCM MESSAGEs not all 202"
assert_eq 200 "$(pr_xlen apns)" "APNs entries over all shards"
assert_eq 200 "$(pr_xlen fcm)" "FCM entries over all shards"

# Every entry is in the shard of its provider and token, and they spread.
for prov in apns fcm; do
    for ((k = 0; k < S; k++)); do
        rcli --json XRANGE "$(pr_stream_key "$prov" "$k")" - + >"$T/s-$prov-$k.json"
    done
done
python3 - "$T" "$S" <<'PY' || fail "entries outside the shard of their provider and token"
import json, sys
t, S = sys.argv[1], int(sys.argv[2])
def shard(prov, tok):
    h = 2166136261
    for c in prov.encode() + b"\0" + tok.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h % S
for prov in ("apns", "fcm"):
    used = set()
    for k in range(S):
        for _, kv in json.load(open("%s/s-%s-%d.json" % (t, prov, k))):
            n = json.loads(dict(zip(kv[0::2], kv[1::2]))["n"])
            assert n["prov"] == prov and shard(prov, n["tok"]) == k, (prov, k, n["tok"])
            used.add(k)
    assert len(used) >= 4, "%s streams in only %d shards" % (prov, len(used))
    print("ok: %s entries in %d shards, each in the shard of its token" % (prov, len(used)))
PY
STREAM_SHARDS=$(rcli --scan --pattern 'pr:{q*}:in:*' | sed -n 's/^pr:{q\([0-9]*\)}:in:.*/\1/p' | sort -u | wc -l)
[ "$STREAM_SHARDS" -ge 4 ] || fail "streams in $STREAM_SHARDS shards, want >= 4"
pass "streams in $STREAM_SHARDS of $S shards (SCAN)"
DEDUP_SHARDS=$(rcli --scan --pattern 'pr:{q*}:dedup:contoso.com:*' | sed -n 's/^pr:{q\([0-9]*\)}:.*/\1/p' | sort -u | wc -l)
assert_eq 400 "$(rcli --scan --pattern 'pr:{q*}:dedup:contoso.com:*' | wc -l)" "dedup keys in the shards"
[ "$DEDUP_SHARDS" -ge 4 ] || fail "dedup keys in $DEDUP_SHARDS shards, want >= 4"
assert_eq 0 "$(rcli --scan --pattern 'pr:{q}:*' | wc -l)" "keys of the layout before shards ({q})"
assert_eq 0 "$(rcli --scan --pattern 'pr:dedup:*' | wc -l)" "dedup keys outside the shards"
assert_eq 0 "$(rcli --scan --pattern 'pr:rate:*' | wc -l)" "rate keys outside the shards"

# ---- dedup per shard: the same pushes again are answered 202 and not queued ----
pr_sipp message 200 -inf "$T/apns.csv" || fail "sipp: repeated APNs MESSAGEs not all 202"
assert_eq 200 "$(pr_xlen apns)" "APNs entries after the 200 pushes were sent again"
pr_msg "$T/d1" id=shard-dup prid="$A1"
pr_expect_status 202 "$T/d1" "first shard-dup"
pr_msg "$T/d2" id=shard-dup prid="$A1" callid=again@edge.contoso.com
pr_expect_status 202 "$T/d2" "repeat of shard-dup"
assert_eq 201 "$(pr_xlen apns)" "APNs entries after shard-dup twice"
assert_eq 1 "$(rcli EXISTS "$(pr_qkey "$(pr_shard_of apns "$A1")" dedup:contoso.com:shard-dup)")" \
    "dedup key of shard-dup in the shard of its token"

# ---- dead tokens are per shard: refused from its shard's record only ----
DEAD=$(printf 'de%.0s' $(seq 32))
DK=$(pr_shard_of apns "$DEAD")
OTHER=$(( (DK + 1) % S ))
rcli HSET "$(pr_qkey "$OTHER" "token:apns:$DEAD")" reason Unregistered since 1 >/dev/null
pr_msg "$T/dead1" id=dead-elsewhere prid="$DEAD"
pr_expect_status 202 "$T/dead1" "token recorded dead in another shard only (not where it lives)"
rcli HSET "$(pr_qkey "$DK" "token:apns:$DEAD")" reason Unregistered since 1 >/dev/null
pr_msg "$T/dead2" id=dead-here prid="$DEAD"
pr_expect_status 410 "$T/dead2" "token recorded dead in its shard"

# ---- rate limit shared by the shards: 8/s for the domain is 1/s per shard ----
pr_gen_edge edge.fabrikam.com
pr_enable fabrikam.com edge.fabrikam.com --rate-limit 8
# Three FCM tokens of one shard and one of another, sent as one write: the
# relay counts one read in one second, so the first shard admits one of its
# three, the other its one.
SAME=() ; ODD=""
for i in $(seq 200); do
    tok="rate-token-$i"
    k=$(pr_shard_of fcm "$tok")
    if [ ${#SAME[@]} -eq 0 ] || [ "$k" = "$RK" ]; then
        [ ${#SAME[@]} -lt 3 ] && { SAME+=("$tok"); RK=$k; }
    elif [ -z "$ODD" ]; then
        ODD=$tok
    fi
    [ ${#SAME[@]} -eq 3 ] && [ -n "$ODD" ] && break
done
[ ${#SAME[@]} -eq 3 ] && [ -n "$ODD" ] || fail "test setup: no three tokens in one shard"
: >"$T/rate"
for tok in "${SAME[@]}" "$ODD"; do
    pr_msg "$T/one" domain=fabrikam.com provider=fcm param=example-lync prid="$tok" id="rate-$tok"
    cat "$T/one" >>"$T/rate"
done
PR_EDGE=edge.fabrikam.com send "$T/rate" 4
assert_eq "202 503 503 202 " "$STATUSES" "three MESSAGEs in one shard and one in another at 1/s per shard"
case $RESP in
*"rate limit of 8/s (1/s per queue shard) exceeded for fabrikam.com"*) pass "Warning names the limit and the shard share" ;;
*) fail "no rate Warning naming the share: $RESP" ;;
esac
[ -n "$(rcli --scan --pattern "pr:{q$RK}:rate:fabrikam.com:*")" ] || fail "no rate counter in shard $RK"
pass "rate counter in shard $RK"

# ---- disable-push / enable-push write every copy ----
pr_ctl disable-push --domain contoso.com --fcm >/dev/null || fail "disable-push --fcm"
assert_eq "$(same_n 0)" "$(copy_field contoso.com fcm)" "fcm in every copy after disable-push --fcm"
assert_eq 0 "$(copy_diff contoso.com)" "copies differing after disable-push --fcm"
pr_msg "$T/f1" id=fcm-off provider=fcm param=example-lync prid=fcm-off-token
pr_expect_status 403 "$T/f1" "FCM MESSAGE after disable-push --fcm"
pr_ctl disable-push --domain contoso.com >/dev/null || fail "disable-push"
assert_eq "$(same_n 0)" "$(copy_field contoso.com enabled)" "enabled in every copy after disable-push"
pr_enable contoso.com edge.contoso.com
assert_eq "$(same_n 1)" "$(copy_field contoso.com enabled)" "enabled in every copy after enable-push"
assert_eq "$(same_n 1)" "$(copy_field contoso.com fcm)" "fcm in every copy after enable-push"
pr_msg "$T/f2" id=fcm-on provider=fcm param=example-lync prid=fcm-off-token
pr_expect_status 202 "$T/f2" "FCM MESSAGE after enable-push"

# ---- a deleted copy: the listener refuses, show-push says so, enable-push repairs ----
# (403 for a shard without a copy only once the listener's start-up pass over
# the copies ended: see the restart below for the answer before)
grep -q 'tenant: shard copies of .* checked' "$T/relay.log" || fail "the listener logged no pass over the copies"
AK=$(pr_shard_of apns "$A1")
rcli DEL "$(pr_qkey "$AK" tenant:contoso.com)" >/dev/null
pr_msg "$T/m1" id=copy-gone prid="$A1"
pr_expect_status 403 "$T/m1" "MESSAGE whose shard lost its copy of the record"
ctl show-push --domain contoso.com >"$T/show.out" 2>"$T/show.err" || fail "show-push: $(cat "$T/show.err")"
grep -q "contoso.com: 1 of 8 queue shard copies differ" "$T/show.err" || fail "show-push did not report the copy: $(cat "$T/show.err")"
grep -q "enable-push --domain contoso.com" "$T/show.err" || fail "show-push did not say how to repair: $(cat "$T/show.err")"
assert_eq 1 "$(ctl show-push --domain contoso.com --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stale_copies"])')" \
    "stale_copies in show-push --json"
pr_enable contoso.com edge.contoso.com
assert_eq 0 "$(copy_diff contoso.com)" "copies differing after enable-push ran again"
ctl show-push --domain contoso.com >/dev/null 2>"$T/show.err" || fail "show-push"
[ ! -s "$T/show.err" ] || fail "show-push still warns: $(cat "$T/show.err")"
pr_msg "$T/m2" id=copy-back prid="$A1"
pr_expect_status 202 "$T/m2" "MESSAGE after enable-push repaired the copy"

# ---- a copy that cannot be written: exit 1 naming the shard and the Redis ----
rcli DEL "$(pr_qkey 3 tenant:contoso.com)" >/dev/null
rcli SET "$(pr_qkey 3 tenant:contoso.com)" not-a-hash >/dev/null
if ctl enable-push --domain contoso.com --edge-fqdn edge.contoso.com >"$T/en.out" 2>"$T/en.err"; then
    fail "enable-push passed with shard 3's copy unwritable"
fi
grep -q "shard 3 (pr:{q3}:tenant:contoso.com) at 127.0.0.1:$REDIS_PORT" "$T/en.err" ||
    fail "enable-push did not name the shard and Redis: $(cat "$T/en.err")"
grep -q "1 of 8 queue shard copies" "$T/en.err" || fail "enable-push did not count the copies: $(cat "$T/en.err")"
pass "enable-push exits 1 naming shard 3 at 127.0.0.1:$REDIS_PORT"
assert_eq 1 "$(copy_diff contoso.com)" "copies differing: only shard 3's (the others written)"
rcli DEL "$(pr_qkey 3 tenant:contoso.com)" >/dev/null
pr_enable contoso.com edge.contoso.com
assert_eq 0 "$(copy_diff contoso.com)" "copies differing after enable-push ran again"

# ---- the listener repairs copies on reload (SIGHUP) and at start ----
repairs() { grep -c 'tenant: shard copies of 2 domains checked: 16 copies in 8 shards' "$T/relay.log" || true; }
repaired_n() { grep -c "tenant: shard copies of 2 domains checked: 16 copies in 8 shards, $1 repaired" "$T/relay.log" || true; }
rcli DEL "$(pr_qkey 1 tenant:contoso.com)" >/dev/null
rcli HSET "$(pr_qkey 6 tenant:fabrikam.com)" enabled 0 >/dev/null
assert_eq 1 "$(copy_diff contoso.com)" "contoso.com copies differing before the reload"
assert_eq 1 "$(copy_diff fabrikam.com)" "fabrikam.com copies differing before the reload"
ctl show-push >"$T/show-all.out" 2>"$T/show-all.err" || fail "show-push: $(cat "$T/show-all.err")"
for d in contoso.com fabrikam.com; do
    grep -q "^pushrelayctl: $d: 1 of 8 queue shard copies differ" "$T/show-all.err" ||
        fail "show-push (all domains) did not report $d: $(cat "$T/show-all.err")"
done
pass "show-push (all domains) reports one stale copy for each of the two domains"
BEFORE=$(repaired_n 2)
kill -HUP "$RELAY_PID"
reload_repaired() { [ "$(repaired_n 2)" -gt "$BEFORE" ]; }
pr_wait_for 60 reload_repaired || fail "no repair logged after SIGHUP: $(grep tenant: "$T/relay.log" | tail -3)"
assert_eq 0 "$(copy_diff contoso.com)" "contoso.com copies differing after SIGHUP"
assert_eq 0 "$(copy_diff fabrikam.com)" "fabrikam.com copies differing after SIGHUP"
pass "SIGHUP: $(grep 'tenant: shard copies' "$T/relay.log" | tail -1 | sed 's/.*tenant: //')"

pr_stop_relay
for ((k = 0; k < S; k++)); do rcli DEL "$(pr_qkey "$k" tenant:contoso.com)" >/dev/null; done
assert_eq 8 "$(copy_diff contoso.com)" "contoso.com copies differing with the listener stopped"
BEFORE=$(repaired_n 8)
pr_start_relay listener
start_repaired() { [ "$(repaired_n 8)" -gt "$BEFORE" ]; }
pr_wait_for 60 start_repaired || fail "no repair logged at start: $(grep tenant: "$T/relay.log" | tail -3)"
assert_eq 0 "$(copy_diff contoso.com)" "contoso.com copies differing after the restart"
pr_msg "$T/m3" id=after-restart prid="$A1"
pr_expect_status 202 "$T/m3" "MESSAGE after the restart repaired the copies"

# ---- until a pass over the copies ended, a shard without a copy answers 503 ----
# A copy the pass cannot write (not a hash) makes the start-up pass fail:
# the listener cannot tell a domain never enabled from a copy not written
# yet, so northwind.com (never enabled) is answered 503 + Retry-After: 1.
pr_gen_edge edge.northwind.com
pr_msg "$T/nw" domain=northwind.com id=northwind-1
pr_stop_relay
rcli DEL "$(pr_qkey 3 tenant:contoso.com)" >/dev/null
rcli SET "$(pr_qkey 3 tenant:contoso.com)" not-a-hash >/dev/null
failed_n() { grep -c 'tenant: shard copies of 2 domains checked: 16 copies in 8 shards, 0 repaired, 1 failed' "$T/relay.log" || true; }
BEFORE=$(failed_n)
pr_start_relay listener
start_failed() { [ "$(failed_n)" -gt "$BEFORE" ]; }
pr_wait_for 60 start_failed || fail "no failed pass logged at start: $(grep tenant: "$T/relay.log" | tail -3)"
PR_EDGE=edge.northwind.com pr_expect_status 503 "$T/nw" "never-enabled domain before a pass over the copies ended"
assert_eq 1 "$(pr_header "$RESP" Retry-After)" "Retry-After while the copies are not checked"
[[ "$(pr_header "$RESP" Warning)" == *"being copied to the queue shards"* ]] || fail "503 Warning: $RESP"
pr_expect_status 202 "$T/m3" "an enabled domain meanwhile (its copy is there)"
rcli DEL "$(pr_qkey 3 tenant:contoso.com)" >/dev/null
BEFORE=$(repaired_n 1)
kill -HUP "$RELAY_PID"
hup_repaired() { [ "$(repaired_n 1)" -gt "$BEFORE" ]; }
pr_wait_for 60 hup_repaired || fail "no repair logged after SIGHUP: $(grep tenant: "$T/relay.log" | tail -3)"
PR_EDGE=edge.northwind.com pr_expect_status 403 "$T/nw" "never-enabled domain once the pass ended"

# ---- queue depths summed over the shards: /metrics and stats ----
rcli ZADD "$(pr_qkey 2 retry)" 1 r-a >/dev/null
rcli ZADD "$(pr_qkey 6 retry)" 1 r-b >/dev/null
rcli XADD "$(pr_qkey 5 dead)" '*' reason test >/dev/null
APNS_N=$(pr_xlen apns)
FCM_N=$(pr_xlen fcm)
metrics() { curl -sS "http://127.0.0.1:$MON_PORT/metrics"; }
metrics >"$T/metrics.txt"
grep -qx "pushrelay_queue_length{provider=\"apns\"} $APNS_N" "$T/metrics.txt" ||
    fail "apns queue length not $APNS_N: $(grep queue_length "$T/metrics.txt")"
grep -qx "pushrelay_queue_length{provider=\"fcm\"} $FCM_N" "$T/metrics.txt" ||
    fail "fcm queue length not $FCM_N: $(grep queue_length "$T/metrics.txt")"
grep -qx "pushrelay_retry_set_size 2" "$T/metrics.txt" || fail "retry set size: $(grep retry_set "$T/metrics.txt")"
grep -qx "pushrelay_dead_letters 1" "$T/metrics.txt" || fail "dead letters: $(grep dead_letters "$T/metrics.txt")"
pass "/metrics: apns $APNS_N, fcm $FCM_N queued, 2 to retry, 1 dead letter over 8 shards"
ctl stats --json >"$T/stats.json" || fail "stats --json"
assert_eq "$((APNS_N + FCM_N)) $APNS_N $FCM_N 2 1" "$(python3 -c '
import json, sys
q = json.load(open(sys.argv[1]))["queue"]
print(q["total"], q["providers"]["apns"], q["providers"]["fcm"], q["retry_set"], q["dead_letters"])' "$T/stats.json")" \
    "stats --json queue: total, apns, fcm, retry set, dead letters"
ctl stats >"$T/stats.txt" || fail "stats"
grep -q "^queue now *$((APNS_N + FCM_N)) *$APNS_N *$FCM_N " "$T/stats.txt" || fail "stats table queue row: $(grep queue "$T/stats.txt")"
pass "stats: the queue summed over the shards"
