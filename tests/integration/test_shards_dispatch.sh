#!/usr/bin/env bash
# test_shards_dispatch.sh - the dispatcher over 8 queue shards (design
# sections 7 and 11): thousands of APNs and FCM notifications spread over
# every shard are delivered exactly once (sandbox record by push id, short
# of the duplicates a kill allows); retries (503, 429 markers) are
# scheduled in the retry zset of their own shard and moved back into that
# shard's stream; dead tokens are recorded in their shard; a dispatcher
# killed -9 with work pending in several shards is replaced by one that
# reclaims every shard. Redis's MONITOR feed is the audit: every
# MULTI/EXEC and every script names the keys of one shard only (the rule
# that lets the same code run on Redis Cluster).
#
# The kill lands mid-run by an event (the sandbox's hold gate closes after
# HOLD_AT deliveries), not a moment.
. "$(dirname "$0")/lib.sh"
export PR_REDIS_SHARDS=8
. "$(dirname "$0")/disp_lib.sh"
PR_WHAT=test_shards_dispatch

NA=3000         # APNs, tokens spread over the shards
NF=2000         # FCM
NR=12           # per provider: retried once, then delivered
ND=8            # APNs tokens the provider reports dead (410)
HOLD_AT=1500
disp_setup
disp_config "$T/pushrelay.conf" 500 1000 8

# The audit feed, ready once it answered OK.
redis-cli -p "$REDIS_PORT" MONITOR >"$T/monitor.log" 2>&1 &
MON_PID=$!
pr_track "$MON_PID"
wait_for 60 'head -1 "$T/monitor.log" | grep -q OK'

queue $NA --id-prefix a-
queue $NF --provider fcm --app test-android --id-prefix f-
for i in $(seq $ND); do
    queue 1 --token "$(apns_token e4100 "$i")" --id-prefix dead$i- --domain fabrikam.com
done

echo "== the notifications are spread over every shard"
for p in apns fcm; do
    used=0
    for ((k = 0; k < 8; k++)); do
        [ "$(rcli XLEN "pr:{q$k}:in:$p")" -gt 0 ] && used=$((used + 1))
    done
    assert_eq 8 "$used" "shards holding $p notifications"
done
assert_eq 0 "$(rcli EXISTS 'pr:{q}:in:apns' 'pr:{q}:in:fcm')" "entries in the pre-shard streams"

echo "== kill -9 while delivering"
sb_control "hold?after=$HOLD_AT" >/dev/null
disp_start "$T/pushrelay.conf" dispatcher-1
wait_for 120 '[ "$(sb_held)" -gt 0 ]'
kill -KILL "$DISP_PID"
wait "$DISP_PID" 2>/dev/null || true
DISP_PID=
PENDING=0
PSHARDS=0
for ((k = 0; k < 8; k++)); do
    n=0
    for p in apns fcm; do
        v=$(rcli XPENDING "pr:{q$k}:in:$p" dispatch | head -1)
        n=$((n + ${v:-0}))
    done
    [ "$n" -gt 0 ] && PSHARDS=$((PSHARDS + 1))
    PENDING=$((PENDING + n))
done
echo "killed with $PENDING entries pending in $PSHARDS shards"
[ "$PSHARDS" -ge 2 ] || fail "work pending in $PSHARDS shard(s) at the kill: not a multi-shard reclaim"
wait_for 60 '[ "$(sb_held)" = 0 ]'
sb_control release >/dev/null

echo "== a new dispatcher reclaims every shard"
disp_start "$T/pushrelay.conf" dispatcher-2
# Queued only now, so that no kill can land between a retry's answer and its write.
for i in $(seq $NR); do
    queue 1 --token "$(apns_token e5031 "$i")" --id-prefix ra$i-
    queue 1 --provider fcm --app test-android --token "e4291fcm$i" --id-prefix rf$i-
done
all_done() {
    [ "$(pr_qsum XLEN in:apns)" = 0 ] && [ "$(pr_qsum XLEN in:fcm)" = 0 ] &&
        [ "$(pr_qsum XPENDING in:apns dispatch)" = 0 ] && [ "$(pr_qsum XPENDING in:fcm dispatch)" = 0 ] &&
        [ "$(retry_len)" = 0 ]
}
wait_for 300 all_done
RECLAIMED=$(grep -o 'reclaimed [0-9]* idle entries from pr:{q[0-9]*}' "$T/dispatcher-2.log" |
            sed 's/.*from //' | sort -u | wc -l)
[ "$RECLAIMED" -ge "$PSHARDS" ] ||
    fail "reclaimed from $RECLAIMED shard(s), work was pending in $PSHARDS"
pass "the second dispatcher reclaimed entries in $RECLAIMED shards"
disp_stop_clean
kill "$MON_PID" 2>/dev/null || true
wait "$MON_PID" 2>/dev/null || true

echo "== every notification delivered"
sb_stop
pr_record_ids "$T/record.jsonl" >"$T/ids"
TOTAL=$(wc -l <"$T/ids")
DISTINCT=$(sort -u "$T/ids" | wc -l)
assert_eq $NF "$(sort -u "$T/ids" | grep -c '^f-')" "distinct FCM push ids delivered"
assert_eq $((NA + NF + 2 * NR)) "$DISTINCT" "distinct push ids delivered"
echo "duplicates: $((TOTAL - DISTINCT)) (delivered before the kill, acknowledged never)"
[ $((TOTAL - DISTINCT)) -le "$PENDING" ] || fail "more duplicates than entries pending at the kill"
pass "duplicates bounded by the entries in flight at the kill"
assert_eq 0 "$(dead_len)" "dead letters"

echo "== dead tokens recorded in their own shard"
for i in $(seq $ND); do
    tok=$(apns_token e4100 "$i")
    k=$(pr_shard_of apns "$tok")
    assert_eq Unregistered "$(rcli HGET "pr:{q$k}:token:apns:$tok" reason)" "dead token $i in shard $k"
    [ -n "$(rcli ZSCORE "pr:{q$k}:tokens" "pr:{q$k}:token:apns:$tok")" ] ||
        fail "dead token $i not in the index of shard $k"
done
assert_eq $ND "$(pr_qsum ZCARD tokens)" "dead-token index entries over all shards"

echo "== retries scheduled and moved back within their shard; one shard per transaction"
python3 - "$T/monitor.log" "$NR" <<'PY' || fail "audit of the Redis command feed failed"
import re, shlex, sys

FNV_OFF, FNV_PRIME = 2166136261, 16777619
def shard_of(prov, tok):
    h = FNV_OFF
    for b in prov.encode() + b"\0" + tok.encode():
        h = ((h ^ b) * FNV_PRIME) & 0xffffffff
    return h % 8

line_re = re.compile(r'^[0-9.]+ \[\d+ ([^\]]+)\] (.*)$')
tag_re = re.compile(r'\{q(\d*)\}')
open_tx, tx_count, tx_tags, bad = {}, 0, set(), []
retry_zadd, retry_move = {}, {}
scripts = 0
for raw in open(sys.argv[1], errors="replace"):
    m = line_re.match(raw.rstrip("\n"))
    if not m:
        continue
    client, rest = m.groups()
    try:
        argv = shlex.split(rest)
    except ValueError:
        continue
    if not argv:
        continue
    cmd = argv[0].upper()
    if cmd == "MULTI":
        open_tx[client] = set()
        continue
    if cmd in ("EXEC", "DISCARD") and client in open_tx:
        tags = open_tx.pop(client)
        if cmd == "EXEC":
            tx_count += 1
            tx_tags |= tags
            if len(tags) > 1:
                bad.append("transaction over shards %s" % sorted(tags))
        continue
    tags = set(tag_re.findall(" ".join(a for a in argv if a.startswith("pr:"))))
    if client in open_tx:
        open_tx[client] |= tags
    if cmd == "EVAL":
        scripts += 1
        keys = argv[3:3 + int(argv[2])]
        ktags = set(tag_re.findall(" ".join(keys)))
        if len(ktags) > 1:
            bad.append("script over shards %s" % sorted(ktags))
    # retries: ZADD <retry> <due> <json>, and the mover's XADD <stream> * id <id> ... (inside its script)
    if cmd == "ZADD" and argv[1].endswith(":retry"):
        mid = re.search(r'"id":"(r[af]\d+-0)"', argv[3])
        if mid:
            retry_zadd.setdefault(mid.group(1), set()).add(argv[1])
    if cmd == "XADD" and client == "lua" and len(argv) > 4 and argv[3] == "id" and argv[4].startswith("r"):
        retry_move.setdefault(argv[4], set()).add(argv[1])

nr = int(sys.argv[2])
for i in range(1, nr + 1):
    for pid, prov, tok in (("ra%d-0" % i, "apns", "e5031" + format(i, "0%dx" % (64 - 5))),
                           ("rf%d-0" % i, "fcm", "e4291fcm%d" % i)):
        k = shard_of(prov, tok)
        want_z, want_s = {"pr:{q%d}:retry" % k}, {"pr:{q%d}:in:%s" % (k, prov)}
        if retry_zadd.get(pid) != want_z:
            bad.append("%s scheduled in %s, its shard is %d" % (pid, retry_zadd.get(pid), k))
        if retry_move.get(pid) != want_s:
            bad.append("%s moved back to %s, its shard is %d" % (pid, retry_move.get(pid), k))
if tx_count < 20 or len(tx_tags) != 8:
    bad.append("only %d transactions over %d shards seen: nothing was audited" % (tx_count, len(tx_tags)))
if scripts == 0:
    bad.append("no script seen: the retry mover was not audited")
for b in bad[:10]:
    print("audit: " + b, file=sys.stderr)
print("audited %d transactions over %d shards, %d scripts, %d retries" %
      (tx_count, len(tx_tags), scripts, len(retry_zadd)))
sys.exit(1 if bad else 0)
PY
pass "retries stayed in their shard; every transaction and script named one shard"
