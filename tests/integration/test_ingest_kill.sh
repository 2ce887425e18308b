#!/usr/bin/env bash
# kill -9 of the listener under load loses nothing it accepted: every
# MESSAGE answered 202 is in the stream. When the edge then resends
# everything (as edges do after a lost connection), the restarted listener
# answers 202 to all and the stream holds each push exactly once.
#
# "Under load" is made an event rather than a moment: a first batch is
# accepted in full, then Redis holds every write (CLIENT PAUSE WRITE) and
# the second batch is sent; the kill lands once Redis reports the relay's
# write blocked, i.e. with MESSAGEs received and not yet acknowledged by
# Redis. None of those may have been answered 202.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_ingest_kill

N=${PR_KILL_N:-3000}
K=$((N / 3))                       # accepted before the writes are held
pr_boot listener
pr_start_stunnel edge.contoso.com
PR_CSV_TAG=k pr_gen_csv "$T/k.csv" "$N"
{ head -n $((K + 1)) "$T/k.csv"; } >"$T/k1.csv"                  # SEQUENTIAL + K rows
{ echo SEQUENTIAL; tail -n +$((K + 2)) "$T/k.csv"; } >"$T/k2.csv"

echo "== $K MESSAGEs accepted, then Redis holds writes and $((N - K)) more arrive"
PR_SIPP_RATE=1000 pr_sipp message "$K" -inf "$T/k1.csv" || fail "sipp: first batch not all 202"
mv "$T/sipp-message-status.log" "$T/sipp-first-status.log"
assert_eq "$K" "$(pr_xlen apns)" "entries after the first batch"
rcli CLIENT PAUSE 600000 WRITE >/dev/null
# sipp has sent MESSAGEs of the second batch, and the relay's connection is
# blocked on the pause (its writes queue behind the blocked command)
sent_some() { [ "$(pr_sipp_stat message_expect_any 'OutgoingCall(C)')" -ge 1 ]; }
blocked() { sent_some && rcli CLIENT LIST | grep -q 'flags=b '; }
PR_SIPP_RATE=1000 pr_sipp message_expect_any $((N - K)) -inf "$T/k2.csv" &
SIPP_JOB=$!
pr_track "$SIPP_JOB"
pr_wait_for 60 blocked || fail "the relay never wrote the second batch to Redis: $(rcli CLIENT LIST)"
kill -9 "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null || true
rcli CLIENT UNPAUSE >/dev/null
pass "pushrelayd killed with a write waiting on Redis"
wait "$SIPP_JOB" || true    # calls in flight fail: the connection is gone

cat "$T/sipp-first-status.log" "$T/sipp-message_expect_any-status.log" | grep ' 202 ' |
    awk '{print $3}' | sort -u >"$T/accepted"
pr_entries apns | python3 -c 'import json,sys
for _, kv in json.load(sys.stdin): print(dict(zip(kv[0::2], kv[1::2]))["id"])' | sort >"$T/queued"
ACCEPTED=$(wc -l <"$T/accepted")
assert_eq "$K" "$ACCEPTED" "MESSAGEs answered 202 (the first batch; none while Redis held writes)"
[ "$(grep -c ' 202 ' "$T/sipp-message_expect_any-status.log" || true)" = 0 ] ||
    fail "a MESSAGE was answered 202 while Redis held every write"
LOST=$(comm -23 "$T/accepted" "$T/queued" | wc -l)
assert_eq 0 "$LOST" "MESSAGEs answered 202 but missing from the stream ($ACCEPTED answered 202)"
assert_eq 0 "$(uniq -d "$T/queued" | wc -l)" "ids queued twice"

# Restart; the edge resends all N: each is answered 202, each queued once.
pr_start_relay listener
PR_SIPP_RATE=1000 pr_sipp message "$N" -inf "$T/k.csv" || fail "sipp resend after restart: not every MESSAGE answered 202"
assert_eq "$N" "$(pr_xlen apns)" "entries after the resend (each push exactly once)"
