#!/usr/bin/env bash
# test_cluster_e2e.sh - the whole relay on a Redis Cluster: 3 primaries and
# 3 replicas (redis-cli --cluster create), redis.shards = 16, pushrelayd
# (listener and dispatcher) and pushrelayctl knowing only three seed nodes,
# sipp as the edge, the sandbox as APNs. Every phase ends with an audit by
# push id: every MESSAGE answered 202 is delivered (duplicates counted and
# printed: delivery is at least once).
#
#   1. steady load: every 202 delivered exactly once, and the queue's keys
#      are on every primary (the shards spread);
#   2. a primary killed -9 under load with wait_replicas = 1: the listener
#      answers 503 (counted, and for how long) and never exits; the killed
#      node comes back as a replica of its promoted one; nothing answered 202
#      is lost;
#   3. the slot of a busy shard migrated under load (IMPORTING/MIGRATING,
#      its keys moved while they are written, SETSLOT NODE): nothing lost;
#   4. pushrelayctl in cluster mode: enable-push, show-push, disable-push,
#      stats, tokens list, dlq list, tokens reshard across primaries.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
PR_WHAT=test_cluster_e2e

N=${PR_CLUSTER_E2E_N:-1500}
SHARDS=16

pr_gen_certs
pr_gen_edge edge.contoso.com
pr_cluster_start 3
REDIS_PORT=${CLUSTER_PORTS[0]}      # pr_write_config wants one; replaced below
PR_LOG_LEVEL=info pr_start_sandbox
PR_LOG_LEVEL=info PR_REDIS_SHARDS=$SHARDS pr_write_config "$T/relay.conf"
sed -i "s/^redis = { .* };\$/redis = { cluster = [ $CLUSTER_SEEDS ]; password = \"\"; prefix = \"pr:\"; shards = $SHARDS; wait_replicas = 1; wait_timeout_ms = 500; };/" \
    "$T/relay.conf"
grep -q '^redis = { cluster = \[ "127.0.0.1' "$T/relay.conf" || fail "could not write the cluster config"
grep -q '^redis = .*port = ' "$T/relay.conf" && fail "the test config still names a Redis port"
pr_start_relay all
PID_BEFORE=$RELAY_PID
pr_enable contoso.com edge.contoso.com
pr_start_stunnel edge.contoso.com
pr_wait_log "$T/relay.log" "connected to Redis cluster \\(3 primaries" "$RELAY_PID"

now_ms() { date +%s%3N; }
# accepted LOG...: the push ids answered 202 in sipp status logs
accepted() { cat "$@" | grep ' 202 ' | awk '{print $3}' | sort -u; }
# delivered_all FILE: every id in FILE is in the sandbox's record
delivered_all() { ! comm -23 "$1" <(pr_record_ids "$T/sandbox.jsonl" | sort -u) | grep -q .; }
relay_alive() { kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited"; }

# ---- 1. steady load ----------------------------------------------------------
echo "== steady load: $N MESSAGEs at 200/s"
pr_load_start st "$N" 200 600
wait "$LOAD_JOB" || fail "sipp: a MESSAGE got no answer or an unexpected one"
mv "$LOAD_LOG" "$T/status-steady.log"
accepted "$T/status-steady.log" >"$T/accepted-steady"
assert_eq "$N" "$(wc -l <"$T/accepted-steady")" "MESSAGEs answered 202 with every primary up"
pr_wait_for 120 delivered_all "$T/accepted-steady" || fail "not every 202 was delivered"
DUPS=$(( $(pr_record_ids "$T/sandbox.jsonl" | wc -l) - $(pr_record_ids "$T/sandbox.jsonl" | sort -u | wc -l) ))
assert_eq 0 "$DUPS" "duplicates delivered with no fault"
for p in $(pr_cluster_primaries); do
    n=$(ccli "$p" --scan --pattern 'pr:{q*' | wc -l)
    [ "$n" -gt 0 ] || fail "primary $p holds no queue shard key"
done
pass "queue shard keys on every primary"

# ---- 2. a primary killed -9 under load ----------------------------------------
echo "== kill -9 of a primary under load (wait_replicas = 1)"
pr_load_start kl "$N" 100 600
pr_load_wait 200 "before the kill"
VICTIM=$(pr_cluster_node_of_slot "$(pr_cluster_keyslot 'pr:{q0}:in:apns')")
T_KILL=$(now_ms)
pr_cluster_kill_primary "$VICTIM"
T_PROMOTED=$(now_ms)
relay_alive
# The promoted primary has no replica until the old one is back: WAIT 1
# cannot be met for its shards, which answer 503 meanwhile.
pr_cluster_restart_node "$VICTIM"
T_BACK=$(now_ms)
wait "$LOAD_JOB" || fail "sipp: a MESSAGE got no answer or an unexpected one"
mv "$LOAD_LOG" "$T/status-kill.log"
REFUSED=$(grep -c ' 503 ' "$T/status-kill.log" || true)
echo "KILL: promotion $((T_PROMOTED - T_KILL)) ms after the kill, old primary back as a replica at $((T_BACK - T_KILL)) ms;" \
     "$(grep -c ' 202 ' "$T/status-kill.log") accepted, $REFUSED answered 503 (about $((REFUSED / 100)) s of 100/s)"
[ "$REFUSED" -gt 0 ] || fail "no MESSAGE was refused: the kill did not land under load"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"
relay_alive

# ---- 3. the slot of a busy shard migrated under load ---------------------------
echo "== migration of a busy shard's slot under load"
SLOT=$(pr_cluster_keyslot 'pr:{q3}:in:apns')
FROM=$(pr_cluster_node_of_slot "$SLOT")
TO=$(pr_cluster_primaries | grep -vx "$FROM" | head -n 1)
pr_load_start mg "$N" 100 600
pr_load_wait 200 "before the migration"
MAPS_BEFORE=$(grep -c 'cluster slot map from' "$T/relay.log" || true)
pr_cluster_migrate_begin "$SLOT" "$FROM" "$TO"
# Keys keep arriving (new ones are made on the target by ASK); move what the
# source holds until it holds nothing of the slot.
for _ in $(seq 100); do
    pr_cluster_migrate_keys "$SLOT" "$FROM" "$TO" 50
    [ "$(ccli "$FROM" CLUSTER COUNTKEYSINSLOT "$SLOT")" = 0 ] && break
done
assert_eq 0 "$(ccli "$FROM" CLUSTER COUNTKEYSINSLOT "$SLOT")" "keys of slot $SLOT left on $FROM"
pr_cluster_migrate_end "$SLOT" "$TO"
assert_eq "$TO" "$(pr_cluster_node_of_slot "$SLOT")" "owner of shard 3's slot $SLOT"
wait "$LOAD_JOB" || fail "sipp: a MESSAGE got no answer or an unexpected one"
mv "$LOAD_LOG" "$T/status-migrate.log"
echo "MIGRATE: $(grep -c ' 202 ' "$T/status-migrate.log") accepted, $(grep -c ' 503 ' "$T/status-migrate.log" || true) answered 503"
MAPS_AFTER=$(grep -c 'cluster slot map from' "$T/relay.log" || true)
[ "$MAPS_AFTER" -gt "$MAPS_BEFORE" ] || fail "the relay never read the changed slot map"
pass "the relay's connections read the new slot map ($((MAPS_AFTER - MAPS_BEFORE)) map changes logged)"
relay_alive

# ---- 4. pushrelayctl in cluster mode -----------------------------------------
echo "== pushrelayctl in cluster mode"
pr_ctl enable-push --domain fabrikam.com --edge-fqdn edge.fabrikam.com --apns >/dev/null ||
    fail "enable-push in cluster mode"
pr_ctl show-push --domain fabrikam.com | grep -q 'edge.fabrikam.com' || fail "show-push in cluster mode"
pr_ctl disable-push --domain fabrikam.com >/dev/null || fail "disable-push in cluster mode"
pr_ctl stats >/dev/null || fail "stats in cluster mode"
pr_ctl tokens list >/dev/null || fail "tokens list in cluster mode"
pr_ctl dlq list >/dev/null || fail "dlq list in cluster mode"
pass "enable-push, show-push, disable-push, stats, tokens list, dlq list"
# A dead-token record left in shard 0 (as a relay with fewer shards wrote
# it) for a token whose shard is served by another primary: tokens reshard
# moves it across nodes.
node_of() { pr_cluster_node_of_slot "$(pr_cluster_keyslot "$1")"; }
NODE0=$(node_of 'pr:{q0}:tokens')
for i in $(seq 10 99); do
    TOK=$(pr_hex "e41$i")
    K=$(PR_REDIS_SHARDS=$SHARDS pr_shard_of apns "$TOK")
    [ "$(node_of "pr:{q$K}:tokens")" = "$NODE0" ] || break
done
[ "$(node_of "pr:{q$K}:tokens")" != "$NODE0" ] || fail "no token with its shard on another primary"
ccli "$NODE0" HSET "pr:{q0}:token:apns:$TOK" reason Unregistered since_ms 1 domain contoso.com >/dev/null
ccli "$NODE0" ZADD 'pr:{q0}:tokens' 1 "pr:{q0}:token:apns:$TOK" >/dev/null
pr_ctl tokens reshard >"$T/reshard.out" || fail "tokens reshard in cluster mode"
grep -q "1 moved into their shards of redis.shards = $SHARDS" "$T/reshard.out" ||
    fail "tokens reshard did not move the record: $(cat "$T/reshard.out")"
assert_eq "Unregistered" "$(ccli "$(node_of "pr:{q$K}:tokens")" HGET "pr:{q$K}:token:apns:$TOK" reason)" \
    "the record in shard $K, on another primary"
assert_eq 0 "$(ccli "$NODE0" EXISTS "pr:{q0}:token:apns:$TOK")" "the record left in shard 0"

# ---- the audit -----------------------------------------------------------------
echo "== every 202 is delivered"
accepted "$T/status-steady.log" "$T/status-kill.log" "$T/status-migrate.log" >"$T/accepted"
pr_wait_for 180 delivered_all "$T/accepted" || true
pr_audit_delivered "$T/accepted"
