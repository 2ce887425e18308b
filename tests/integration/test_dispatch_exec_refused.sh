#!/usr/bin/env bash
# test_dispatch_exec_refused.sh - Redis refuses the outcome transactions
# (EXECABORT: a queued XACK is not allowed) while the provider accepts
# every notification: each batch goes whole to the outbox, no entry is
# acked or counted meanwhile, nothing is sent to the provider again, and
# once Redis takes writes again every outcome lands, each counted once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=600
disp_setup
disp_config "$T/pushrelay.conf" 2000     # every entry starts: none waits behind the outbox
queue $N --id-prefix t- --trace   # their deliveries leave an outcome record
# Entries are read (XREADGROUP), and the stats' HINCRBY still land.
rcli ACL SETUSER default -xack >/dev/null

echo "== every transaction refused"
disp_start "$T/pushrelay.conf"
wait_for 60 '[ "$(sb_delivered)" -ge '"$N"' ]'
wait_for 60 'grep -q "outcome write for .* refused" "$T/dispatcher.log"'
# The outbox is written again every 500 ms: wait until Redis itself says it
# refused two more transactions, rather than sleeping for "a few retries".
execaborts() { local v; v=$(rcli INFO errorstats | tr -d '\r' | sed -n 's/^errorstat_EXECABORT:count=\([0-9]*\).*/\1/p'); echo "${v:-0}"; }
EA=$(execaborts)
wait_for 60 '[ "$(execaborts)" -ge $((EA + 2)) ]'
assert_eq $N "$(sb_delivered)" "notifications sent to the provider"
assert_eq $N "$(pending_count)" "entries still pending in group dispatch"
assert_eq $N "$(stream_len)" "entries still in the stream"
assert_eq 0 "$(stat_total all:delivered)" "deliveries counted while refused"
pass "refused batches kept in the outbox, nothing acked"

echo "== Redis takes writes again"
rcli ACL SETUSER default +xack >/dev/null
wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ]'
wait_for 60 '[ "$(stat_total all:delivered)" -ge '"$N"' ]'
# pr_queue gives notification 7 the APNs token of 64 hex digits ending in 7.
K7=$(disp_shard_of apns "$(printf '%064x' 7)")
assert_eq delivered "$(rcli HGET "pr:{q$K7}:outcome:contoso.com:t-7" outcome)" "outcome record of traced t-7"
disp_stop_clean
assert_eq $N "$(stat_total all:delivered)" "pr:stats:total all:delivered"
sb_stop
assert_eq $N "$(delivered_count)" "deliveries recorded by the sandbox (no resend)"
pass "every outcome written once Redis accepted it, counted once"
