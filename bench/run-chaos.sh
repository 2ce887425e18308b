#!/usr/bin/env bash
# run-chaos.sh - the chaos soak: a steady load through a listener and a
# dispatcher for N minutes while a schedule of faults runs, then an audit by
# push id of what became of every MESSAGE the relay answered 202.
#
#   bench/run-chaos.sh [--minutes N] [--rate R] [--appendfsync always|everysec]
#                      [--workers N]            (PR_BIN=build dir, default ./build)
#
# Starts, on 127.0.0.1 only: redis-server (append-only file, a dataset of
# CHAOS_KEYS keys so a restart loads for seconds), pushrelay-sandbox as APNs
# and FCM (+ OAuth), `pushrelayd --role listener` and `pushrelayd --role
# dispatcher` (each `--workers N`, default 1), and sipload as the edge at a
# steady rate, APNs and FCM, with device tokens carrying sandbox markers so
# that 429s, 503s, connection resets, stalls and slow answers happen all the
# time. Faults, each announced with a timestamp (schedule in chaos_schedule):
# kill -9 of the listener and of the dispatcher (once with deliveries held
# in flight by the sandbox's hold gate), Redis SIGTERM and kill -9, the
# provider stopped and restarted on its port, the provider frozen (SIGSTOP),
# OAuth down with every access token revoked, and a burst of resets.
#
# Then it waits until the queue is empty and audits (bench/chaos-audit.py):
# accepted (answered 202), delivered (in the sandbox's record), duplicates,
# dead letters by reason, expired, lost = accepted - (delivered | dead |
# expired), the seconds in which the listener answered 503, and the RSS of
# every process sampled every 30 s. Exits 1 when anything was lost (or a
# check failed), 0 otherwise. Every process it starts is stopped at exit;
# PR_KEEP=1 keeps the work directory (logs, records) after a passing run.
#
# Redis kill -9 and appendfsync: with `always` (the default here) Redis
# fsyncs every write before answering, so a 202 survives kill -9 and any
# loss is the relay's. With `everysec` (Redis's and deploy/redis.conf's
# production setting) about a second of acknowledged writes is at risk (on
# a host crash; on a process kill -9 only while Redis postponed a write
# behind a slow fsync): the audit then counts MESSAGEs answered 202 in the
# 2 s before a Redis kill -9 that vanished separately ("lost to fsync
# window") and does not count them as relay losses. See bench/README.md.
#
# Knobs (environment): CHAOS_MINUTES (10), CHAOS_RATE (200 MESSAGE/s, 4/5
# APNs, 1/5 FCM), CHAOS_APPENDFSYNC (always), CHAOS_KEYS (2000000),
# CHAOS_SEGMENT_S (10: sipload runs in segments, since its connections do
# not survive a listener kill), CHAOS_DRAIN_S (600: ceiling for the queue to
# empty after the load).

# ---- arguments (ours first; the rest go to common.sh / bench_args) ---------
CHAOS_MINUTES=${CHAOS_MINUTES:-10}
CHAOS_RATE=${CHAOS_RATE:-200}
CHAOS_APPENDFSYNC=${CHAOS_APPENDFSYNC:-always}
chaos_rest=()
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) CHAOS_MINUTES=${2:?--minutes needs N}; shift ;;
    --rate) CHAOS_RATE=${2:?--rate needs R}; shift ;;
    --appendfsync) CHAOS_APPENDFSYNC=${2:?--appendfsync needs always or everysec}; shift ;;
    *) chaos_rest+=("$1") ;;
    esac
    shift
done
set -- ${chaos_rest[@]+"${chaos_rest[@]}"}
. "$(dirname "$0")/common.sh"
bench_args "$@"
[ "$OPT_KAMAILIO$OPT_CPU$OPT_SERVER" = nonosandbox ] || fail "--kamailio, --cpu and --server are not run-chaos.sh's flags"
case $CHAOS_APPENDFSYNC in always | everysec) ;; *) fail "--appendfsync: always or everysec" ;; esac
python3 -c 'import sys; v=float(sys.argv[1]); sys.exit(0 if v >= 1 else 1)' "$CHAOS_MINUTES" ||
    fail "--minutes: at least 1"
[ "$CHAOS_RATE" -ge 10 ] 2>/dev/null || fail "--rate: a whole number >= 10"
CHAOS_KEYS=${CHAOS_KEYS:-2000000}
CHAOS_SEGMENT_S=${CHAOS_SEGMENT_S:-10}
CHAOS_DRAIN_S=${CHAOS_DRAIN_S:-600}
DURATION_S=$(python3 -c 'import sys; print(int(float(sys.argv[1]) * 60))' "$CHAOS_MINUTES")

bench_need sipload pushrelayd pushrelayctl pushrelay-sandbox
bench_need_roles
command -v curl >/dev/null || fail "curl is needed (the sandbox's control endpoints)"

STREAMS=('pr:{q0}:in:apns' 'pr:{q0}:in:fcm')   # redis.shards = 1: shard 0
RETRY_KEY='pr:{q0}:retry'
DEAD_KEY='pr:{q0}:dead'

# ---- bookkeeping ----------------------------------------------------------
# chaos_untrack PID: forget a process that is gone, so that lib.sh's cleanup
# never signals a later process that happens to get the same pid.
chaos_untrack() {
    local p keep=()
    for p in "${PR_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PR_PIDS=(${keep[@]+"${keep[@]}"})
}

# tenths N: N tenths as "N/10.N%10".
tenths() { echo "$(($1 / 10)).$(($1 % 10))"; }

# now_ms: wall clock, epoch milliseconds (what sipload and the sandbox log).
now_ms() { date +%s%3N; }

# announce WHAT...: a timestamped line on stdout and in $T/faults.log.
announce() {
    local line
    line="$(date -u +%H:%M:%S.%3N) t+$(( ($(now_ms) - T0_MS) / 1000 ))s $*"
    echo "$line"
    echo "$(now_ms) $*" >>"$T/faults.log"
}

# chaos_reap PID: wait for our child PID to be gone (reaped) and untrack it.
chaos_reap() {
    wait "$1" 2>/dev/null || true
    chaos_untrack "$1"
}

# ---- Redis -----------------------------------------------------------------
# chaos_redis_start: redis-server on REDIS_PORT with the append-only file in
# $T/redis, fsync policy CHAOS_APPENDFSYNC; returns once it answers PING
# with PONG (not LOADING), printing how many seconds that took.
chaos_redis_start() {
    local t0 r
    mkdir -p "$T/redis"
    t0=$(now_ms)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$T/redis" \
        --save "" --appendonly yes --appendfsync "$CHAOS_APPENDFSYNC" \
        --enable-debug-command local --daemonize no >>"$T/redis.log" 2>&1 &
    REDIS_PID=$!
    pr_track "$REDIS_PID"
    echo "$REDIS_PID" >"$T/pid.redis"
    for _ in $(seq 1200); do
        r=$(rcli PING 2>/dev/null || true)
        [ "$r" = PONG ] && { REDIS_UP_S=$(( ($(now_ms) - t0) / 100 )); return 0; }
        kill -0 "$REDIS_PID" 2>/dev/null || fail "redis-server exited at start (see $T/redis.log)"
        sleep 0.1
    done
    fail "redis-server not answering PONG after 120 s (see $T/redis.log)"
}

# chaos_populate: CHAOS_KEYS keys of 100 bytes, then an AOF rewrite, so the
# dataset is in the append-only file's base and every restart loads it
# (DEBUG POPULATE itself is not written to the AOF).
chaos_populate() {
    local info
    [ "$CHAOS_KEYS" -gt 0 ] || return 0
    rcli DEBUG POPULATE "$CHAOS_KEYS" chaos:dataset 100 >/dev/null ||
        fail "DEBUG POPULATE failed (see $T/redis.log)"
    rcli BGREWRITEAOF >/dev/null
    for _ in $(seq 3000); do
        info=$(rcli INFO persistence)
        case $info in
        *aof_rewrite_in_progress:0*aof_rewrite_scheduled:0*) return 0 ;;
        esac
        sleep 0.1
    done
    fail "AOF rewrite of the dataset not done after 300 s"
}

# ---- the sandbox -------------------------------------------------------------
chaos_sandbox_start() {
    "$PR_BIN/pushrelay-sandbox" --listen "127.0.0.1:$SB_PORT" \
        --cert "$PKI/server.pem" --key "$PKI/server.key" \
        --apns-key "$APNS_KEY" --apns-team "$BENCH_TEAM" --apns-key-id "$BENCH_KEY_ID" \
        --fcm-service-account "$T/sa.json" --record "$T/record.jsonl" \
        --log-level warn >>"$T/sandbox.log" 2>&1 &
    SB_PID=$!
    pr_track "$SB_PID"
    echo "$SB_PID" >"$T/pid.sandbox"
    pr_wait_bound "$SB_PORT" "$SB_PID" "$PR_WAIT_S" "$T/sandbox.log"
}

# sb_ctl PATH: POST to a sandbox control endpoint; prints the answer.
sb_ctl() {
    curl -sS --http2 --cacert "$PKI/ca.pem" -X POST "https://127.0.0.1:$SB_PORT$1"
}
sb_stat() {
    curl -sS --http2 --cacert "$PKI/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1"
}

# ---- the relay -----------------------------------------------------------------
# chaos_conf ROLE MON_PORT: $T/ROLE.conf. Both roles share everything but
# node_id and the monitoring port. Retries are generous enough that a
# provider outage of the schedule's length does not exhaust them; a
# stalled request is cancelled after 3 s; a killed dispatcher's work is
# reclaimed after 5 s.
chaos_conf() {
    local role=$1 mon=$2
    cat >"$T/$role.conf" <<EOF
node_id = "chaos-$role";
log_level = "info";
redis = { host = "127.0.0.1"; port = $REDIS_PORT; password = ""; db = 0; prefix = "pr:"; };
federation = {
  listen = [ "127.0.0.1:$SIP_PORT" ];
  domain = "push.example.net";
  tls = { certificate = "$PKI/server.pem"; private_key = "$PKI/server.key"; ca_file = "$PKI/ca.pem"; };
  max_connections = 10000;
  queue_high_water = 100000000;
  dedup_window_s = 3600;
};
dispatcher = {
  max_in_flight = 2000;
  claim_idle_ms = 5000;
  retry = { max_attempts = 16; base_delay_ms = 500; max_delay_ms = 10000; };
};
apps = (
  { id = "lync-ios"; provider = "apns"; topic = "$BENCH_TOPIC"; team_id = "$BENCH_TEAM";
    key_id = "$BENCH_KEY_ID"; key_file = "$APNS_KEY"; endpoint = "https://127.0.0.1:$SB_PORT";
    ca_file = "$PKI/ca.pem"; request_timeout_ms = 3000; },
  { id = "lync-android"; provider = "fcm"; project_id = "example-lync";
    service_account = "$T/sa.json"; endpoint = "https://127.0.0.1:$SB_PORT";
    ca_file = "$PKI/ca.pem"; request_timeout_ms = 3000; }
);
monitoring = { listen = "127.0.0.1:$mon"; };
EOF
}

# chaos_relay_start ROLE: pushrelayd --role ROLE --workers BENCH_WORKERS;
# returns once its /readyz says ready (60 s ceiling).
chaos_relay_start() {
    local role=$1 mon pid
    mon=$(sed -n 's/.*listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$T/$role.conf" | tail -n1)
    "$PR_BIN/pushrelayd" -c "$T/$role.conf" --role "$role" --workers "$BENCH_WORKERS" >>"$T/$role.log" 2>&1 &
    pid=$!
    pr_track "$pid"
    echo "$pid" >"$T/pid.$role"
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$mon/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || fail "pushrelayd --role $role exited at start (see $T/$role.log)"
        sleep 0.1
    done
    fail "pushrelayd --role $role not ready after 60 s (see $T/$role.log)"
}

# chaos_kill9_role ROLE: kill -9 of ROLE. A lone process is killed and
# started again by the script; under a supervisor (--workers > 1) one
# worker is killed and the supervisor restarts it, as in production.
chaos_kill9_role() {
    local role=$1 pid victim t0
    pid=$(cat "$T/pid.$role")
    t0=$(now_ms)
    if [ "$BENCH_WORKERS" != 1 ]; then
        victim=$(ps -o pid= --ppid "$pid" | awk 'NR == 1 {print $1}')
        [ -n "$victim" ] || fail "no worker of pushrelayd --role $role to kill"
        announce "FAULT kill -9 $role worker (pid $victim; the supervisor restarts it)"
        kill -9 "$victim"
        return 0
    fi
    announce "FAULT kill -9 $role (pid $pid)"
    kill -9 "$pid"
    chaos_reap "$pid"
    chaos_relay_start "$role"
    announce "  $role restarted (pid $(cat "$T/pid.$role")), ready $(tenths $(( ($(now_ms) - t0) / 100 ))) s after the kill"
}

# ---- load ------------------------------------------------------------------------
# chaos_loader NAME PROVIDER PARAM RATE PREFIXES: sipload segments of
# CHAOS_SEGMENT_S at RATE/s until LOAD_END, appending every request's fate
# to $T/load-NAME.log. '@' in PREFIXES becomes the segment number, so every
# token of the run is unique. A segment ends early when its connections
# die (a listener kill); the next one starts at once, as an edge
# reconnects. Runs in the background; SIGTERM stops it and its sipload.
chaos_loader() {
    local name=$1 provider=$2 param=$3 rate=$4 pattern=$5 seg=0 child= left dur
    trap '[ -z "$child" ] || kill "$child" 2>/dev/null; exit 0' TERM
    while :; do
        left=$(( (LOAD_END_MS - $(now_ms)) / 1000 ))
        [ "$left" -ge 1 ] || break
        dur=$(( left < CHAOS_SEGMENT_S ? left : CHAOS_SEGMENT_S ))
        "$PR_BIN/sipload" --host 127.0.0.1 --port "$SIP_PORT" --cert "$EDGE_CERT" --key "$EDGE_KEY" \
            --ca "$PKI/ca.pem" --domain "$BENCH_DOMAIN" --provider "$provider" --param "$param" \
            --connections 2 --window 200 --rate "$rate" --duration "$dur" --drain 20 \
            --token-prefix "${pattern//@/$(printf '%04x' "$seg")}" \
            --log "$T/load-$name.log" --json >>"$T/load-$name.jsonl" 2>>"$T/load-$name.err" &
        child=$!
        wait "$child" || true
        child=
        seg=$((seg + 1))
        # refused while the listener restarts: pace the reconnects like an edge
        [ "$(( (LOAD_END_MS - $(now_ms)) / 1000 ))" -lt "$left" ] || sleep 0.2
    done
}

# ---- RSS -----------------------------------------------------------------------------
# chaos_rss_sampler: every 30 s, "epoch_s role kB" (VmRSS of the role's
# process tree) for each role into $T/rss.log, until killed.
chaos_rss_sampler() {
    local role pid
    trap 'exit 0' TERM
    while :; do
        for role in listener dispatcher redis sandbox; do
            pid=$(cat "$T/pid.$role" 2>/dev/null) || continue
            echo "$(date +%s) $role $(bench_rss_kb "$pid")" >>"$T/rss.log"
        done
        sleep 30 &
        wait $! || true
    done
}

# ---- the fault schedule ----------------------------------------------------
# at FRACTION: wait until FRACTION of the load's duration has passed (a
# fault that overran its slot makes the next one start at once).
at() {
    local due
    due=$(python3 -c 'import sys; print(int(int(sys.argv[1]) + float(sys.argv[2]) * int(sys.argv[3]) * 1000))' \
        "$T0_MS" "$1" "$DURATION_S")
    while [ "$(now_ms)" -lt "$due" ]; do sleep 0.2; done
}

# hold_s FRACTION: a fault's length, FRACTION of the duration, at least 5 s.
hold_s() {
    python3 -c 'import sys; print(max(5, int(float(sys.argv[1]) * int(sys.argv[2]))))' "$1" "$DURATION_S"
}

fault_redis_term() {
    local pid t0
    pid=$(cat "$T/pid.redis")
    t0=$(now_ms)
    announce "FAULT Redis SIGTERM (pid $pid, $(rcli DBSIZE) keys)"
    kill -TERM "$pid"
    chaos_reap "$pid"
    chaos_redis_start
    announce "  Redis answering again $(tenths $(( ($(now_ms) - t0) / 100 ))) s after the fault (start and load: $(tenths "$REDIS_UP_S") s)"
}

fault_redis_kill9() {
    local pid t0
    pid=$(cat "$T/pid.redis")
    t0=$(now_ms)
    announce "FAULT Redis kill -9 (pid $pid, appendfsync $CHAOS_APPENDFSYNC)"
    echo "$t0" >>"$T/redis-kill9.ms"
    kill -9 "$pid"
    chaos_reap "$pid"
    chaos_redis_start
    announce "  Redis answering again $(tenths $(( ($(now_ms) - t0) / 100 ))) s after the fault (start and load: $(tenths "$REDIS_UP_S") s)"
}

fault_provider_down() {
    local secs=$1 pid
    pid=$(cat "$T/pid.sandbox")
    announce "FAULT provider down: sandbox stopped (SIGTERM) for $secs s"
    kill -TERM "$pid"
    chaos_reap "$pid"
    sleep "$secs"
    chaos_sandbox_start
    announce "  provider back (pid $(cat "$T/pid.sandbox"))"
}

fault_provider_frozen() {
    local secs=$1 pid
    pid=$(cat "$T/pid.sandbox")
    announce "FAULT provider frozen (SIGSTOP) for $secs s: connections open, nothing answered"
    kill -STOP "$pid"
    sleep "$secs"
    kill -CONT "$pid"
    announce "  provider thawed (SIGCONT)"
}

fault_oauth_down() {
    local secs=$1
    announce "FAULT OAuth down for $secs s, every FCM access token revoked"
    sb_ctl "/_sandbox/oauth-down?seconds=3600" >/dev/null
    sb_ctl "/_sandbox/expire-tokens" >/dev/null
    sleep "$secs"
    sb_ctl "/_sandbox/oauth-down?seconds=0" >/dev/null
    announce "  OAuth back"
}

# fault_kill9_dispatcher_in_flight: the sandbox's hold gate keeps the next
# deliveries unanswered; once some are held (an event, not a time), the
# dispatcher is killed with them in flight, then the gate opens.
fault_kill9_dispatcher_in_flight() {
    local held=0
    sb_ctl "/_sandbox/hold?after=0" >/dev/null
    for _ in $(seq 600); do
        held=$(sb_stat held)
        [ "$held" -gt 0 ] && break
        sleep 0.1
    done
    [ "$held" -gt 0 ] || fail "no delivery reached the hold gate in 60 s: is the dispatcher delivering?"
    announce "  $held deliveries held in flight at the provider"
    chaos_kill9_role dispatcher
    announce "  released $(sb_ctl /_sandbox/release)"
}

fault_reset_burst() {
    local secs=$1 n
    announce "FAULT burst of connection resets: $secs s of MESSAGEs whose first delivery resets the provider connection"
    "$PR_BIN/sipload" --host 127.0.0.1 --port "$SIP_PORT" --cert "$EDGE_CERT" --key "$EDGE_KEY" \
        --ca "$PKI/ca.pem" --domain "$BENCH_DOMAIN" --provider apns --param "$BENCH_PARAM" \
        --connections 1 --window 200 --rate 100 --duration "$secs" --drain 20 \
        --token-prefix "c1b0,c1b1" --log "$T/load-burst.log" --json >>"$T/load-burst.jsonl" \
        2>>"$T/load-burst.err" || true
    n=$(grep -c ' 202$' "$T/load-burst.log" || true)
    announce "  burst done: $n MESSAGEs accepted, each resets a connection once"
}

chaos_schedule() {
    at 0.06; chaos_kill9_role listener
    at 0.13; announce "FAULT kill -9 dispatcher with deliveries in flight (hold gate)"
    fault_kill9_dispatcher_in_flight
    at 0.20; fault_redis_term
    at 0.30; fault_provider_down "$(hold_s 0.04)"
    at 0.40; fault_oauth_down "$(hold_s 0.05)"
    at 0.50; fault_provider_frozen "$(hold_s 0.025)"
    at 0.58; fault_reset_burst "$(hold_s 0.01)"
    at 0.66; fault_redis_kill9
    at 0.76; chaos_kill9_role listener
    at 0.86; chaos_kill9_role dispatcher
}

# ---- set-up ------------------------------------------------------------------------
bench_pki
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/fcm-sa.key" 2>/dev/null
SB_PORT=$(pr_free_port)
SIP_PORT=$(pr_free_port)
REDIS_PORT=$(pr_free_port)
python3 -c 'import json, sys; json.dump({"type": "service_account",
    "project_id": "example-lync", "private_key_id": "k1",
    "private_key": open(sys.argv[1]).read(),
    "client_email": "relay@example-lync.iam.gserviceaccount.com",
    "token_uri": "https://127.0.0.1:%s/token" % sys.argv[2]}, open(sys.argv[3], "w"))' \
    "$PKI/fcm-sa.key" "$SB_PORT" "$T/sa.json"
: >"$T/faults.log"
T0_MS=$(now_ms)

echo "pushrelay chaos soak: $CHAOS_MINUTES min at $CHAOS_RATE MESSAGE/s, appendfsync $CHAOS_APPENDFSYNC"
bench_machine
echo "work:    $T"
chaos_redis_start
announce "Redis up; populating $CHAOS_KEYS keys"
chaos_populate
announce "dataset: $(rcli DBSIZE) keys, $(rcli INFO memory | sed -n 's/^used_memory_human://p' | tr -d '\r') in Redis"
chaos_sandbox_start
chaos_conf listener "$(pr_free_port)"
chaos_conf dispatcher "$(pr_free_port)"
bench_enable_push "$T/listener.conf"
chaos_relay_start listener
chaos_relay_start dispatcher

# token mixes (markers: tests/sandbox/README.md): per 20 APNs MESSAGEs,
# 14 plain, 2 answered 429 first, 1 answered 503 first, 1 resetting the
# connection on its first attempt, 1 never answered on its first attempt
# (a stall the dispatcher must time out), 1 answered after 300 ms; FCM
# the same mix less the stall.
APNS_MIX="0a@0,0a@1,0a@2,0a@3,0a@4,0a@5,0a@6,0a@7,0a@8,0a@9,0a@a,0a@b,0a@c,0a@d,e4291a@0,e4291a@1,e5031a@,c1a@,b1a@,d0300a@"
FCM_MIX="0f@0,0f@1,0f@2,0f@3,0f@4,0f@5,0f@6,e4291f@,e5031f@,c1f@,d0300f@"
APNS_RATE=$((CHAOS_RATE * 4 / 5))
FCM_RATE=$((CHAOS_RATE - APNS_RATE))

T0_MS=$(now_ms)
LOAD_END_MS=$((T0_MS + DURATION_S * 1000))
announce "load starts: $APNS_RATE APNs + $FCM_RATE FCM MESSAGE/s for $DURATION_S s"
chaos_loader apns apns "$BENCH_PARAM" "$APNS_RATE" "$APNS_MIX" &
LOADER_APNS=$!
pr_track "$LOADER_APNS"
chaos_loader fcm fcm example-lync "$FCM_RATE" "$FCM_MIX" &
LOADER_FCM=$!
pr_track "$LOADER_FCM"
chaos_rss_sampler &
SAMPLER=$!
pr_track "$SAMPLER"

chaos_schedule

wait "$LOADER_APNS" || true
wait "$LOADER_FCM" || true
chaos_untrack "$LOADER_APNS"
chaos_untrack "$LOADER_FCM"
announce "load done; waiting for the queue to empty (ceiling $CHAOS_DRAIN_S s)"

# ---- drain: nothing queued, pending, waiting for a retry or held --------------
queue_left() {
    local s n=0 x
    for s in "${STREAMS[@]}"; do
        x=$(rcli XLEN "$s"); n=$((n + ${x:-0}))
    done
    x=$(rcli ZCARD "$RETRY_KEY"); n=$((n + ${x:-0}))
    echo "$n"
}
drained=no
for _ in $(seq $((CHAOS_DRAIN_S * 2))); do
    if [ "$(queue_left)" = 0 ] && [ "$(sb_stat delayed)" = 0 ] && [ "$(sb_stat held)" = 0 ]; then
        drained=yes
        break
    fi
    sleep 0.5
done
announce "queue empty: $drained ($(queue_left) left)"
# the record is flushed within 10 ms of a delivery, on exit at the latest
kill -TERM "$(cat "$T/pid.sandbox")"
chaos_reap "$(cat "$T/pid.sandbox")"
kill "$SAMPLER" 2>/dev/null || true
chaos_reap "$SAMPLER"
for role in listener dispatcher; do
    kill -0 "$(cat "$T/pid.$role")" 2>/dev/null || announce "WARNING: $role is not running at the end"
done
# The relay's own counters, for the audit to hold against its own: both
# roles stopped cleanly first, so that each flushed what it had buffered.
for role in listener dispatcher; do
    kill -TERM "$(cat "$T/pid.$role")" 2>/dev/null || true
    chaos_reap "$(cat "$T/pid.$role")"
done
"$PR_BIN/pushrelayctl" -c "$T/listener.conf" stats --domain "$BENCH_DOMAIN" --json >"$T/stats.json" ||
    announce "WARNING: pushrelayctl stats failed"

rcli --json XRANGE "$DEAD_KEY" - + >"$T/dead.json"

# ---- audit ---------------------------------------------------------------------------
rc=0
python3 "$BENCH_DIR/chaos-audit.py" --dir "$T" --appendfsync "$CHAOS_APPENDFSYNC" \
    --drained "$drained" --redis-port "$REDIS_PORT" --domain "$BENCH_DOMAIN" | tee "$T/audit.txt" || rc=$?
[ "$rc" -eq 0 ] || fail "the audit found losses or a failed check (logs: $T)"
