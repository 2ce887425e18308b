#!/usr/bin/env bash
# test_dispatch_outcomes.sh - what the dispatcher does with each kind of
# provider answer (design section 6), against pushrelay-sandbox's scripted
# tokens: transient errors are retried and then delivered, Retry-After is
# honoured, a dead token is recorded, a TTL shorter than an outage expires,
# permanent errors, exhausted attempts, corrupt records and unknown apps
# become dead letters with their reason. Stats count each outcome.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

disp_setup
disp_config "$T/pushrelay.conf" 100 30000 3
disp_start "$T/pushrelay.conf"

T503=$(apns_token e5032 1)      # 503 on the first 2 attempts, then 200
T429=$(apns_token e4291 2)      # 429 (Retry-After: 1) once, then 200
T410=$(apns_token e4100 3)      # 410 Unregistered, always
T413=$(apns_token e4130 4)      # 413 PayloadTooLarge, always
TDOWN=$(apns_token e5030 5)     # 503 always

queue 1 --id-prefix five- --token "$T503"
ACCEPTED_429=$(date +%s%3N)
queue 1 --id-prefix ra- --token "$T429"
queue 1 --id-prefix gone- --token "$T410" --domain fabrikam.com
queue 1 --id-prefix big- --token "$T413"
queue 1 --id-prefix down- --token "$TDOWN"
queue 1 --id-prefix exp- --app down-ios --ttl 2 --domain outage.example
queue 1 --id-prefix noapp- --app no-such-app
rcli XADD 'pr:{q0}:in:apns' '*' id broken-0 domain contoso.com n '{"v":1,"id":' >/dev/null

wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
wait_for 60 '[ "$(stat_total all:dead_lettered)" = 4 ] && [ "$(stat_total all:expired)" = 1 ]'

echo "== 503 twice, then delivered: three attempts, two retries"
SBSTATS=$(curl -s --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats")
by_status() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["by_status"].get(sys.argv[2], 0))' "$SBSTATS" "$1"; }
assert_eq 5 "$(by_status 503)" "503 answers (2 before delivery + 3 until exhausted)"
assert_eq 2 "$(by_status 200)" "deliveries"
assert_eq 5 "$(stat_domain contoso.com retried)" "retries counted (503 twice: 2, 429: 1, 503 always: 2)"

echo "== 429 with Retry-After: 1 is retried no sooner than 1 s later"
sb_stop
assert_eq "five-0 ra-0" "$(record_ids | sort | xargs)" "delivered push ids"
DELIVERED_429=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if json.loads(r["body"])["pr"]["id"] == "ra-0":
        print(r["ts_ms"])' "$T/record.jsonl")
WAITED=$((DELIVERED_429 - ACCEPTED_429))
[ "$WAITED" -ge 1000 ] || fail "429 retried after ${WAITED} ms, Retry-After asked 1000"
pass "429 retried after ${WAITED} ms (>= 1000)"

echo "== 410 records the token as dead"
TSHARD=$(disp_shard_of apns "$T410")
TKEY="pr:{q$TSHARD}:token:apns:$T410"
assert_eq Unregistered "$(rcli HGET "$TKEY" reason)" "token reason"
assert_eq fabrikam.com "$(rcli HGET "$TKEY" domain)" "token domain"
assert_eq test-ios "$(rcli HGET "$TKEY" app)" "token app"
TTL=$(rcli TTL "$TKEY")
[ "$TTL" -gt $((29 * 86400)) ] || fail "token record TTL $TTL"
pass "token record expires in ~30 days ($TTL s)"
[ -n "$(rcli ZSCORE "pr:{q$TSHARD}:tokens" "$TKEY")" ] || fail "$TKEY not indexed in pr:{q$TSHARD}:tokens"
pass "token indexed in its shard's pr:{q$TSHARD}:tokens"
assert_eq 1 "$(stat_total apns:token_dead)" "token_dead counted"
assert_eq 1 "$(stat_domain fabrikam.com token_dead)" "token_dead counted for fabrikam.com"

echo "== a TTL shorter than the provider outage expires"
assert_eq 1 "$(stat_total apns:expired)" "expired counted"
assert_eq 1 "$(stat_domain outage.example expired)" "expired counted for its domain"
assert_eq 0 "$(stat_domain outage.example delivered)" "nothing delivered during the outage"

echo "== dead letters keep their reason, last status, attempts and the notification"
assert_eq 413 "$(dead_field big-0 last_status)" "413: last_status"
assert_eq 1 "$(dead_field big-0 attempts)" "413: attempts"
case "$(dead_field big-0 reason)" in 413*) pass "413: reason names the status";; *) fail "413 reason: $(dead_field big-0 reason)";; esac
assert_eq 3 "$(dead_field down-0 attempts)" "503 always: attempts (max_attempts = 3)"
case "$(dead_field down-0 reason)" in "attempts exhausted (503"*) pass "503 always: attempts exhausted";;
    *) fail "503 always reason: $(dead_field down-0 reason)";; esac
assert_eq 3 "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["att"])' "$(dead_field down-0 n)")" \
    "dead letter's notification JSON carries the attempts"
assert_eq "corrupt record" "$(dead_field broken-0 reason)" "corrupt record: reason"
assert_eq '{"v":1,"id":' "$(dead_field broken-0 n)" "corrupt record: kept as read"
case "$(dead_field noapp-0 reason)" in "app unknown: no-such-app"*) pass "unknown app: reason";;
    *) fail "unknown app reason: $(dead_field noapp-0 reason)";; esac
assert_eq 4 "$(stat_total apns:dead_lettered)" "dead letters counted"
assert_eq 2 "$(stat_total apns:delivered)" "deliveries counted"

disp_stop_clean
