#!/usr/bin/env bash
# test_workers_stop.sh - SIGTERM to the supervisor under load: it forwards
# the signal, every worker drains (stops accepting, finishes what is in
# flight, leaves the rest in Redis) and exits, then the supervisor exits 0.
# No process is left behind, and nothing answered 202 is lost: what was
# not delivered yet is delivered by the next supervisor.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workers_lib.sh"

N=${PR_WORKERS_N:-2400}
wk_boot 2

echo "== $N MESSAGEs from 8 edges at once; SIGTERM once $((N / 10)) are delivered"
wk_load_tenth "$N" stop
kill -TERM "$RELAY_PID"
gone() { ! kill -0 "$1" 2>/dev/null; }
pr_wait_for 60 gone "$RELAY_PID" || fail "the supervisor still runs 60 s after SIGTERM"
rc=0
wait "$RELAY_PID" 2>/dev/null || rc=$?
assert_eq 0 "$rc" "supervisor exit status"
pass "stopped with $(wk_recorded) of $N delivered"
grep -q "supervisor: stopped: every worker exited$" "$T/relay.log" || fail "the supervisor did not wait for its workers"
assert_eq 2 "$(grep -c 'signal 15: stopping (finishing in-flight work)' "$T/relay.log")" "workers that drained on SIGTERM"
assert_eq 2 "$(grep -c 'supervisor: worker [01] exited with status 0' "$T/relay.log")" "workers that exited 0"
left=""
for pid in $WORKERS; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
assert_eq "" "$left" "worker processes left"
assert_eq "" "$(pgrep -f -- "-c $T/relay.conf" || true)" "pushrelayd processes on this config left"
pr_port_bound "$SIP_PORT" && fail "the SIP port is still bound"
pass "SIP port released"
wk_sipp_wait

echo "== the next supervisor delivers what was accepted and not yet delivered"
wk_start 2
pr_wait_for 60 wk_delivered_all "$T/sipp-stop-*-status.log" "$T/stop-*.csv" ||
    fail "accepted MESSAGEs not delivered after 60 s: accepted $ACCEPTED, missing $LOST"
wk_audit "$T/sipp-stop-*-status.log" "$T/stop-*.csv"
[ "$ACCEPTED" -ge $((N / 20)) ] || fail "only $ACCEPTED MESSAGEs accepted"
assert_eq 0 "$LOST" "MESSAGEs answered 202 but never delivered ($ACCEPTED accepted, $DUPS redelivered)"
