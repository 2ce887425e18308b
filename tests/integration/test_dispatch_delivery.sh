#!/usr/bin/env bash
# test_dispatch_delivery.sh - the dispatcher's normal path, end to end:
# 10,000 notifications queued in the APNs stream are each delivered to the
# provider (pushrelay-sandbox) exactly once, the stream and the consumer
# group's pending list end empty, the stats in Redis count every delivery
# (total, per domain, per minute, latency histograms), and SIGTERM stops
# the dispatcher cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

disp_setup
disp_config "$T/pushrelay.conf" 500

echo "== notifications queued before the first dispatcher start are not skipped"
queue 6000 --id-prefix a- --domain contoso.com
disp_start "$T/pushrelay.conf"
queue 4000 --id-prefix b- --domain fabrikam.com --start 6000

echo "== 10,000 queued -> 10,000 distinct deliveries"
# Drained = every entry acked (an entry is acked only after its final
# answer), so nothing is in flight; a duplicate sent later still shows in
# the record read after the dispatcher stopped, below.
wait_for 120 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
assert_eq 10000 "$(sb_delivered)" "deliveries counted by the sandbox"

echo "== the stream and the pending list are empty"
assert_eq 0 "$(stream_len)" "entries left in the apns streams"
assert_eq 0 "$(pending_count)" "entries pending in group dispatch"
assert_eq 0 "$(retry_len)" "retry zset size"
assert_eq 0 "$(dead_len)" "dead letters"

echo "== stats count every delivery"
wait_for 60 '[ "$(stat_total all:delivered)" = 10000 ]'
assert_eq 10000 "$(stat_total apns:delivered)" "pr:stats:total apns:delivered"
assert_eq 10000 "$(stat_total all:delivered)" "pr:stats:total all:delivered"
assert_eq 6000 "$(stat_domain contoso.com delivered)" "contoso.com delivered"
assert_eq 4000 "$(stat_domain fabrikam.com apns:delivered)" "fabrikam.com apns:delivered"
MIN_SUM=$(for k in $(rcli --scan --pattern 'pr:stats:min:*'); do rcli HGET "$k" all:delivered; done |
          awk '{s += $1} END {print s + 0}')
assert_eq 10000 "$MIN_SUM" "per-minute buckets sum of all:delivered"
for k in $(rcli --scan --pattern 'pr:stats:min:*'); do
    TTL=$(rcli TTL "$k")
    [ "$TTL" -gt 0 ] && [ "$TTL" -le $((48 * 3600)) ] || fail "$k TTL $TTL not within the stats window"
done
pass "per-minute buckets expire within the stats window"
assert_eq 10000 "$(rcli HGET pr:stats:hist:apns:e2e count)" "e2e histogram count"
assert_eq 10000 "$(rcli HGET pr:stats:hist:apns:rtt count)" "rtt histogram count"
BUCKETS=$(rcli HGETALL pr:stats:hist:apns:e2e | paste - - | awk '$1 ~ /^le_/ {s += $2} END {print s + 0}')
assert_eq 10000 "$BUCKETS" "e2e buckets (not cumulative) sum to the count"

echo "== SIGTERM stops the dispatcher cleanly"
disp_stop_clean

echo "== the delivery record holds each push id once"
sb_stop
assert_eq 10000 "$(delivered_count)" "deliveries recorded by the sandbox"
assert_eq 10000 "$(delivered_distinct)" "distinct push ids delivered"
assert_eq 6000 "$(record_ids | grep -c '^a-')" "deliveries of notifications queued before start"
