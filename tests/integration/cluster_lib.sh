# shellcheck shell=bash
# cluster_lib.sh - a real Redis Cluster for integration tests. Source it
# after lib.sh:
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/cluster_lib.sh"
#
#   pr_cluster_start [PRIMARIES]      PRIMARIES primaries (default 3), one replica
#                                     each, every node on free loopback ports
#                                     (client and bus), made with redis-cli
#                                     --cluster create; returns when every node
#                                     says cluster_state:ok and each replica is
#                                     in sync. Sets CLUSTER_PORTS (all nodes),
#                                     CLUSTER_SEEDS ("127.0.0.1:p", ... for a
#                                     libconfig list), CLUSTER_PID[port].
#   ccli PORT ARGS                    redis-cli on one node
#   pr_cluster_primaries              the primaries' ports, one a line
#   pr_cluster_node_of_slot SLOT      the port of the primary serving SLOT
#   pr_cluster_keyslot KEY            CLUSTER KEYSLOT, as the cluster computes it
#   pr_cluster_kill_primary PORT      kill -9 it; returns once its replica is the
#                                     primary and every live node says ok.
#                                     Sets PROMOTED_PORT.
#   pr_cluster_restart_node PORT      start a killed node again (its nodes.conf
#                                     and AOF): a killed primary comes back as a
#                                     replica of its promoted one; returns once
#                                     it is in sync.
#   pr_cluster_migrate_begin SLOT FROM TO   SETSLOT IMPORTING / MIGRATING
#   pr_cluster_migrate_keys SLOT FROM TO N  MIGRATE up to N of the slot's keys
#   pr_cluster_migrate_end SLOT TO          SETSLOT NODE on every primary
#
# Every node is stopped by lib.sh's cleanup (pr_track). Nodes time out
# after PR_CLUSTER_NODE_TIMEOUT_MS (default 5000, as in the README's
# recipe): short enough that a failover takes seconds, long enough that a
# busy test machine does not trigger one by itself.

declare -A CLUSTER_PID=() CLUSTER_BUS=()
CLUSTER_PORTS=()
CLUSTER_SEEDS=
PR_CLUSTER_NODE_TIMEOUT_MS=${PR_CLUSTER_NODE_TIMEOUT_MS:-5000}

ccli() { local p=$1; shift; redis-cli -p "$p" "$@"; }

# pr_cluster__node PORT BUSPORT: one cluster-enabled redis-server, data in $T/node-PORT.
pr_cluster__node() {
    local port=$1 bus=$2
    mkdir -p "$T/node-$port"
    redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --dir "$T/node-$port" \
        --cluster-enabled yes --cluster-config-file "$T/node-$port/nodes.conf" \
        --cluster-node-timeout "$PR_CLUSTER_NODE_TIMEOUT_MS" --cluster-replica-validity-factor 0 \
        --save "" --appendonly yes --appendfsync everysec --repl-diskless-sync-delay 0 \
        --daemonize no >>"$T/node-$port.log" 2>&1 &
    CLUSTER_PID[$port]=$!
    CLUSTER_BUS[$port]=$bus
    pr_track "${CLUSTER_PID[$port]}"
}

# pr_cluster__all_ok: every live node says cluster_state:ok and knows every node.
pr_cluster__all_ok() {
    local p
    for p in "${CLUSTER_PORTS[@]}"; do
        kill -0 "${CLUSTER_PID[$p]}" 2>/dev/null || continue
        ccli "$p" CLUSTER INFO | grep -q '^cluster_state:ok' || return 1
    done
}

pr_cluster_start() {
    local primaries=${1:-3} n p addrs=()
    n=$((primaries * 2))
    for _ in $(seq "$n"); do
        p=$(pr_free_port)
        pr_cluster__node "$p" "$(pr_free_port)"
        CLUSTER_PORTS+=("$p")
        addrs+=("127.0.0.1:$p")
    done
    for p in "${CLUSTER_PORTS[@]}"; do pr_wait_port "$p"; done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
        >"$T/cluster-create.log" 2>&1 || fail "redis-cli --cluster create failed (see cluster-create.log)"
    pr_wait_for "$PR_WAIT_S" pr_cluster__all_ok || fail "the cluster did not reach cluster_state:ok"
    # Replicas in sync: a failover then loses nothing written before.
    pr_wait_for "$PR_WAIT_S" sh -c "[ \$(for p in ${CLUSTER_PORTS[*]}; do redis-cli -p \$p INFO replication; done |
                                        grep -c master_link_status:up) -eq $primaries ]" ||
        fail "the replicas did not sync"
    pr_wait_for "$PR_WAIT_S" sh -c "[ \$(redis-cli -p ${CLUSTER_PORTS[0]} CLUSTER NODES | grep -c connected) -eq $n ]" ||
        fail "the nodes do not all see each other"
    # ... and agree on who is a primary (roles spread by gossip after create)
    pr_wait_for "$PR_WAIT_S" sh -c "for p in ${CLUSTER_PORTS[*]}; do
            [ \$(redis-cli -p \$p CLUSTER NODES | awk '\$3 ~ /master/ && NF >= 9' | wc -l) -eq $primaries ] &&
            [ \$(redis-cli -p \$p CLUSTER NODES | awk '\$3 ~ /slave/' | wc -l) -eq $primaries ] || exit 1
        done" || fail "the nodes do not agree on the primaries"
    CLUSTER_SEEDS=$(printf '"127.0.0.1:%s", ' "${CLUSTER_PORTS[@]:0:3}")
    CLUSTER_SEEDS=${CLUSTER_SEEDS%, }
    pass "cluster of $primaries primaries and $primaries replicas on ${CLUSTER_PORTS[*]}"
}

# pr_cluster__any_live: a node that is up, to ask about the cluster.
pr_cluster__any_live() {
    local p
    for p in "${CLUSTER_PORTS[@]}"; do
        kill -0 "${CLUSTER_PID[$p]}" 2>/dev/null && ccli "$p" PING >/dev/null 2>&1 && { echo "$p"; return; }
    done
    fail "no cluster node is up"
}

# Each node is asked about itself (its "myself" line, its ROLE): another
# node's view of roles and slots may lag behind by a gossip round.
pr_cluster__myself() { ccli "$1" CLUSTER NODES 2>/dev/null | grep myself; }

pr_cluster_primaries() {
    local p
    for p in "${CLUSTER_PORTS[@]}"; do
        kill -0 "${CLUSTER_PID[$p]}" 2>/dev/null || continue
        [ "$(ccli "$p" ROLE 2>/dev/null | head -n 1)" = master ] || continue
        pr_cluster__myself "$p" | awk 'NF >= 9 { found = 1 } END { exit !found }' && echo "$p"
    done
    return 0
}

pr_cluster_keyslot() { ccli "$(pr_cluster__any_live)" CLUSTER KEYSLOT "$1"; }

pr_cluster_node_of_slot() {
    local p
    for p in $(pr_cluster_primaries); do
        pr_cluster__myself "$p" | awk -v s="$1" '{
            for (i = 9; i <= NF; i++) {
                if ($i ~ /^\[/) continue        # a migrating/importing marker
                n = split($i, r, "-"); lo = r[1]; hi = (n == 2 ? r[2] : r[1])
                if (s + 0 >= lo + 0 && s + 0 <= hi + 0) found = 1
            }
        } END { exit !found }' && { echo "$p"; return 0; }
    done
    return 0
}

pr_cluster_kill_primary() {
    local port=$1 id replica
    id=$(ccli "$port" CLUSTER MYID)
    replica=$(ccli "$port" CLUSTER NODES | awk -v m="$id" '$4 == m { split($2, a, "@"); split(a[1], b, ":"); print b[2] }')
    [ -n "$replica" ] || fail "primary $port has no replica to promote"
    kill -9 "${CLUSTER_PID[$port]}"
    wait "${CLUSTER_PID[$port]}" 2>/dev/null || true
    pr_wait_for "$PR_WAIT_S" sh -c "redis-cli -p $replica ROLE | head -1 | grep -qx master" ||
        fail "replica $replica was not promoted after primary $port was killed"
    pr_wait_for "$PR_WAIT_S" pr_cluster__all_ok || fail "the cluster did not settle after the failover"
    PROMOTED_PORT=$replica
    pass "primary $port killed -9; replica $replica promoted"
}

pr_cluster_migrate_begin() {
    local slot=$1 from=$2 to=$3
    ccli "$to" CLUSTER SETSLOT "$slot" IMPORTING "$(ccli "$from" CLUSTER MYID)" | grep -qx OK ||
        fail "SETSLOT $slot IMPORTING on $to"
    ccli "$from" CLUSTER SETSLOT "$slot" MIGRATING "$(ccli "$to" CLUSTER MYID)" | grep -qx OK ||
        fail "SETSLOT $slot MIGRATING on $from"
}

pr_cluster_migrate_keys() {
    local slot=$1 from=$2 to=$3 n=$4 keys
    mapfile -t keys < <(ccli "$from" CLUSTER GETKEYSINSLOT "$slot" "$n")
    [ "${#keys[@]}" -gt 0 ] || return 0
    ccli "$from" MIGRATE 127.0.0.1 "$to" "" 0 10000 KEYS "${keys[@]}" | grep -Eqx 'OK|NOKEY' ||
        fail "MIGRATE of slot $slot from $from to $to"
}

pr_cluster_migrate_end() {
    local slot=$1 to=$2 id p
    id=$(ccli "$to" CLUSTER MYID)
    # The target first, then the others (the specification's order): the
    # source then answers MOVED for the slot at once.
    ccli "$to" CLUSTER SETSLOT "$slot" NODE "$id" | grep -qx OK || fail "SETSLOT $slot NODE on $to"
    for p in $(pr_cluster_primaries); do
        [ "$p" = "$to" ] || ccli "$p" CLUSTER SETSLOT "$slot" NODE "$id" >/dev/null
    done
}

pr_cluster_restart_node() {
    local port=$1
    pr_cluster__node "$port" "${CLUSTER_BUS[$port]}"
    pr_wait_port "$port"
    pr_wait_for "$PR_WAIT_S" sh -c "redis-cli -p $port INFO replication | grep -q master_link_status:up" ||
        fail "node $port did not come back as an in-sync replica"
    pr_wait_for "$PR_WAIT_S" pr_cluster__all_ok || fail "the cluster did not settle after node $port came back"
    pass "node $port back, a replica in sync"
}
