#!/usr/bin/env bash
# test_workers_orphan.sh - kill -9 of the supervisor under load: no worker
# is left running unsupervised. Each notices the end of its link to the
# supervisor, drains like on SIGTERM and exits; nothing answered 202 is
# lost (the next supervisor delivers what is still in Redis).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workers_lib.sh"

N=${PR_WORKERS_N:-2400}
wk_boot 2

echo "== $N MESSAGEs from 8 edges at once; kill -9 the supervisor once $((N / 10)) are delivered"
wk_load_tenth "$N" orphan
kill -9 "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null || true
pass "supervisor killed with $(wk_recorded) of $N delivered"

all_gone() {
    local pid
    for pid in $WORKERS; do kill -0 "$pid" 2>/dev/null && return 1; done
    return 0
}
pr_wait_for 60 all_gone || fail "workers still running 60 s after the supervisor died: $WORKERS"
pass "both workers exited on their own"
for k in 0 1; do
    grep -q "worker $k: supervisor gone; stopping (finishing in-flight work)" "$T/relay.log" ||
        fail "worker $k did not drain on losing its supervisor"
done
pass "both workers drained on losing the supervisor"
assert_eq 2 "$(grep -c 'pushrelayd: stopped$' "$T/relay.log")" "workers that stopped cleanly"
pr_port_bound "$SIP_PORT" && fail "the SIP port is still bound"
pr_port_bound "$MON_PORT" && fail "the monitoring port is still bound"
pass "SIP and monitoring ports released"
wk_sipp_wait

echo "== the next supervisor delivers what was accepted and not yet delivered"
wk_start 2
pr_wait_for 60 wk_delivered_all "$T/sipp-orphan-*-status.log" "$T/orphan-*.csv" ||
    fail "accepted MESSAGEs not delivered after 60 s: accepted $ACCEPTED, missing $LOST"
wk_audit "$T/sipp-orphan-*-status.log" "$T/orphan-*.csv"
[ "$ACCEPTED" -ge $((N / 20)) ] || fail "only $ACCEPTED MESSAGEs accepted"
assert_eq 0 "$LOST" "MESSAGEs answered 202 but never delivered ($ACCEPTED accepted, $DUPS redelivered)"
