#!/usr/bin/env bash
# profile-script.sh - where Redis's CPU goes for one MESSAGE sent alone
# (issue 14, lock-step): the listener's ingest script against a bare XADD
# (what the Kamailio row of run-ingest.sh --kamailio does) and against the
# script cut down command by command.
#
#   bench/profile-script.sh [COUNT]        (default 40000 calls per row)
#   BENCH_ROUNDS=3 bench/profile-script.sh 40000
#
# Starts, on 127.0.0.1 only, a private redis-server with the append-only
# file (everysec, as every benchmark here), takes the ingest script out of
# relay/queue.c (compiled with cc: the script's text is a C string), and
# for each row runs `redis-benchmark -c 1` (one call at a time, as a
# lock-step edge) with one notification per call: fresh push ids, one
# enabled tenant, no rate limit. Reports Redis's CPU per call from
# /proc/PID/stat, the median of BENCH_ROUNDS (default 3) alternating
# rounds. Builds nothing of the relay; needs redis-benchmark (Debian
# redis-tools) and cc.
. "$(dirname "$0")/common.sh"
COUNT=${1:-40000}
ROUNDS=${BENCH_ROUNDS:-3}
command -v redis-benchmark >/dev/null || fail "redis-benchmark not installed (Debian redis-tools)"
command -v cc >/dev/null || fail "cc not installed (the ingest script is taken out of relay/queue.c)"

# The script as the listener loads it: the C literal, printed by a
# two-line program built against the header its field names come from.
{
    echo '#include <stdio.h>'
    echo '#include "tenant.h"'
    sed -n '/^static const char ingest_lua\[\] =/,/^    "return out\\n";/p' "$PR_SRC/relay/queue.c"
    echo 'int main(void) { return fputs(ingest_lua, stdout) < 0; }'
} >"$T/dump.c"
grep -q 'return out' "$T/dump.c" || fail "ingest_lua not found in relay/queue.c"
cc -I"$PR_SRC/relay" -I"$PR_SRC/include" -o "$T/dump" "$T/dump.c" || fail "cannot build the script dump"
"$T/dump" >"$T/ingest.lua"

# The cut-down rows, on the same KEYS and ARGV as the listener's call.
cat >"$T/return.lua" <<'EOF'
return 1
EOF
cat >"$T/xadd.lua" <<'EOF'
return redis.call('XADD', KEYS[3], '*', 'id', ARGV[7], 'domain', ARGV[8], 'n', ARGV[9])
EOF
cat >"$T/set-xadd.lua" <<'EOF'
redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[2])
return redis.call('XADD', KEYS[3], '*', 'id', ARGV[7], 'domain', ARGV[8], 'n', ARGV[9])
EOF
cat >"$T/reads-set-xadd.lua" <<'EOF'
redis.call('HMGET', KEYS[1], 'enabled', ARGV[6], 'rate_limit', 'edge:' .. ARGV[11])
redis.call('EXISTS', KEYS[2])
redis.call('XLEN', KEYS[3])
redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[2])
return redis.call('XADD', KEYS[3], '*', 'id', ARGV[7], 'domain', ARGV[8], 'n', ARGV[9])
EOF
# The listener's checks for a single notification, straight through: no
# loop, no memo of tenant answers, no result table (issue 14: what a fast
# path for a MESSAGE sent alone could save; the listener does not use it).
cat >"$T/one.lua" <<'EOF'
local t = redis.call('HMGET', KEYS[1], 'enabled', ARGV[6], 'rate_limit', 'edge:' .. ARGV[11])
if not t[1] and ARGV[5] ~= '1' then return {503, 'not ready', 1} end
if t[1] ~= '1' then return {403, 'domain ' .. ARGV[8] .. ' is not enabled for push', 0} end
if t[2] ~= '1' then return {403, 'provider ' .. ARGV[6] .. ' is disabled for ' .. ARGV[8], 0} end
if not t[4] then return {403, 'TLS peer is not a registered edge of ' .. ARGV[8], 0} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {410, 'device token is known dead', 0} end
local limit = tonumber(t[3] or '0') or 0
if limit > 0 then
  local c = redis.call('INCR', KEYS[5])
  if c == 1 then redis.call('EXPIRE', KEYS[5], 2) end
  if c > math.ceil(limit / tonumber(ARGV[4])) then return {503, 'rate limit', 1} end
end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[1]) then return {503, 'high water', 5} end
local s = redis.pcall('SET', KEYS[4], '1', 'NX', 'EX', ARGV[2])
if not s then return {202, 'dup', 0} end
if s.err then return {503, 'queue unavailable: ' .. s.err, 5} end
local e = redis.pcall('XADD', KEYS[3], '*', 'id', ARGV[7], 'domain', ARGV[8], 'n', ARGV[9])
if type(e) == 'table' then
  redis.pcall('DEL', KEYS[4])
  return {503, 'queue unavailable: ' .. e.err, 5}
end
return {202, e, 0}
EOF

bench_start_redis
RECORD=$(python3 -c 'print("x" * 300)')     # about a real record's length
# KEYS: tenant, dead token, stream, dedup (fresh per call), rate;
# ARGV: high water, dedup window, 1 notification, 1 shard, ready; then
# provider, push id (fresh), domain, record, 1 SAN, the SAN.
CALL_KEYS=(5 "{q}:tenant:$BENCH_DOMAIN" "{q}:token:apns:00" "{q}:in:apns"
           "{q}:dedup:$BENCH_DOMAIN:__rand_int__" "{q}:rate:$BENCH_DOMAIN:1")
CALL_ARGS=(100000000 300 1 1 1 apns "id-__rand_int__" "$BENCH_DOMAIN" "$RECORD" 1 "$BENCH_EDGE")
reset_db() {
    rcli FLUSHALL >/dev/null
    rcli HSET "{q}:tenant:$BENCH_DOMAIN" enabled 1 apns 1 "edge:$BENCH_EDGE" 1 >/dev/null
}
reset_db
declare -A SHA
for row in ingest one return xadd set-xadd reads-set-xadd; do
    SHA[$row]=$(rcli SCRIPT LOAD "$(cat "$T/$row.lua")") || fail "SCRIPT LOAD $row"
done
# The ingest row must measure an accepted MESSAGE, not a refusal.
first=$(rcli EVALSHA "${SHA[ingest]}" "${CALL_KEYS[@]}" "${CALL_ARGS[@]}" | head -1)
[ "$first" = 202 ] || fail "the ingest script answered $first, not 202: tenant fields changed?"
first=$(rcli EVALSHA "${SHA[one]}" "${CALL_KEYS[@]}" "${CALL_ARGS[@]}" | head -1)
[ "$first" = 202 ] || fail "the single-notification script answered $first, not 202"

# one ROW ARGS...: Redis CPU microseconds per call of `redis-benchmark -c 1 ARGS`.
one() {
    local row=$1 t0 t1
    shift
    reset_db
    t0=$(bench_cpu_ticks_one "$REDIS_PID")
    redis-benchmark -p "$REDIS_PORT" -c 1 -n "$COUNT" -r 1000000000 "$@" >/dev/null ||
        fail "redis-benchmark ($row)"
    t1=$(bench_cpu_ticks_one "$REDIS_PID")
    bench_us_per $((t1 - t0)) "$COUNT"
}
declare -A US
ROWS=(xadd-command return xadd set-xadd reads-set-xadd one ingest)
for _ in $(seq "$ROUNDS"); do
    for row in "${ROWS[@]}"; do
        if [ "$row" = xadd-command ]; then
            us=$(one "$row" XADD "{q}:in:apns" '*' id "id-__rand_int__" domain "$BENCH_DOMAIN" n "$RECORD")
        else
            us=$(one "$row" EVALSHA "${SHA[$row]}" "${CALL_KEYS[@]}" "${CALL_ARGS[@]}")
        fi
        US[$row]="${US[$row]:-} $us"
    done
done

echo
echo "Redis CPU per call, one notification per call, one call at a time"
bench_machine
echo "calls:   $COUNT per row, median of $ROUNDS round(s)"
echo
printf '%-62s %10s\n' "what Redis runs" "us/call"
label() {
    case $1 in
        xadd-command) echo "XADD as a command (the Kamailio row's work)" ;;
        return) echo "a script that returns at once (the call itself)" ;;
        xadd) echo "a script: XADD" ;;
        set-xadd) echo "a script: SET NX EX (dedup key), XADD" ;;
        reads-set-xadd) echo "a script: HMGET, EXISTS, XLEN, SET NX EX, XADD" ;;
        one) echo "the same checks for one notification, no loop or memo" ;;
        ingest) echo "the listener's ingest script (the same five, and its checks)" ;;
    esac
}
for row in "${ROWS[@]}"; do
    # shellcheck disable=SC2086
    printf '%-62s %10s\n' "$(label "$row")" "$(bench_median ${US[$row]})"
done
