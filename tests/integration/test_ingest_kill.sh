#!/usr/bin/env bash
# kill -9 of the listener under load loses nothing it accepted: every
# MESSAGE answered 202 is in the stream. When the edge then resends
# everything (as edges do after a lost connection), the restarted listener
# answers 202 to all and the stream holds each push exactly once.
. "$(dirname "$0")/lib.sh"

N=${PR_KILL_N:-3000}
pr_boot listener
pr_start_stunnel edge.contoso.com
PR_CSV_TAG=k pr_gen_csv "$T/k.csv" "$N"

xlen_at_least() { [ "$(pr_xlen apns)" -ge "$1" ]; }

PR_SIPP_RATE=1000 PR_SIPP_TIMEOUT=30 pr_sipp message_expect_any "$N" -inf "$T/k.csv" &
SIPP_JOB=$!
pr_track "$SIPP_JOB"
pr_wait_for 20 xlen_at_least $((N / 10)) || fail "fewer than $((N / 10)) entries queued after 20 s"
kill -9 "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null || true
pass "pushrelayd killed with $(pr_xlen apns) entries queued"
wait "$SIPP_JOB" || true    # calls in flight fail: the connection is gone

grep ' 202 ' "$T/sipp-message_expect_any-status.log" | awk '{print $3}' | sort -u >"$T/accepted"
pr_entries apns | python3 -c 'import json,sys
for _, kv in json.load(sys.stdin): print(dict(zip(kv[0::2], kv[1::2]))["id"])' | sort >"$T/queued"
ACCEPTED=$(wc -l <"$T/accepted")
[ "$ACCEPTED" -gt 0 ] || fail "no MESSAGE was accepted before the kill"
[ "$ACCEPTED" -lt "$N" ] || fail "all $N MESSAGEs were answered before the kill: the test proves nothing"
LOST=$(comm -23 "$T/accepted" "$T/queued" | wc -l)
assert_eq 0 "$LOST" "MESSAGEs answered 202 but missing from the stream ($ACCEPTED answered 202)"
assert_eq 0 "$(uniq -d "$T/queued" | wc -l)" "ids queued twice"

# Restart; the edge resends all N: each is answered 202, each queued once.
pr_start_relay listener
mv "$T/sipp-message_expect_any-status.log" "$T/sipp-first-run-status.log"
PR_SIPP_RATE=1000 pr_sipp message "$N" -inf "$T/k.csv" || fail "sipp resend after restart: not every MESSAGE answered 202"
assert_eq "$N" "$(pr_xlen apns)" "entries after the resend (each push exactly once)"
