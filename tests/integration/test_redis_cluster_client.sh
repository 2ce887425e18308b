#!/usr/bin/env bash
# test_redis_cluster_client.sh - the relay's Redis connection (relay/rconn.c)
# in cluster mode against a real 3-primary / 3-replica Redis Cluster, driven
# by tests/tools/pr_rcluster (keys on every one of the 16384 slots; SET,
# WAIT 1, GET and check, a MULTI/EXEC and an EVAL per round). It knows only
# three seed nodes.
#
#   * every primary holds keys, and with a settled map no command was
#     redirected: the client's slots are the cluster's;
#   * a slot migrated mid-run (IMPORTING/MIGRATING, one key moved, then the
#     rest, then SETSLOT NODE): ASK is followed while the slot is split and
#     MOVED after, both counted (the test refuses to pass without them), and
#     a clean round after it finds every key;
#   * a transaction whose slot is split by a migration fails whole
#     (EXECABORT) and none is committed in part;
#   * a primary killed -9: its replica is promoted, the same client process
#     drops the dead node from its map and reads every key again in a clean
#     round; the rounds that failed meanwhile are counted (transient).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
PR_WHAT=test_redis_cluster_client

PER_SLOT=2
KEYS=$((PER_SLOT * 16384))

pr_cluster_start 3
SEED_ARGS=()
for p in "${CLUSTER_PORTS[@]:0:3}"; do SEED_ARGS+=(--seed "127.0.0.1:$p"); done

"$PR_BIN/pr_rcluster" "${SEED_ARGS[@]}" --per-slot "$PER_SLOT" --wait 1 \
    >"$T/tool.out" 2>"$T/tool.log" &
TOOL=$!
pr_track "$TOOL"

# last_round [FIELD]: the last round line, or one field of it.
last_round() {
    local line
    line=$(grep '^round ' "$T/tool.out" | tail -n 1)
    if [ $# -eq 0 ]; then echo "$line"; return; fi
    if [ "$1" = round ]; then echo "$line" | awk '{ print $2 }'; return; fi
    echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
# clean_after R: a round after R had no error of any kind and read every key.
clean_after() {
    grep '^round ' "$T/tool.out" | awk -v r="$1" -v n="$KEYS" '
        $2 > r && / set_err=0 / && / get_err=0 / && / missing=0 / && / corrupt=0 / &&
        / tx_err=0 / && $0 ~ (" get_ok=" n " ") { found = 1 } END { exit !found }'
}
tool_alive() { kill -0 "$TOOL" 2>/dev/null || fail "pr_rcluster exited: $(tail -n 5 "$T/tool.log")"; }

pr_wait_for 120 grep -qx ready "$T/tool.out" || { tool_alive; fail "no clean first round: $(last_round)"; }
pass "first clean round: $(grep -m1 '^round ' "$T/tool.out")"

# ---- keys on every primary, routed without a redirect ------------------------
for p in $(pr_cluster_primaries); do
    n=$(ccli "$p" DBSIZE)
    [ "$n" -gt 1000 ] || fail "primary $p holds only $n keys"
done
pass "every primary holds keys"
assert_eq 3 "$(last_round primaries)" "primaries in the client's map"
assert_eq 0 "$(last_round moved)" "MOVED replies with a settled map (client and cluster agree on slots)"
assert_eq 0 "$(last_round ask)" "ASK replies with a settled map"
assert_eq 1 "$(grep -m1 '^round ' "$T/tool.out" | tr ' ' '\n' | sed -n 's/^wait=//p')" \
    "replicas acknowledging the first round (WAIT to every primary written)"
# the same slot as Redis computes, for a hash-tagged and a plain key
for k in 'pr:{q7}:in:apns' 'pr:tenants' 'foo{bar}{zap}'; do
    [ "$(pr_cluster_keyslot "$k")" -ge 0 ] || fail "CLUSTER KEYSLOT $k"
done

# ---- a slot migrated mid-run ------------------------------------------------
SLOT=777
FROM=$(pr_cluster_node_of_slot "$SLOT")
TO=$(pr_cluster_primaries | grep -vx "$FROM" | head -n 1)
[ -n "$FROM" ] && [ -n "$TO" ] || fail "cannot find the owner of slot $SLOT and another primary"
assert_eq "$PER_SLOT" "$(ccli "$FROM" CLUSTER COUNTKEYSINSLOT "$SLOT")" "keys of slot $SLOT before the migration"
pr_cluster_migrate_begin "$SLOT" "$FROM" "$TO"
pr_cluster_migrate_keys "$SLOT" "$FROM" "$TO" 1
pass "slot $SLOT migrating from $FROM to $TO, one key moved"
pr_wait_for 120 sh -c "[ \"\$(grep '^round ' '$T/tool.out' | tail -n 1 | tr ' ' '\n' | sed -n 's/^ask=//p')\" -gt 0 ]" ||
    { tool_alive; fail "the client never followed an ASK: $(last_round)"; }
pass "ASK followed while the slot is split ($(last_round ask) so far)"
pr_cluster_migrate_keys "$SLOT" "$FROM" "$TO" 100
pr_cluster_migrate_end "$SLOT" "$TO"
assert_eq "$TO" "$(pr_cluster_node_of_slot "$SLOT")" "owner of slot $SLOT after the migration"
R=$(last_round round)
pr_wait_for 120 sh -c "[ \"\$(grep '^round ' '$T/tool.out' | tail -n 1 | tr ' ' '\n' | sed -n 's/^moved=//p')\" -gt 0 ]" ||
    { tool_alive; fail "the client never followed a MOVED: $(last_round)"; }
pass "MOVED followed after the migration ($(last_round moved) so far)"
pr_wait_for 120 clean_after "$R" || { tool_alive; fail "no clean round after the migration: $(last_round)"; }
assert_eq "$PER_SLOT" "$(ccli "$TO" CLUSTER COUNTKEYSINSLOT "$SLOT")" "keys of slot $SLOT on its new owner"
pass "every key read back after the migration"

# ---- a transaction's slot split by a migration -------------------------------
# Slot 0 holds one of the tool's MULTI/EXEC pairs (INCR {t}:a, INCR {t}:b,
# checked equal). With only ":a" moved, the ASK inside the transaction is
# not followed: Redis must refuse the EXEC whole (EXECABORT), and once the
# slot has moved every later transaction must find a == b again (none was
# committed in part).
TX_SLOT=0
FROM=$(pr_cluster_node_of_slot "$TX_SLOT")
TO=$(pr_cluster_primaries | grep -vx "$FROM" | head -n 1)
TXA=$(ccli "$FROM" CLUSTER GETKEYSINSLOT "$TX_SLOT" 100 | grep 'tx{.*}:a$' || true)
[ -n "$TXA" ] || fail "no transaction key in slot $TX_SLOT"
R=$(last_round round)
pr_cluster_migrate_begin "$TX_SLOT" "$FROM" "$TO"
ccli "$FROM" MIGRATE 127.0.0.1 "$TO" "$TXA" 0 10000 | grep -qx OK || fail "MIGRATE $TXA"
pr_wait_for 120 sh -c "grep '^round ' '$T/tool.out' | awk '\$2 > $R' | grep -q 'err=\"EXECABORT'" ||
    { tool_alive; fail "no EXECABORT for the split transaction: $(last_round)"; }
pass "a transaction split by a migration was refused whole (EXECABORT)"
pr_cluster_migrate_keys "$TX_SLOT" "$FROM" "$TO" 100
pr_cluster_migrate_end "$TX_SLOT" "$TO"
R=$(last_round round)
pr_wait_for 120 clean_after "$R" || { tool_alive; fail "no clean round after the second migration: $(last_round)"; }
pass "transactions whole again after slot $TX_SLOT moved (no partial commit)"

# ---- a primary killed -9 ----------------------------------------------------
VICTIM=$(pr_cluster_node_of_slot 0)
R=$(last_round round)
pr_cluster_kill_primary "$VICTIM"
tool_alive
R_PROMOTED=$(last_round round)
pr_wait_for 120 clean_after "$R_PROMOTED" ||
    { tool_alive; fail "no clean round after the promotion: $(last_round)"; }
tool_alive
grep -q "127.0.0.1:$VICTIM is no longer a primary" "$T/tool.log" ||
    fail "the client did not drop the killed primary $VICTIM from its map"
assert_eq 3 "$(last_round primaries)" "primaries in the client's map after the failover"
FAILED=$(grep '^round ' "$T/tool.out" | awk -v r="$R" '$2 > r && !/ set_err=0 .* get_err=0 /' | wc -l)
pass "every key read back after the promotion of $PROMOTED_PORT, same client process; rounds with transient errors: $FAILED"
echo "last round: $(last_round)"

pr_stop "$TOOL"
