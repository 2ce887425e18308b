#!/usr/bin/env bash
# test_dispatch_providers.sh - one dispatcher serves all three provider
# streams at once: APNs, FCM (with its OAuth2 token exchange) and MPNS
# notifications are each delivered by their own app's client, retries go
# back to the stream of their own provider, and stats are kept per provider.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=1000
disp_setup
DISP_MPNS=1 disp_config "$T/pushrelay.conf" 300

CHANNEL="https://127.0.0.1:$MPNS_PORT/channel/wp-device"
queue $N --provider apns --id-prefix ios-
queue $N --provider fcm --app test-android --id-prefix droid-
queue $N --provider mpns --app test-wp --token "$CHANNEL" --id-prefix wp-
queue 1 --provider fcm --app test-android --token e5031retry --id-prefix droid-retry-
queue 1 --provider mpns --app test-wp --token "https://127.0.0.1:$MPNS_PORT/channel/e5031" \
    --id-prefix wp-retry-
disp_start "$T/pushrelay.conf"

all_done() {
    local p
    for p in apns fcm mpns; do
        [ "$(q_sum XLEN "in:$p")" = 0 ] || return 1
        [ "$(q_sum XPENDING "in:$p" dispatch)" = 0 ] || return 1
    done
    [ "$(retry_len)" = 0 ]
}
wait_for 120 all_done
wait_for 60 '[ "$(stat_total all:delivered)" = $((3 * N + 2)) ]'

echo "== each provider got its own notifications"
SBSTATS=$(curl -s --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats")
for p in apns fcm mpns; do
    extra=1; [ $p = apns ] && extra=0
    assert_eq $((N + extra)) "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["delivered"][sys.argv[2]])' "$SBSTATS" $p)" \
        "sandbox deliveries to $p"
    assert_eq $((N + extra)) "$(stat_total $p:delivered)" "pr:stats:total $p:delivered"
done

echo "== retries went back to their own provider's stream"
assert_eq 1 "$(stat_total fcm:retried)" "fcm retries"
assert_eq 1 "$(stat_total mpns:retried)" "mpns retries"
assert_eq 0 "$(stat_total apns:retried)" "apns retries"
assert_eq 0 "$(dead_len)" "dead letters"
disp_stop_clean
