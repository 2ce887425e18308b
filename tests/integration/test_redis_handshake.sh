#!/usr/bin/env bash
# test_redis_handshake.sh - a Redis that answers but cannot be used is a
# failed handshake with a reason, logged once, shown on /readyz, retried
# until it can be used, in the same process:
#
#   * AUTH refused (the relay's password is not Redis's): "refusing our
#     password"; Redis then given that password: ready, 202;
#   * the Redis in use turned into a replica (REPLICAOF) under an
#     established connection: the -READONLY answers make the connections
#     hand-shake again, ROLE says slave: "a read-only replica"; REPLICAOF NO
#     ONE: ready again, 202;
#   * an ACL user that may not run ROLE (an @admin command): the primary is
#     assumed, said once in the log, and the relay works.
. "$(dirname "$0")/lib.sh"

pr_gen_certs
pr_gen_edge edge.contoso.com
pr_start_redis
pr_start_sandbox       # the dispatcher's providers, so that /readyz hangs on Redis alone
pr_write_config "$T/relay.conf"
sed -i 's/^\(redis = { .*\)password = ""; /\1password = "s3cret-1"; /' "$T/relay.conf"
grep -q 'password = "s3cret-1"' "$T/relay.conf" || fail "could not set the Redis password in the test config"
pr_start_relay all
PID_BEFORE=$RELAY_PID
readyz() { curl -s "http://127.0.0.1:$MON_PORT/readyz" || true; }
readyz_has() { readyz | grep -q "$1"; }
log_count() { grep -c "$1" "$T/relay.log" || true; }

echo "== AUTH refused"
pr_wait_for 60 readyz_has "refusing our password" || fail "/readyz does not name the refused password: $(readyz)"
pass "/readyz: $(readyz)"
# Retried, and logged once per connection, not per attempt.
pr_wait_for 60 sh -c "grep -q 'pushrelay-listener: Redis .* still refusing our password' '$T/relay.log'" ||
    fail "the listener did not retry after AUTH was refused"
assert_eq 1 "$(log_count 'warn .*pushrelay-listener: Redis .* refusing our password')" "warnings of the listener's refused AUTH"
grep -q "s3cret-1" "$T/relay.log" && fail "the password was logged"
pr_msg "$T/m0" id=hs-0
PR_EDGE=edge.contoso.com pr_expect_status 503 "$T/m0" "MESSAGE while AUTH is refused"

rcli CONFIG SET requirepass s3cret-1 >/dev/null
rcli() { redis-cli --no-auth-warning -a s3cret-1 -p "$REDIS_PORT" "$@"; }
pr_wait_for 60 readyz_has "^ready" || fail "/readyz not ready once Redis took the password: $(readyz)"
pass "ready once Redis has the password"
pr_enable contoso.com edge.contoso.com
pr_msg "$T/m1" id=hs-1
pr_expect_status 202 "$T/m1" "MESSAGE once AUTH is accepted"

echo "== the Redis in use becomes a replica under established connections"
UP_PORT=$(pr_free_port)
mkdir -p "$T/upstream"
redis-server --port "$UP_PORT" --bind 127.0.0.1 --dir "$T/upstream" --save "" --appendonly no \
    --daemonize no >"$T/upstream.log" 2>&1 &
pr_track $!
pr_wait_port "$UP_PORT"
rcli CONFIG SET masterauth "" >/dev/null
rcli REPLICAOF 127.0.0.1 "$UP_PORT" >/dev/null
# The dispatcher's reads and the listener's writes now meet -READONLY.
pr_msg "$T/m2" id=hs-2
RESP=$(pr_sip_request "$T/m2") || true
pr_wait_for 60 sh -c "grep -q 'pushrelay-dispatch-read: Redis .* a read-only replica' '$T/relay.log'" ||
    fail "the dispatcher did not hand-shake again after -READONLY"
pass "$(grep -m1 'pushrelay-dispatch-read: Redis .* a read-only replica' "$T/relay.log" | cut -c1-160)"
pr_wait_for 60 readyz_has "read-only replica" || fail "/readyz does not say read-only replica: $(readyz)"
pass "/readyz: $(readyz)"
pr_msg "$T/m3" id=hs-3
pr_expect_status 503 "$T/m3" "MESSAGE while Redis is a replica"

rcli REPLICAOF NO ONE >/dev/null
pr_wait_for 60 readyz_has "^ready" || fail "/readyz not ready after REPLICAOF NO ONE: $(readyz)"
# The replica took the (empty) upstream's data: enable the domain again.
pr_enable contoso.com edge.contoso.com
pr_msg "$T/m4" id=hs-4
pr_expect_status 202 "$T/m4" "MESSAGE once Redis is a primary again"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"

echo "== an ACL that refuses ROLE: the primary is assumed"
rcli ACL SETUSER default -role >/dev/null
rcli CLIENT KILL TYPE normal >/dev/null     # every relay connection hand-shakes again
pr_wait_for 60 sh -c "grep -q 'ROLE refused (NOPERM' '$T/relay.log'" || fail "the refused ROLE was not logged"
pr_wait_for 60 readyz_has "^ready" || fail "/readyz not ready with ROLE refused: $(readyz)"
pr_msg "$T/m5" id=hs-5
pr_expect_status 202 "$T/m5" "MESSAGE with ROLE refused by the ACL"
assert_eq "$PID_BEFORE" "$RELAY_PID" "same pushrelayd process"
