#!/usr/bin/env bash
# test_workers_basic.sh - pushrelayd --workers 2: one supervisor, two worker
# processes sharing the SIP port (SO_REUSEPORT) and the consumer group.
#
#   * the supervisor has exactly two children, and it is they (not the
#     supervisor) that hold the SIP port;
#   * MESSAGEs over many connections (sipp -t tn: one connection per call)
#     are answered 202 by both workers, and each is delivered exactly once;
#   * the one monitoring port counts the SIP requests of both workers
#     (pushrelay_federation_requests_total{worker="k"}, summing to N);
#   * the dispatch consumers are named <node_id>-0 and <node_id>-1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workers_lib.sh"

N=${PR_WORKERS_N:-1000}
wk_boot 2
assert_eq 2 "$(wk_pids | wc -l)" "worker processes under the supervisor"
for pid in $(wk_pids); do
    [ "$(ps -o args= -p "$pid" | grep -c -- '--worker ')" = 1 ] || fail "child $pid is not a worker: $(ps -o args= -p "$pid")"
done
# The supervisor itself does no relay work: no SIP socket in its descriptors.
sip_inode_owner() {
    local pid=$1 inode
    for inode in $(awk -v p="$(printf ':%04X' "$SIP_PORT")" '$2 ~ p"$" && $4 == "0A" {print $10}' /proc/net/tcp); do
        ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "socket:\[$inode\]" && return 0
    done
    return 1
}
sip_inode_owner "$RELAY_PID" && fail "the supervisor holds the SIP listening socket"
for pid in $(wk_pids); do
    sip_inode_owner "$pid" || fail "worker $pid holds no SIP listening socket"
done
pass "each worker, and not the supervisor, listens on the SIP port"

echo "== $N MESSAGEs, one connection each"
PR_CSV_TAG=w pr_gen_csv "$T/w.csv" "$N"
PR_SIPP_RATE=200 PR_SIPP_LIMIT=50 PR_SIPP_TIMEOUT=120 pr_sipp message_expect_any "$N" -inf "$T/w.csv" -t tn -max_socket 1000 ||
    fail "sipp: not every call completed"
pr_wait_for 60 wk_delivered_all "$T/sipp-message_expect_any-status.log" "$T/w.csv" ||
    fail "not every accepted MESSAGE delivered after 60 s: accepted $ACCEPTED, missing $LOST"
wk_audit "$T/sipp-message_expect_any-status.log" "$T/w.csv"
assert_eq "$N" "$ACCEPTED" "MESSAGEs answered 202"
assert_eq 0 "$LOST" "accepted MESSAGEs not delivered"
assert_eq 0 "$DUPS" "duplicate deliveries"

echo "== the one monitoring port"
for k in 0 1; do
    got=$(wk_metric pushrelay_federation_requests_total "worker=\"$k\"")
    [ -n "$got" ] && [ "$got" -gt 0 ] || fail "worker $k framed no SIP request (metrics: '$got'): SO_REUSEPORT did not spread the load"
    pass "worker $k framed $got SIP requests"
done
assert_eq "$N" "$(wk_metric pushrelay_federation_requests_total)" "SIP requests summed over both workers on /metrics"
assert_eq 2 "$(wk_metric pushrelay_worker_up)" "workers answering the supervisor"
assert_eq 2 "$(wk_metric pushrelay_workers)" "pushrelay_workers"
assert_eq ready "$(wk_readyz)" "/readyz"

echo "== consumer names <node_id>-<k>"
consumers=$(rcli XINFO CONSUMERS "$(pr_stream_key apns)" dispatch | awk 'prev == "name" {print} {prev = $0}' | sort | tr '\n' ' ')
assert_eq "test-1-0 test-1-1 " "$consumers" "consumers of group dispatch on the APNs stream"

WORKERS=$(wk_pids)
pr_stop "$RELAY_PID"
left=""
for pid in $WORKERS; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
assert_eq "" "$left" "workers left after the supervisor stopped"
