# shellcheck shell=bash
# e2e_lib.sh - the common start and checks of the end-to-end provider tests
# (test_e2e_providers.sh, test_e2e_wns.sh, test_e2e_hms.sh,
# test_e2e_webpush.sh). Source it after lib.sh, then call e2e_boot.

# e2e_boot PROVIDER...: test PKI, private redis, the sandbox, pushrelayd
# (role all) with an app of each PROVIDER, contoso.com enabled for
# edge.contoso.com, and stunnel as that edge. Retries are fast so that a
# test sees them (PR_MAX_DELAY_MS, default 500 ms, overrides the longest
# wait). Sets E2E_PROVIDERS.
e2e_boot() {
    E2E_PROVIDERS="$*"
    pr_gen_certs
    pr_gen_edge edge.contoso.com
    pr_start_redis
    pr_start_sandbox
    PR_APPS="$E2E_PROVIDERS" PR_LOG_LEVEL=info PR_MAX_IN_FLIGHT=500 PR_MAX_ATTEMPTS=8 \
        PR_BASE_DELAY_MS=50 PR_MAX_DELAY_MS=${PR_MAX_DELAY_MS:-500} pr_write_config "$T/relay.conf"
    pr_start_relay all
    pr_enable contoso.com edge.contoso.com
    pr_start_stunnel edge.contoso.com
}

# sandbox CURL-ARGS: curl to the sandbox over HTTP/2, trusting the test CA.
sandbox() { curl -sf --http2 --cacert "$T/pki/ca.pem" "$@"; }
sb_url() { echo "https://127.0.0.1:$SANDBOX_PORT/_sandbox/$1"; }
# sb_stat FIELD: a number from /_sandbox/stats ("delivered.wns", "requests"); 0 when absent.
sb_stat() {
    sandbox "$(sb_url stats)" | python3 -c '
import json, sys
s = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    s = s.get(k, 0) if isinstance(s, dict) else 0
print(s)' "$1"
}
sb_is() { [ "$(sb_stat "$1")" = "$2" ]; }
sb_at_least() { [ "$(sb_stat "$1")" -ge "$2" ]; }
stat_total() { rcli HGET pr:stats:total "$1"; }
stat_is() { [ "$(stat_total "$1")" = "$2" ]; }
stat_at_least() { [ "$(stat_total "$1")" -ge "$2" ] 2>/dev/null; }
# drained: every booted provider's stream and the retry set are empty.
drained() {
    local p
    for p in $E2E_PROVIDERS; do
        [ "$(pr_xlen "$p")" = 0 ] || return 1
    done
    [ "$(pr_qsum ZCARD retry)" = 0 ]
}

# e2e_deliver_all PROVIDER SCENARIO CSV LABEL: sends the $N MESSAGEs of CSV
# with sipp scenario SCENARIO (every one must get 202), waits until the queue
# drained and the relay counted $N deliveries of PROVIDER, and checks that
# the sandbox counted as many.
e2e_deliver_all() {
    local p=$1 scen=$2 csv=$3 label=$4
    pr_sipp "$scen" "$N" -inf "$csv" || fail "sipp: not every $label MESSAGE got 202"
    pr_wait_for 60 drained || fail "queue not drained: $p $(pr_xlen "$p"), retry $(pr_qsum ZCARD retry)"
    pr_wait_for 60 stat_is "$p:delivered" "$N" || fail "delivered $(stat_total "$p:delivered") of $N"
    assert_eq "$N" "$(sb_stat "delivered.$p")" "$label deliveries counted by the sandbox"
}
