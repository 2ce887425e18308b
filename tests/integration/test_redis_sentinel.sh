#!/usr/bin/env bash
# test_redis_sentinel.sh - Redis through Sentinel: a primary, a replica and
# three sentinels (redis-server --sentinel) on loopback; pushrelayd (listener
# and dispatcher) and pushrelayctl find the primary through the sentinels
# only. Under steady SIP load the primary is killed -9:
#
#   * the relay answers 503 + Retry-After while there is no primary, never
#     exits, and answers 202 again once the sentinels promoted the replica
#     and it has a replica of its own again (the old primary, restarted:
#     with redis.wait_replicas = 1 a 202 needs one);
#   * every MESSAGE answered 202 is delivered (duplicates are counted and
#     printed, not refused: delivery is at least once);
#   * how long the listener answered 503 is printed.
# Then a planned failover (SENTINEL FAILOVER) under load: the relay follows
# the +switch-master announcement; again every 202 is delivered. Last, the
# trade redis.wait_replicas = 0 makes: the primary killed -9 again under
# load, and the 202s the promoted replica never received are counted and
# printed (possibly none: that is luck, not a guarantee).
. "$(dirname "$0")/lib.sh"

N=${PR_SENTINEL_N:-4000}

pr_gen_certs
pr_gen_edge edge.contoso.com
pr_start_redis
OLD_PRIMARY=$REDIS_PORT
pr_start_replica --appendonly yes --appendfsync everysec

pr_start_sentinels
pass "primary $OLD_PRIMARY, replica $REPLICA_PORT, sentinels ${SENTINEL_PORTS[*]}"

PR_LOG_LEVEL=info pr_start_sandbox
# The relay knows only the sentinels.
pr_write_config "$T/relay.conf"
sed -i "s/^redis = { .* };\$/redis = { sentinels = [ $SENTINEL_LIST ]; master_name = \"pushrelay\"; prefix = \"pr:\"; wait_replicas = 1; wait_timeout_ms = 500; };/" "$T/relay.conf"
grep -q 'sentinels = \[ "127.0.0.1' "$T/relay.conf" || fail "could not write the sentinel config"
grep -q '^redis = .*port = ' "$T/relay.conf" && fail "the test config still names a Redis port"
pr_start_relay all
PID_BEFORE=$RELAY_PID
pr_enable contoso.com edge.contoso.com
assert_eq 1 "$(rcli SISMEMBER pr:tenants contoso.com)" "pushrelayctl wrote the tenant to the primary"
pr_start_stunnel edge.contoso.com
grep -q "sentinel: primary of \"pushrelay\" is 127.0.0.1:$OLD_PRIMARY" "$T/relay.log" ||
    fail "the relay did not learn the primary from a sentinel"

now_ms() { date +%s%3N; }

echo "== steady load: $N MESSAGEs at 100/s"
pr_load_start sn "$N" 100 600
pr_load_wait 300 "before the failover"

echo "== kill -9 of the primary"
T_KILL=$(now_ms)
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
# Probe with single MESSAGEs while the sentinels fail over: when did 503s start and stop?
first_503=0 first_202=0 promoted=0 k=0 restarted=0
for _ in $(seq 1200); do
    k=$((k + 1))
    pr_msg "$T/probe" id="probe-$k"
    RESP=$(pr_sip_request "$T/probe") || true
    st=$(pr_status "$RESP")
    if [ "$st" = 503 ] && [ "$first_503" = 0 ]; then
        first_503=$(now_ms)
        RA=$(pr_header "$RESP" Retry-After)
        [[ $RA =~ ^[0-9]+$ ]] || fail "503 without a numeric Retry-After: $RESP"
    fi
    if [ "$st" = 202 ] && [ "$first_503" != 0 ]; then first_202=$(now_ms); echo "probe-$k" >>"$T/probes"; break; fi
    [ "$st" = 202 ] && echo "probe-$k" >>"$T/probes"
    if [ "$promoted" = 0 ] && scli SENTINEL get-master-addr-by-name pushrelay | grep -qx "$REPLICA_PORT"; then
        promoted=$(now_ms)
        echo "sentinels promoted the replica $((promoted - T_KILL)) ms after the kill"
        # The old primary comes back (its AOF) and the sentinels make it a replica:
        # the new primary can then acknowledge WAIT 1 again.
        REDIS_PORT=$OLD_PRIMARY pr_start_redis
        redis-cli -p "$OLD_PRIMARY" CONFIG SET repl-diskless-sync-delay 0 >/dev/null || true
        restarted=1
    fi
    kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited during the failover"
    sleep 0.1
done
[ "$promoted" != 0 ] || fail "the sentinels never promoted the replica"
[ "$first_503" != 0 ] || fail "no 503 was seen after the kill: the failover was not observed"
[ "$first_202" != 0 ] || fail "no 202 within the ceiling after the failover"
REDIS_PORT=$REPLICA_PORT    # rcli now reads the new primary
echo "FAILOVER: 503 from $((first_503 - T_KILL)) ms to $((first_202 - T_KILL)) ms after the kill" \
     "($(( (first_202 - first_503) / 1000 )).$(( (first_202 - first_503) % 1000 / 100 )) s of 503;" \
     "promotion at $((promoted - T_KILL)) ms, then the old primary restarted as a replica)"
grep -q "sentinel announced a failover: primary of \"pushrelay\" is 127.0.0.1:$REPLICA_PORT\|sentinel: primary of \"pushrelay\" is 127.0.0.1:$REPLICA_PORT" "$T/relay.log" ||
    fail "the relay never switched to the promoted replica"
pass "relay follows the new primary: $(grep -m1 "is 127.0.0.1:$REPLICA_PORT" "$T/relay.log" | cut -c1-140)"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"

echo "== the load finishes"
wait "$LOAD_JOB" || fail "sipp: a MESSAGE got no answer or an unexpected one"
mv "$LOAD_LOG" "$T/status-kill.log"
REFUSED=$(grep -c ' 503 ' "$T/status-kill.log" || true)
echo "load: $(grep -c ' 202 ' "$T/status-kill.log") accepted, $REFUSED answered 503 (about $((REFUSED / 100)) s at 100/s)"
[ "$REFUSED" -gt 0 ] || fail "no MESSAGE of the load was refused: the failover did not happen under load"

echo "== a planned failover (SENTINEL FAILOVER) under load: followed through +switch-master"
pr_wait_for 60 sh -c "[ \$(redis-cli -p $OLD_PRIMARY INFO replication | grep -c master_link_status:up) = 1 ]" ||
    fail "the old primary did not become a replica of the new one"
pr_load_start sw 1500 100 600
pr_load_wait 200 "before the planned failover"
scli SENTINEL FAILOVER pushrelay | grep -q OK || fail "SENTINEL FAILOVER refused"
pr_wait_for 60 sh -c "redis-cli -p ${SENTINEL_PORTS[0]} SENTINEL get-master-addr-by-name pushrelay | grep -qx $OLD_PRIMARY" ||
    fail "the planned failover did not promote the old primary back"
wait_log() { grep -q "sentinel announced a failover: primary of \"pushrelay\" is 127.0.0.1:$OLD_PRIMARY" "$T/relay.log"; }
pr_wait_for 60 wait_log || fail "the relay did not follow the +switch-master announcement"
pass "relay followed the announcement: $(grep -m1 "announced a failover: primary of \"pushrelay\" is 127.0.0.1:$OLD_PRIMARY" "$T/relay.log" | cut -c1-150)"
REDIS_PORT=$OLD_PRIMARY
wait "$LOAD_JOB" || fail "sipp: a MESSAGE got no answer or an unexpected one"
echo "planned failover load: $(grep -c ' 202 ' "$LOAD_LOG") accepted, $(grep -c ' 503 ' "$LOAD_LOG" || true) answered 503"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"

echo "== every 202 of both failovers is delivered"
{ cat "$T/status-kill.log" "$LOAD_LOG" | grep ' 202 ' | awk '{print $3}'; cat "$T/probes" 2>/dev/null || true; } | sort -u >"$T/accepted"
delivered_all() {
    ! comm -23 "$T/accepted" <(pr_record_ids "$T/sandbox.jsonl" | sort -u) | grep -q .
}
pr_wait_for 120 delivered_all || true
pr_audit_delivered "$T/accepted"

echo "== pushrelayctl finds the current primary through the sentinels"
pr_ctl show-push --domain contoso.com >/dev/null || fail "pushrelayctl show-push through the sentinels failed"
pass "pushrelayctl show-push after both failovers"
# Every admin command reaches the primary the sentinels name now.
pr_ctl enable-push --domain fabrikam.com --edge-fqdn edge.fabrikam.com >/dev/null ||
    fail "enable-push through the sentinels failed"
assert_eq 1 "$(rcli HGET pr:tenant:fabrikam.com enabled)" "fabrikam.com enabled on the current primary"
assert_eq 1 "$(rcli HGET 'pr:{q0}:tenant:fabrikam.com' enabled)" "its shard copy written"
pr_ctl disable-push --domain fabrikam.com >/dev/null || fail "disable-push through the sentinels failed"
assert_eq 0 "$(rcli HGET pr:tenant:fabrikam.com enabled)" "fabrikam.com disabled on the current primary"
for cmd in "stats" "tokens list" "dlq list"; do
    # shellcheck disable=SC2086
    pr_ctl $cmd >"$T/ctl-out" || fail "pushrelayctl $cmd through the sentinels failed: $(cat "$T/ctl-out")"
done
grep -q . "$T/ctl-out" || fail "pushrelayctl dlq list printed nothing"
pass "enable-push, disable-push, stats, tokens list and dlq list through the sentinels"

echo "== the same kill with wait_replicas = 0: 202s the promoted replica never got are lost"
pr_stop_relay
pr_start_sandbox                # the same port: the config names it
sed -i 's/wait_replicas = 1; wait_timeout_ms = 500;/wait_replicas = 0;/' "$T/relay.conf"
grep -q 'wait_replicas = 0;' "$T/relay.conf" || fail "could not set wait_replicas = 0"
pr_start_relay all
pr_wait_for 60 sh -c "redis-cli -p $REPLICA_PORT INFO replication | grep -q master_link_status:up" ||
    fail "the replica is not in sync before the second kill"
pr_load_start w0 3000 200 600
pr_load_wait 500 "before the second kill"
kill -9 "$REDIS_PID"            # the old primary, primary again since the planned failover
wait "$REDIS_PID" 2>/dev/null || true
pr_wait_for 60 sh -c "redis-cli -p ${SENTINEL_PORTS[0]} SENTINEL get-master-addr-by-name pushrelay | grep -qx $REPLICA_PORT" ||
    fail "the sentinels did not promote the replica after the second kill"
REDIS_PORT=$REPLICA_PORT
wait "$LOAD_JOB" || fail "sipp: a MESSAGE got no answer or an unexpected one"
grep ' 202 ' "$LOAD_LOG" | awk '{print $3}' | sort -u >"$T/accepted-w0"
ACCEPTED_W0=$(wc -l <"$T/accepted-w0")
[ "$ACCEPTED_W0" -ge 500 ] || fail "only $ACCEPTED_W0 MESSAGEs accepted around the second kill"
# Whatever the new primary holds is delivered; then nothing more can come.
queue_empty() {
    local k n=0
    for k in $(rcli --scan --pattern 'pr:{q*}:in:*'); do
        n=$((n + $(rcli XLEN "$k") + $(rcli XPENDING "$k" dispatch | head -1)))
    done
    for k in $(rcli --scan --pattern 'pr:{q*}:retry'); do n=$((n + $(rcli ZCARD "$k"))); done
    [ "$n" = 0 ]
}
pr_wait_for 120 queue_empty || fail "the promoted primary's queue did not drain"
pr_stop "$SANDBOX_PID"
LOST_W0=$(comm -23 "$T/accepted-w0" <(pr_record_ids "$T/sandbox.jsonl" | sort -u) | wc -l)
echo "WAIT0: with wait_replicas = 0, $LOST_W0 of $ACCEPTED_W0 MESSAGEs answered 202 were lost" \
     "in the kill -9 of the primary (with wait_replicas = 1 above: 0)"
pass "wait_replicas = 0 trade measured: $LOST_W0 lost of $ACCEPTED_W0"
