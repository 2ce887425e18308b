#!/usr/bin/env bash
# test_dispatch_h2_faults.sh - HTTP/2 faults in the middle of a load: the
# sandbox sends GOAWAY every 300 streams, and some tokens make it reset the
# TCP connection (with hundreds of other streams in flight on it). Every
# notification is still delivered, none becomes a dead letter, and the
# duplicates (allowed only for what was in flight) are counted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/disp_lib.sh"

N=5000
RESETS=20
SB_ARGS="--goaway-after 300" disp_setup
# A reset fails every stream in flight on its connection and each such loss
# counts as an attempt. The 20 reset tokens come due again together with
# their victims, so one bulk notification can be caught by many of the
# resets within a second: give it more attempts than resets can take.
disp_config "$T/pushrelay.conf" 500 2000 $((RESETS + 4))
queue $N --id-prefix bulk-
for i in $(seq $RESETS); do
    queue 1 --token "$(apns_token c1 "$i")" --id-prefix "reset-$i-"
done
disp_start "$T/pushrelay.conf"

drained() {
    [ "$(rcli XLEN 'pr:{q}:in:apns')" = 0 ] && [ "$(rcli ZCARD 'pr:{q}:retry')" = 0 ]
}
pr_wait_for 120 drained || fail "not drained: stream $(rcli XLEN 'pr:{q}:in:apns'), retry $(rcli ZCARD 'pr:{q}:retry')"

read -r lines distinct < <(python3 - "$T/record.jsonl" <<'PY'
import json, sys
toks = [json.loads(l)["token"] for l in open(sys.argv[1])]
print(len(toks), len(set(toks)))
PY
)
assert_eq $((N + RESETS)) "$distinct" "distinct tokens delivered despite GOAWAYs and resets"
assert_eq 0 "$(rcli XLEN 'pr:{q}:dead')" "dead letters"
resets=$(curl -s --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("resets", 0))')
[ "$resets" -ge "$RESETS" ] || fail "the sandbox reset only $resets connections"
pass "$resets connection resets and a GOAWAY every 300 streams; duplicates delivered: $((lines - distinct))"
disp_stop_clean
