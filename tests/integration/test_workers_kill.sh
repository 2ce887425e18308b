#!/usr/bin/env bash
# test_workers_kill.sh - kill -9 of one worker under load: the supervisor
# logs how it died and restarts it as the same worker k, with the same
# dispatch consumer name; nothing answered 202 is lost (what the dead
# worker had pending is reclaimed and delivered).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workers_lib.sh"

N=${PR_WORKERS_N:-2400}
wk_boot 2

echo "== $N MESSAGEs from 8 edges at once; kill -9 worker 0 once $((N / 10)) are delivered"
wk_load_tenth "$N" kill
OLD=$(wk_worker_pid 0)
[ -n "$OLD" ] || fail "no pid logged for worker 0"
kill -9 "$OLD"
pass "worker 0 (pid $OLD) killed with $(wk_recorded) of $N delivered, load running"

restarted() {
    local pid
    pid=$(wk_worker_pid 0)
    [ -n "$pid" ] && [ "$pid" != "$OLD" ] && kill -0 "$pid" 2>/dev/null
}
pr_wait_for 60 restarted || fail "worker 0 not restarted within 60 s"
NEW=$(wk_worker_pid 0)
pass "worker 0 restarted as pid $NEW"
grep -q "supervisor: worker 0 (pid $OLD) killed by signal 9" "$T/relay.log" ||
    fail "the supervisor did not log how worker 0 died"
pass "the supervisor logged: worker 0 (pid $OLD) killed by signal 9"
pr_wait_for 60 wk_ready_n 2 || fail "not both workers ready after the restart: $(wk_readyz)"
assert_eq 1 "$(wk_metric pushrelay_worker_restarts_total 'worker="0"')" "restarts of worker 0 on /metrics"
assert_eq 0 "$(wk_metric pushrelay_worker_restarts_total 'worker="1"')" "restarts of worker 1 on /metrics"

wk_sipp_wait    # edges whose connection was on worker 0 stop: their cut calls were never accepted
pr_wait_for 60 wk_delivered_all "$T/sipp-kill-*-status.log" "$T/kill-*.csv" ||
    fail "accepted MESSAGEs not delivered after 60 s: accepted $ACCEPTED, missing $LOST"
wk_audit "$T/sipp-kill-*-status.log" "$T/kill-*.csv"
[ "$ACCEPTED" -ge $((N / 20)) ] || fail "only $ACCEPTED MESSAGEs accepted"
assert_eq 0 "$LOST" "MESSAGEs answered 202 but never delivered ($ACCEPTED accepted, $DUPS redelivered)"

echo "== the restarted worker is the same consumer"
grep -q "consumer test-1-0 reading" <(sed -n "/worker 0 started (pid $NEW/,\$p" "$T/relay.log") ||
    fail "the restarted worker 0 did not read as consumer test-1-0"
consumers=$(rcli XINFO CONSUMERS "$(pr_stream_key apns)" dispatch | awk 'prev == "name" {print} {prev = $0}' | sort | tr '\n' ' ')
assert_eq "test-1-0 test-1-1 " "$consumers" "consumers of group dispatch (no new name after the restart)"
# Entries queued for MESSAGEs whose 202 the kill cut off are delivered too.
pending_none() { [ "$(rcli XPENDING "$(pr_stream_key apns)" dispatch | head -n 1)" = 0 ]; }
pr_wait_for 60 pending_none || fail "entries still pending after 60 s: $(rcli XPENDING "$(pr_stream_key apns)" dispatch | head -n 1)"
pass "no entry left pending in the consumer group"
