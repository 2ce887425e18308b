#!/usr/bin/env bash
# test_dispatch_reauth.sh - a refused credential (APNs 403
# InvalidProviderToken) is renewed and the notification sent again at once;
# refused again, the credential is renewed once more and the notification
# retried with backoff like a transient failure (a provider that restarted,
# or a token revoked between the two, looks the same), so it is delivered
# once the refusals stop, and a credential that stays refused ends as
# "attempts exhausted" after max_attempts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

disp_setup
disp_config "$T/pushrelay.conf" 100 30000 4
disp_start "$T/pushrelay.conf"

TWICE=$(apns_token e4032 1)     # 403 InvalidProviderToken twice, then 200
THRICE=$(apns_token e4033 2)    # three times, then 200
ALWAYS=$(apns_token e4030 3)    # always
queue 1 --id-prefix twice- --token "$TWICE"
queue 1 --id-prefix thrice- --token "$THRICE"
queue 1 --id-prefix always- --token "$ALWAYS"

wait_for 60 '[ "$(stream_len)" = 0 ] && [ "$(pending_count)" = 0 ] && [ "$(retry_len)" = 0 ]'
wait_for 60 '[ "$(stat_total all:delivered)" = 2 ] && [ "$(stat_total all:dead_lettered)" = 1 ]'
assert_eq 9 "$(sb_stat by_status.403)" "403 answers (2 + 3 + max_attempts 4)"
# Each round (the first try, and each retry taken from the retry set) resends
# its first refusal at once and backs off on its second: twice 403 403 | 200,
# thrice 403 403 | 403 200, always 403 403 | 403 403 (exhausted): 1 retry each.
assert_eq 3 "$(stat_total all:retried)" "retries with backoff counted"
disp_stop_clean
sb_stop
assert_eq "thrice-0 twice-0" "$(record_ids | sort | xargs)" "delivered once the credential is accepted"
assert_eq 4 "$(dead_field always-0 attempts)" "a credential that stays refused: attempts (max_attempts = 4)"
case "$(dead_field always-0 reason)" in
    "attempts exhausted (403"*) pass "a credential that stays refused: attempts exhausted" ;;
    *) fail "always-refused reason: $(dead_field always-0 reason)" ;;
esac
