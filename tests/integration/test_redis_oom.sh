#!/usr/bin/env bash
# test_redis_oom.sh - Redis full (maxmemory reached; deploy/redis.conf says
# noeviction): the listener answers 503 + Retry-After with a Warning that
# carries Redis's refusal, and logs it once; the stats increments Redis
# refuses meanwhile are kept, not dropped, and land once it takes writes
# again; the same process accepts again afterwards. Redis is made full with
# CONFIG SET maxmemory 1 and emptied with maxmemory 0, so nothing waits on
# how fast memory fills. At the end every MESSAGE is counted exactly once.
. "$(dirname "$0")/lib.sh"

pr_boot --sandbox all
metrics() { curl -sS "http://127.0.0.1:$MON_PORT/metrics"; }
# counted STAGE N: /metrics shows N of STAGE for apns.
counted() { metrics | grep -qx "pushrelay_notifications_total{provider=\"apns\",stage=\"$1\"} $2"; }
prid=$(printf 'a1%.0s' $(seq 32))

echo "== one MESSAGE accepted, delivered and counted before Redis fills"
pr_msg "$T/one.sip" id=oom-before prid="$prid"
pr_expect_status 202 "$T/one.sip" "MESSAGE before Redis is full"
pr_wait_for 60 counted delivered 1 || fail "not delivered: $(metrics | grep notifications_total)"
pr_wait_for 60 counted received 1 || fail "not counted: $(metrics | grep notifications_total)"

echo "== Redis full: writes refused with OOM"
assert_eq OK "$(rcli CONFIG SET maxmemory 1)" "CONFIG SET maxmemory 1"
pr_msg "$T/two.sip" id=oom-during prid="$prid"
pr_expect_status 503 "$T/two.sip" "MESSAGE while Redis is full"
RA=$(pr_header "$RESP" Retry-After)
[[ $RA =~ ^[0-9]+$ ]] && [ "$RA" -ge 1 ] || fail "503 without a numeric Retry-After: $RESP"
WARN=$(pr_header "$RESP" Warning)
grep -q 'queue unavailable: OOM command not allowed' <<<"$WARN" || fail "Warning does not name the refusal: $RESP"
pass "503, Retry-After: $RA, Warning: $WARN"
pr_wait_log "$T/relay.log" "Redis refuses the queue's writes \\(OOM" "$RELAY_PID"
pass "logged: $(grep -m1 "Redis refuses the queue's writes" "$T/relay.log" | cut -c1-160)"
# The MESSAGE's received and rejected_503 increments are flushed within a
# second, and Redis refuses them (its own count of refused HINCRBYs); the
# relay's log says so.
hincrby_refused() { rcli INFO commandstats | tr -d '\r' | grep -q '^cmdstat_hincrby:.*rejected_calls=[1-9]'; }
pr_wait_for 60 hincrby_refused || fail "Redis refused no HINCRBY: $(rcli INFO commandstats | grep hincrby)"
pass "Redis refused stats increments: $(rcli INFO commandstats | tr -d '\r' | grep '^cmdstat_hincrby')"
pr_wait_log "$T/relay.log" "Redis refuses stats writes \\(OOM" "$RELAY_PID"
pass "logged: $(grep -m1 "Redis refuses stats writes" "$T/relay.log" | cut -c1-160)"
counted received 1 || fail "an increment landed while Redis was full: $(metrics | grep notifications_total)"

echo "== Redis takes writes again"
assert_eq OK "$(rcli CONFIG SET maxmemory 0)" "CONFIG SET maxmemory 0"
pr_msg "$T/three.sip" id=oom-after prid="$prid"
pr_expect_status 202 "$T/three.sip" "MESSAGE once Redis has room"
pr_wait_log "$T/relay.log" "Redis takes the queue's writes again \\(1 MESSAGE answered 503" "$RELAY_PID"
pr_wait_log "$T/relay.log" "Redis takes stats writes again" "$RELAY_PID"
pass "logged: $(grep -m1 "Redis takes the queue's writes again" "$T/relay.log" | cut -c1-160)"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited"

echo "== every MESSAGE counted once: the refused increments were kept"
for want in received:3 queued:2 rejected_503:1 delivered:2; do
    pr_wait_for 60 counted "${want%:*}" "${want#*:}" ||
        fail "want ${want%:*} = ${want#*:}: $(metrics | grep notifications_total)"
    pass "${want%:*}: ${want#*:}"
done
assert_eq 2 "$(pr_sb_delivered)" "deliveries recorded by the sandbox"

# Stats replies still in flight at shutdown find their stats gone: under
# the sanitizers a use after free or a leak would be reported in relay.log,
# which fails the test (lib.sh's pr_cleanup).
pr_stop_relay
