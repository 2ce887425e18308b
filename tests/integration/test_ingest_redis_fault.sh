#!/usr/bin/env bash
# Redis down: the listener never answers 202 for what it could not write; it
# answers 503 with Retry-After and stays up. When Redis is back, the same
# pushrelayd process accepts again, and what was accepted before the outage
# is still there.
. "$(dirname "$0")/lib.sh"

pr_boot listener
pr_start_stunnel edge.contoso.com

pr_msg "$T/before" id=before-outage
pr_expect_status 202 "$T/before" "MESSAGE before the outage"
PID_BEFORE=$RELAY_PID

pr_stop_redis
pr_msg "$T/during" id=during-outage
pr_expect_status 503 "$T/during" "MESSAGE while Redis is down"
RA=$(pr_header "$RESP" Retry-After)
[[ $RA =~ ^[0-9]+$ ]] && [ "$RA" -ge 1 ] || fail "503 without a numeric Retry-After: $RESP"
pass "Retry-After: $RA"

# Load during the outage: every MESSAGE is answered, each with 503.
PR_CSV_TAG=down pr_gen_csv "$T/down.csv" 20
pr_sipp message_expect_any 20 -inf "$T/down.csv" || fail "sipp: MESSAGEs unanswered while Redis is down"
assert_eq 20 "$(grep -c '^[0-9]* 503 ' "$T/sipp-message_expect_any-status.log")" "MESSAGEs answered 503 during the outage"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited while Redis was down"

pr_restart_redis
# The listener reconnects on its own: a MESSAGE is accepted again (polled,
# with a ceiling far above the reconnect backoff of at most 5 s).
pr_wait_accepted after-outage "accepted again after Redis restart"
pass "accepted again after Redis restart (attempt $ACCEPT_TRIES)"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd is not running"

# Then a burst through sipp: all 202.
PR_CSV_TAG=up pr_gen_csv "$T/up.csv" 50
pr_sipp message 50 -inf "$T/up.csv" || fail "sipp: MESSAGEs after the restart not all 202"

# Exactly what was accepted is queued: the pre-outage entry (kept by the AOF),
# the first 202 after the restart, the 50 of the burst. No 503 was queued.
pr_entries apns >"$T/entries.json"
python3 - "$T/entries.json" "$ACCEPTED_ID" <<'PY' || fail "stream does not hold exactly the accepted MESSAGEs"
import json, sys
ids = [dict(zip(kv[0::2], kv[1::2]))["id"] for _, kv in json.load(open(sys.argv[1]))]
want = {"before-outage", sys.argv[2]} | {"up-%06d" % k for k in range(50)}
extra, missing = set(ids) - want, want - set(ids)
print("entries %d, unexpected %s, missing %s" % (len(ids), sorted(extra)[:5], sorted(missing)[:5]))
sys.exit(0 if not extra and not missing and len(ids) == len(want) else 1)
PY
pass "stream holds the 52 accepted MESSAGEs and none of the refused ones"
