#!/usr/bin/env bash
# test_workers_apns_token.sh - one APNs provider token for every dispatcher
# process (issue 10 item 7): Apple answers 429 TooManyProviderTokenUpdates
# when a key's token changes too often, which one token per process would
# do with many workers. The token lives in Redis (pr:ptoken:apns:<team>:<kid>)
# with a TTL inside Apple's 20-60 minute window, signed by one process.
#
#   * dispatcher 1 starts alone, signs the token and shares it; it delivers;
#   * dispatcher 2 starts, takes the shared token (signs none), and after
#     dispatcher 1 stopped it delivers the next batch;
#   * the sandbox saw exactly one provider token across both processes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=50
disp_setup
disp_config "$T/pushrelay.conf"
KEY="pr:ptoken:apns:$TEAM:$KID"
sb_tokens() {
    curl -s --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["apns_provider_tokens"])'
}
logged() { grep -q "ptoken: APNs provider token for $TEAM/$KID: $2" "$T/$1.log"; }

echo "== dispatcher 1 alone: signs and shares the token"
disp_start "$T/pushrelay.conf" dispatcher-1
D1=$DISP_PID
wait_for 60 'logged dispatcher-1 "signed here"'
pass "dispatcher 1 signed the shared token"
TTL=$(rcli TTL "$KEY")
[ "$TTL" -gt 1200 ] && [ "$TTL" -le 3000 ] || fail "TTL of $KEY is $TTL s: not inside 20-50 minutes"
pass "$KEY held with a TTL of $TTL s"
for i in $(seq 0 $((N - 1))); do queue 1 --id-prefix one- --start "$i" --token "$(apns_token 0a "$i")"; done
wait_for 60 '[ "$(sb_delivered)" = '"$N"' ]'
pass "dispatcher 1 delivered $N"

echo "== dispatcher 2: takes the shared token, delivers after dispatcher 1 stopped"
disp_start "$T/pushrelay.conf" dispatcher-2
D2=$DISP_PID
wait_for 60 'logged dispatcher-2 "using the shared one"'
logged dispatcher-2 "signed here" && fail "dispatcher 2 signed a token of its own"
pass "dispatcher 2 uses the shared token"
DISP_PID=$D1 disp_stop_clean
DISP_PID=$D2
for i in $(seq 0 $((N - 1))); do queue 1 --id-prefix two- --start "$i" --token "$(apns_token 0b "$i")"; done
wait_for 60 '[ "$(sb_delivered)" = '"$((2 * N))"' ]'
pass "dispatcher 2 delivered $N"

assert_eq 1 "$(sb_tokens)" "distinct APNs provider tokens the sandbox saw from both processes"
assert_eq 1 "$(cat "$T"/dispatcher-*.log | grep -c 'signed here')" "tokens signed across both processes"
disp_stop_clean
