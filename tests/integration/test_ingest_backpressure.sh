#!/usr/bin/env bash
# Backpressure: a domain over its rate limit, or a provider queue over its
# high water mark, is answered 503 with Retry-After and nothing is queued;
# when the queue drains, MESSAGEs are accepted again.
. "$(dirname "$0")/lib.sh"

export PR_QUEUE_HIGH_WATER=10
pr_boot listener
pr_gen_edge edge.fabrikam.com
pr_enable fabrikam.com edge.fabrikam.com --rate-limit 5

# ---- rate limit: a burst of N MESSAGEs in one second, 5 per second allowed ----
# With S queue shards each shard admits ceil(5 / S) a second: the burst's
# MESSAGEs accepted are, per shard, at most that share. N > S * share, so
# some shard must refuse.
S=$(pr_shards)
SHARE=$(( (5 + S - 1) / S ))
N=$(( S * SHARE + 3 ))
declare -A PER_SHARD=()
: >"$T/burst"
for i in $(seq "$N"); do
    tok="fcm-token-$i:APA91bH_example"
    pr_msg "$T/one" domain=fabrikam.com provider=fcm param=example-lync prid="$tok" id="burst-$i"
    cat "$T/one" >>"$T/burst"
    k=$(pr_shard_of fcm "$tok")
    PER_SHARD[$k]=$(( ${PER_SHARD[$k]:-0} + 1 ))
done
WANT=0
for k in "${!PER_SHARD[@]}"; do WANT=$(( WANT + (PER_SHARD[$k] < SHARE ? PER_SHARD[$k] : SHARE) )); done
[ "$WANT" -lt "$N" ] || fail "test setup: the burst must exceed the rate share in some shard (S=$S)"
# The limit counts per wall-clock second, and the relay reads the second
# once per read: the client sends the burst as one write, after its TLS
# handshake, so the relay counts all of it in one second.
RESP=$(PR_EDGE=edge.fabrikam.com pr_sip_request "$T/burst" "$N") || fail "burst not answered: $RESP"
BURST_S=$(date +%s)         # the burst was counted in this second or before
assert_eq "$WANT" "$(grep -c '^SIP/2.0 202' <<<"$RESP")" "MESSAGEs accepted in the burst (rate limit 5/s, $SHARE/s per shard of $S)"
assert_eq $(( N - WANT )) "$(grep -c '^SIP/2.0 503' <<<"$RESP")" "MESSAGEs refused with 503 in the burst"
assert_eq $(( N - WANT )) "$(grep -ci '^Retry-After: *[1-9][0-9]*' <<<"$RESP")" "503s carrying Retry-After"
assert_eq "$WANT" "$(pr_xlen fcm)" "FCM entries after the burst"
# Another domain is not limited by fabrikam.com's rate.
pr_msg "$T/c" id=contoso-during-burst
pr_expect_status 202 "$T/c" "contoso.com MESSAGE right after fabrikam.com's burst"
# The next second accepts again (wait until the clock is past the burst's second).
past_burst() { [ "$(date +%s)" -gt "$BURST_S" ]; }
pr_wait_for 60 past_burst || fail "the clock did not move past second $BURST_S"
pr_msg "$T/f" domain=fabrikam.com provider=fcm param=example-lync prid="fcm-token-after:APA91bH_example" id=after-burst
PR_EDGE=edge.fabrikam.com pr_expect_status 202 "$T/f" "fabrikam.com MESSAGE a second later"

# ---- high water: queue_high_water = 10 per provider stream (of each shard) ----
pr_start_stunnel edge.contoso.com
PR_CSV_TAG=hw pr_gen_csv "$T/hw.csv" 9
pr_sipp message 9 -inf "$T/hw.csv" || fail "sipp: MESSAGEs below the high water mark not all 202"
assert_eq 10 "$(pr_xlen apns)" "APNs entries after the sipp pass"
# The default token's shard stream is brought to the mark (with one shard
# it is there already: contoso-during-burst and the 9 sipp MESSAGEs).
HW_KEY=$(pr_stream_key apns "$(pr_shard_of apns "$(printf 'a1%.0s' $(seq 32))")")
while [ "$(rcli XLEN "$HW_KEY")" -lt 10 ]; do
    rcli XADD "$HW_KEY" '*' id filler domain contoso.com n '{}' >/dev/null
done
assert_eq 10 "$(rcli XLEN "$HW_KEY")" "entries in $HW_KEY at the high water mark"
pr_msg "$T/over" id=over-high-water
pr_expect_status 503 "$T/over" "MESSAGE with the APNs queue at its high water mark"
[[ $(pr_header "$RESP" Retry-After) =~ ^[1-9][0-9]*$ ]] || fail "503 without Retry-After: $RESP"
pass "Retry-After: $(pr_header "$RESP" Retry-After)"
assert_eq 10 "$(rcli XLEN "$HW_KEY")" "entries in $HW_KEY after the refused MESSAGE"
# Another provider's queue is not affected.
pr_msg "$T/fcm" provider=fcm param=example-lync prid="fcm-token-while-full:APA91bH_example" id=fcm-while-apns-full
pr_expect_status 202 "$T/fcm" "FCM MESSAGE while the APNs queue is full"

# The dispatcher drains the stream (here: trimmed by hand); accepted again.
for key in $(pr_stream_keys apns); do rcli XTRIM "$key" MAXLEN 0 >/dev/null; done
pr_msg "$T/again" id=after-drain
pr_expect_status 202 "$T/again" "MESSAGE after the APNs queue drained"
assert_eq 1 "$(pr_xlen apns)" "APNs entries after the drain"
