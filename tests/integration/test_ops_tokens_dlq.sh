#!/usr/bin/env bash
# test_ops_tokens_dlq.sh - `pushrelayctl tokens` and `pushrelayctl dlq`
# against real dead tokens and dead letters made by the dispatcher:
# list (filters, pages), show, forget (the token is accepted again), replay
# (delivers, counts "replayed"), purge (by age and all), and exit codes.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_ops_tokens_dlq

pr_boot --sandbox all

# send FILE N: N requests from FILE, all answered 202
send() {
    local resp
    resp=$(pr_sip_request "$1" "$2") || fail "send $1: $resp"
    assert_eq "$2" "$(printf '%s\n' "$resp" | grep -c '^SIP/2.0 202')" "202 answers for $(basename "$1")"
}
xlen_dead() { pr_qsum XLEN dead; }
ntokens() { pr_qsum ZCARD tokens; }
dead_is() { [ "$(xlen_dead)" = "$1" ]; }      # for pr_wait_for: evaluated on every poll
tokens_are() { [ "$(ntokens)" = "$1" ]; }

# --- 55 dead APNs tokens and 1 dead FCM token, revealed by the providers
: >"$T/dead.sip"
for i in $(seq -w 1 55); do
    pr_msg "$T/one.sip" prid="$(pr_hex "e4100$i")"
    cat "$T/one.sip" >>"$T/dead.sip"
done
pr_msg "$T/one.sip" provider=fcm param=example-lync prid="e4040-fcm-dead"
cat "$T/one.sip" >>"$T/dead.sip"
send "$T/dead.sip" 56
pr_wait_for 60 tokens_are 56 || fail "dead tokens recorded: $(ntokens), want 56"

# --- tokens list: newest first, 50 a page, filters
assert_eq 0 "$(pr_ctlx list1.out tokens list)" "tokens list exit code"
assert_eq 50 "$(grep -cE '^(apns|fcm) ' "$T/list1.out")" "rows on page 1"
pr_has list1.out "more on --page 2"
assert_eq 0 "$(pr_ctlx list2.out tokens list --page 2)" "tokens list --page 2 exit code"
assert_eq 6 "$(grep -cE '^(apns|fcm) ' "$T/list2.out")" "rows on page 2"
pr_lacks list2.out "more on --page"
assert_eq 56 "$(cat "$T/list1.out" "$T/list2.out" | grep -E '^(apns|fcm) ' | awk '{print $NF}' | sort -u | wc -l)" "distinct tokens over both pages"
assert_eq 0 "$(pr_ctlx listf.out tokens list --provider fcm)" "tokens list --provider fcm exit code"
assert_eq 1 "$(grep -cE '^(apns|fcm) ' "$T/listf.out")" "fcm rows"
pr_has listf.out "e4040-fcm-dead"
pr_has listf.out "UNREGISTERED"
assert_eq 0 "$(pr_ctlx listd.out tokens list --domain fabrikam.com)" "tokens list --domain exit code"
pr_has listd.out "no dead tokens recorded"
assert_eq 2 "$(pr_ctlx listbad.out tokens list --provider gcm)" "tokens list --provider gcm exit code"
pr_has listbad.out "--provider 'gcm': must be one of apns, fcm, mpns, wns, hms, webpush"

# --- tokens show
T1=$(pr_hex e410001)
assert_eq 0 "$(pr_ctlx show.out tokens show "$T1")" "tokens show exit code"
pr_has show.out "token:              $T1"
pr_has show.out "provider:           apns"
pr_has show.out "state:              dead"
pr_has show.out "reason:             Unregistered"
pr_has show.out "domain:             contoso.com"
pr_has show.out "app:                lync-ios"
grep -qE '^since: +20[0-9]{2}-[0-9]{2}-[0-9]{2}T' "$T/show.out" || fail "show: no since timestamp"
grep -qE '^provider timestamp: +20[0-9]{2}-' "$T/show.out" || fail "show: no provider timestamp"
assert_eq 1 "$(pr_ctlx show404.out tokens show "$(pr_hex b0b)")" "tokens show unknown exit code"
pr_has show404.out "is not recorded dead"
assert_eq 1 "$(pr_ctlx showp.out tokens show "$T1" --provider fcm)" "tokens show under the wrong provider"
assert_eq 2 "$(pr_ctlx show2.out tokens show)" "tokens show without a token exit code"

# --- tokens forget: the token is accepted again
pr_msg "$T/t1.sip" prid="$T1"
pr_expect_status 410 "$T/t1.sip" "push to the dead token"
assert_eq 0 "$(pr_ctlx forget.out tokens forget "$T1")" "tokens forget exit code"
pr_has forget.out "accepted again"
assert_eq 1 "$(pr_ctlx show-after.out tokens show "$T1")" "tokens show after forget"
assert_eq 55 "$(ntokens)" "index entries after forget"
pr_msg "$T/t1.sip" prid="$T1"
pr_expect_status 202 "$T/t1.sip" "push to the forgotten token"
# The sandbox still calls it unregistered: the dispatcher records it dead again.
pr_wait_for 60 tokens_are 56 || fail "forgotten token not delivered to the provider again"
assert_eq 0 "$(pr_ctlx forget1b.out tokens forget "$T1" --provider apns)" "tokens forget --provider apns exit code"
assert_eq 1 "$(pr_ctlx forget2.out tokens forget "$T1")" "tokens forget unknown exit code"
pr_has forget2.out "is not recorded dead"

# --- dead letters: two that fail once only (e4131) and one that always fails (e4130)
R1=$(pr_hex e41310001) R2=$(pr_hex e41310002) R3=$(pr_hex e41300003)
: >"$T/dl.sip"
for tok in "$R1" "$R2" "$R3"; do pr_msg "$T/one.sip" prid="$tok" id="dl-$tok"; cat "$T/one.sip" >>"$T/dl.sip"; done
send "$T/dl.sip" 3
pr_wait_for 60 dead_is 3 || fail "dead letters: $(xlen_dead), want 3"

assert_eq 0 "$(pr_ctlx dl.out dlq list)" "dlq list exit code"
assert_eq 3 "$(grep -c '413 PayloadTooLarge' "$T/dl.out")" "dead letters listed with their reason"
for tok in "$R1" "$R2" "$R3"; do pr_has dl.out "dl-$tok"; done
grep -E "dl-$R1 +contoso.com +apns +413 +1 " "$T/dl.out" >/dev/null || fail "dlq list row: $(grep "dl-$R1" "$T/dl.out")"
pass "dlq list shows domain, provider, status and attempts"

# replay by entry id: delivered this time
E1=$(grep "dl-$R1" "$T/dl.out" | awk '{print $1}')
assert_eq 0 "$(pr_ctlx rp1.out dlq replay "$E1")" "dlq replay ENTRY exit code"
pr_has rp1.out "replayed 1 dead letter"
pr_wait_for 60 grep -q "$R1" "$T/sandbox.jsonl" || fail "replayed notification not delivered"
pass "replay by entry id delivered"
# replay by push id
assert_eq 0 "$(pr_ctlx rp2.out dlq replay "dl-$R2")" "dlq replay PUSH-ID exit code"
pr_wait_for 60 grep -q "$R2" "$T/sandbox.jsonl" || fail "replayed notification (push id) not delivered"
pass "replay by push id delivered"
assert_eq 1 "$(xlen_dead)" "dead letters left after two replays"
# counted as replayed (stats reach Redis with the next flush: poll, not sleep)
replayed() { "$PR_BIN/pushrelayctl" -c "$T/relay.conf" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get("replayed", {}).get("total", 0))'; }
replayed_is() { [ "$(replayed)" = "$1" ]; }
pr_wait_for 60 replayed_is 2 || fail "stats replayed: $(replayed), want 2"
assert_eq 2 "$(replayed)" "stats replayed"
# unknown id, no id
assert_eq 1 "$(pr_ctlx rp404.out dlq replay nosuch-id)" "dlq replay unknown exit code"
pr_has rp404.out "no dead letter with entry or push id nosuch-id"
assert_eq 2 "$(pr_ctlx rpnone.out dlq replay)" "dlq replay without ids exit code"
# --all: the one that always fails comes back as a new dead letter, attempts reset
assert_eq 0 "$(pr_ctlx rpall.out dlq replay --all)" "dlq replay --all exit code"
pr_has rpall.out "replayed 1 dead letter"
pr_wait_for 60 dead_is 1 || fail "dead letter not back"
pr_ctlx dl2.out dlq list >/dev/null
new=$(grep "dl-$R3" "$T/dl2.out" | awk '{print $1}')
[ -n "$new" ] && [ "$new" != "$(grep "dl-$R3" "$T/dl.out" | awk '{print $1}')" ] || fail "replayed dead letter not a new entry"
grep -E "dl-$R3 +contoso.com +apns +413 +1 " "$T/dl2.out" >/dev/null || fail "attempts not reset: $(cat "$T/dl2.out")"
pass "replay --all re-queued with attempts reset"

# --- purge
assert_eq 0 "$(pr_ctlx pg1.out dlq purge --older-than 1h)" "dlq purge --older-than 1h exit code"
pr_has pg1.out "purged 0 dead letters older than 1h"
assert_eq 1 "$(xlen_dead)" "dead letters after purging older than 1h"
# wait until the dead letter is over 1 s old by its own entry id (Redis' clock)
dead_age_over_1s() {
    local id now
    id=$(for ((k = 0; k < ${PR_REDIS_SHARDS:-1}; k++)); do rcli XRANGE "pr:{q$k}:dead" - + COUNT 1 | head -1; done | grep . | head -1)
    now=$(rcli TIME | tr -d '\r' | { read -r s; read -r us; echo $((s * 1000 + us / 1000)); })
    [ -n "$id" ] && [ $((now - ${id%-*})) -gt 1000 ]
}
pr_wait_for 60 dead_age_over_1s || fail "the dead letter never got 1 s old"
assert_eq 0 "$(pr_ctlx pg2.out dlq purge --older-than 1s)" "dlq purge --older-than 1s exit code"
pr_has pg2.out "purged 1 dead letter older than 1s"
assert_eq 0 "$(xlen_dead)" "dead letters after purge"
assert_eq 0 "$(pr_ctlx dl3.out dlq list)" "dlq list when empty"
pr_has dl3.out "no dead letters"
pr_msg "$T/one.sip" prid="$(pr_hex e41300004)"
send "$T/one.sip" 1
pr_wait_for 60 dead_is 1 || fail "fresh dead letter"
assert_eq 0 "$(pr_ctlx pg3.out dlq purge)" "dlq purge (all) exit code"
pr_has pg3.out "purged 1 dead letter"
assert_eq 0 "$(xlen_dead)" "dead letters after purge all"
assert_eq 2 "$(pr_ctlx pgbad.out dlq purge --older-than soon)" "dlq purge bad duration exit code"
pr_has pgbad.out "--older-than 'soon'"

# --- Redis down: operation failed, exit 1
pr_stop_redis
assert_eq 1 "$(pr_ctlx down.out tokens list)" "tokens list with Redis down"
pr_has down.out "cannot reach Redis"
assert_eq 1 "$(pr_ctlx down2.out dlq list)" "dlq list with Redis down"

echo "test_ops_tokens_dlq: all passed"
