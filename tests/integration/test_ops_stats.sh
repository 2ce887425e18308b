#!/usr/bin/env bash
# test_ops_stats.sh - a known mixed run (delivered, retried then delivered,
# token dead, dead letter, expired, refused at ingest), then `pushrelayctl
# stats --json` and /metrics must report exactly those counts; the latency
# histograms count one sample per final outcome; every /metrics line obeys
# the Prometheus text format 0.0.4; /readyz follows Redis down and back.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_ops_stats

# Retries fast and many, so that a 1 s TTL ends in "expired" before attempts run out.
export PR_MAX_ATTEMPTS=50 PR_BASE_DELAY_MS=100 PR_MAX_DELAY_MS=300
pr_boot --sandbox all

ctl() { "$PR_BIN/pushrelayctl" -c "$T/relay.conf" "$@"; }
metrics() { curl -sS "http://127.0.0.1:$MON_PORT/metrics"; }

# --- the run: 7 accepted notifications with known fates, then 1 refused at ingest
: >"$T/run.sip"
for tok in "$(pr_hex a1)" "$(pr_hex a2)" "$(pr_hex a3)" "$(pr_hex e5031)" "$(pr_hex e4100)" "$(pr_hex e4130)"; do
    pr_msg "$T/one.sip" prid="$tok"
    cat "$T/one.sip" >>"$T/run.sip"
done
pr_msg "$T/one.sip" prid="$(pr_hex e5030)" body='{"id":"expiring-1","event":"im","ttl":1,"title":"t","body":"b"}'
cat "$T/one.sip" >>"$T/run.sip"
RESP=$(pr_sip_request "$T/run.sip" 7) || fail "run: no responses: $RESP"
assert_eq 7 "$(printf '%s\n' "$RESP" | grep -c '^SIP/2.0 202')" "202 answers to the run"

counter() {  # counter NAME: total of NAME from stats --json (0 when absent)
    ctl stats --json | python3 -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c.get(sys.argv[1],{}).get("total",0))' "$1"
}
settled() {
    [ "$(counter delivered)" = 4 ] && [ "$(counter token_dead)" = 1 ] &&
        [ "$(counter dead_lettered)" = 1 ] && [ "$(counter expired)" = 1 ]
}
pr_wait_for 60 settled || fail "outcomes did not settle: $(ctl stats)"
pr_expect_status 410 <(pr_msg /dev/stdout prid="$(pr_hex e4100)") "the dead token again"

# --- stats --json: exactly the run. The relay flushes its counters to Redis
# about once a second; rather than sleeping for "enough" flushes, poll until
# the document matches (60 s ceiling), then check that same document.
stats_match() { ctl stats --json >"$T/stats.json" && python3 "$PR_SRC/tests/tools/ops_stats_check.py" stats "$T/stats.json"; }
pr_wait_for 60 stats_match || { python3 "$PR_SRC/tests/tools/ops_stats_check.py" stats "$T/stats.json"; fail "stats --json does not match the run"; }
ctl stats >"$T/stats.txt"
metrics >"$T/metrics.txt"
cat "$T/stats.txt"
pass "stats --json reports the run exactly"
grep -q '^delivered *4 *4 *0 *0 *0 *0 *0 *4 ' "$T/stats.txt" || fail "stats table row for delivered: $(grep delivered "$T/stats.txt")"
grep -q '^apns e2e *7 ' "$T/stats.txt" || fail "stats table e2e latency row"
pass "stats table shows the same counts"

# --- per domain
ctl stats --domain contoso.com --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
assert c["delivered"]["total"] == 4 and c["queued"]["total"] == 7 and c["token_dead"]["total"] == 1, c
' || fail "stats --domain contoso.com"
pass "stats --domain contoso.com reports the run"

# --- /metrics: the same counts, histograms that add up, and a valid exposition
python3 "$PR_SRC/tests/tools/ops_stats_check.py" metrics "$T/metrics.txt" "$T/stats.json" || fail "/metrics does not match"
pass "/metrics agrees with stats and obeys the text format"
ctype=$(curl -sS -o /dev/null -w '%{content_type}' "http://127.0.0.1:$MON_PORT/metrics")
assert_eq "text/plain; version=0.0.4" "$ctype" "/metrics content type"

# --- the same check fails on a malformed line (an unclosed label value)
cp "$T/metrics.txt" "$T/metrics-bad.txt"
printf 'pushrelay_up{provider="apns} 1\n' >>"$T/metrics-bad.txt"
if python3 "$PR_SRC/tests/tools/ops_stats_check.py" metrics "$T/metrics-bad.txt" "$T/stats.json" >"$T/check-bad.out"; then
    fail "a malformed sample line passed the check"
fi
grep -q 'does not match the text format' "$T/check-bad.out" || fail "malformed line not named: $(cat "$T/check-bad.out")"
pass "a malformed line fails the grammar check"

# --- stats --watch redraws until SIGINT, then exits 0. SIGINT is sent once
# the second frame is out (the program is then surely waiting in its loop),
# never after a guessed delay.
"$PR_BIN/pushrelayctl" -c "$T/relay.conf" stats --watch >"$T/watch.out" 2>&1 &
WATCH_PID=$!
pr_track "$WATCH_PID"
frames() { grep -c 'NOW/S' "$T/watch.out"; }
frames_ge() { [ "$(frames)" -ge "$1" ]; }
pr_wait_for 60 frames_ge 2 || fail "stats --watch did not redraw: $(cat "$T/watch.out")"
pass "stats --watch redraws every second"
kill -INT "$WATCH_PID"
gone() { ! kill -0 "$WATCH_PID" 2>/dev/null; }
pr_wait_for 60 gone || fail "stats --watch still running 60 s after SIGINT"
rc=0
wait "$WATCH_PID" || rc=$?
assert_eq 0 "$rc" "stats --watch exit code after SIGINT"

# --- /readyz follows Redis
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MON_PORT/readyz"; }
ready_is() { [ "$(ready)" = "$1" ]; }          # for pr_wait_for: evaluated on every poll
assert_eq 200 "$(ready)" "/readyz with Redis up"
pr_stop_redis
pr_wait_for 60 ready_is 503 || fail "/readyz not 503 with Redis down: $(ready)"
pass "/readyz 503 with Redis down"
curl -s "http://127.0.0.1:$MON_PORT/readyz" | grep -q "Redis" || fail "/readyz does not name Redis"
metrics | grep -q '^pushrelay_redis_up 0$' || fail "/metrics pushrelay_redis_up not 0 with Redis down"
pr_restart_redis
pr_wait_for 60 ready_is 200 || fail "/readyz not 200 after Redis returned: $(ready)"
pass "/readyz 200 when Redis returns"
rc=0
ctl stats >/dev/null 2>&1 || rc=$?
assert_eq 0 "$rc" "stats after Redis returned"

echo "test_ops_stats: all passed"
