#!/usr/bin/env bash
# test_redis_wait.sh - replicated acknowledgement (redis.wait_replicas 1):
# a 202 means the notification reached a replica, so it survives the loss
# of the primary. With the replica stopped the listener answers 503 with
# Retry-After: 1; the edge's retry, once the replica is back, is answered
# 202 and queued once (the dedup key absorbs it).
. "$(dirname "$0")/lib.sh"

pr_gen_certs
pr_gen_edge edge.contoso.com
pr_start_redis
pr_start_replica --appendonly no
pass "replica in sync"

pr_write_config "$T/relay.conf"
sed -i 's/^redis = { \(.*\) };$/redis = { \1 wait_replicas = 1; wait_timeout_ms = 100; };/' "$T/relay.conf"
grep -q 'wait_replicas = 1;' "$T/relay.conf" || fail "could not set wait_replicas in the test config"
pr_start_relay listener
pr_enable contoso.com edge.contoso.com
replica_xlen() {     # the APNs streams of every shard, on the replica
    local key n=0
    for key in $(pr_stream_keys apns); do n=$(( n + $(redis-cli -p "$REPLICA_PORT" XLEN "$key") )); done
    echo "$n"
}

echo "== with the replica: 202, and the replica already holds the entry"
pr_msg "$T/one" id=wait-one
pr_expect_status 202 "$T/one" "MESSAGE with a replica in sync"
# No waiting here: WAIT made the 202 wait for the replica.
assert_eq 1 "$(replica_xlen)" "entries on the replica when the 202 arrived"

echo "== replica stopped: 503 Retry-After: 1"
pr_stop "$REPLICA_PID"
pr_msg "$T/two" id=wait-two
pr_expect_status 503 "$T/two" "MESSAGE with no replica to acknowledge"
assert_eq 1 "$(pr_header "$RESP" Retry-After)" "Retry-After"
pr_header "$RESP" Warning | grep -q "replicas acknowledged" ||
    fail "the 503 does not say replication fell short: $(pr_header "$RESP" Warning)"
pass "Warning: $(pr_header "$RESP" Warning)"
grep -q "WAIT 1: too few replicas acknowledged" "$T/relay.log" || fail "the shortfall was not logged"
kill -0 "$RELAY_PID" || fail "pushrelayd exited"

echo "== replica back: the edge's retry is 202 and queued once"
pr_start_replica --appendonly no
pr_expect_status 202 "$T/two" "the same MESSAGE resent once the replica is back"
assert_eq 2 "$(pr_xlen apns)" "entries on the primary (wait-one, wait-two once)"
assert_eq 2 "$(replica_xlen)" "entries on the replica when the 202 arrived"
pr_entries apns | python3 -c 'import json,sys
ids = sorted(dict(zip(kv[0::2], kv[1::2]))["id"] for _, kv in json.load(sys.stdin))
sys.exit(0 if ids == ["wait-one", "wait-two"] else 1)' || fail "stream does not hold wait-one and wait-two once each"
pass "each push queued exactly once"

echo "== a burst: every MESSAGE 202, each on the replica"
pr_start_stunnel edge.contoso.com
PR_CSV_TAG=w pr_gen_csv "$T/w.csv" 500
START=$(date +%s%3N)
PR_SIPP_RATE=1000 pr_sipp message 500 -inf "$T/w.csv" || fail "sipp: not every MESSAGE got 202 with wait_replicas 1"
echo "500 MESSAGEs with WAIT 1 in $(( $(date +%s%3N) - START )) ms (sipp at up to 1000/s)"
assert_eq 502 "$(replica_xlen)" "entries on the replica"
