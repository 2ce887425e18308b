# disp_lib.sh - helpers for the dispatcher tests (test_dispatch_*.sh), on top
# of lib.sh: a private Redis, pushrelay-sandbox as APNs, a config whose apps
# point at it, and the dispatcher itself. Source lib.sh first, then this.
#
# The dispatcher runs as `pushrelayd -c CONF --role dispatcher`; DISP_CMD
# overrides that (test_dispatch_reload.sh drives tests/tools/pr_disp_run).

QUEUE="$PR_BIN/pr_queue"
TEAM=TEAM123456
KID=KEY1234567
TOPIC=com.example.lync

# disp_cmd prints the command that runs a dispatcher for config $1.
disp_cmd() {
    if [ -n "${DISP_CMD:-}" ]; then
        echo "$DISP_CMD -c $1"
    else
        echo "$PR_BIN/pushrelayd -c $1 --role dispatcher"
    fi
}

# disp_setup: Redis, test PKI, APNs key, FCM service account and a sandbox
# (APNs, FCM + OAuth, MPNS) recording deliveries in $T/record.jsonl; sets
# SB_PORT (HTTP/2: APNs, FCM, OAuth), MPNS_PORT, SB_PID.
disp_setup() {
    pr_start_redis
    pr_gen_certs
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/apns.p8" 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/sa.key" 2>/dev/null
    disp_start_sandbox
}

# disp_start_sandbox: (re)starts the sandbox on new ports; SB_ARGS adds
# flags (--goaway-after N ...). Sets SB_PORT, MPNS_PORT, SB_PID.
disp_start_sandbox() {
    # The sandbox checks assertions against the account's key; token_uri is
    # rewritten once its port is known.
    disp_service_account "https://127.0.0.1/token"
    # shellcheck disable=SC2086  # SB_ARGS is a list of flags
    pr_run_sandbox sandbox 0 0 \
        --apns-key "$T/apns.p8" --apns-team "$TEAM" --apns-key-id "$KID" \
        --fcm-service-account "$T/sa.json" --record "$T/record.jsonl" ${SB_ARGS:-}
    SB_PORT=$SANDBOX_PORT
    SB_PID=$SANDBOX_PID
    disp_service_account "https://127.0.0.1:$SB_PORT/token"
}

# disp_service_account TOKEN_URI: writes $T/sa.json for project demo-project.
disp_service_account() {
    python3 "$PR_SRC/tests/tools/fcm_service_account.py" "$T/sa.key" demo-project "$1" "$T/sa.json"
}

# disp_config_base NODE_ID: prints what every dispatcher test config starts
# with: node id, log level DISP_LOG_LEVEL (default info), the test Redis, and a federation block (on a
# free port; the dispatcher role does not listen) with the test PKI.
disp_config_base() {
    cat <<EOF
node_id = "$1";
log_level = "${DISP_LOG_LEVEL:-info}";
redis = { host = "127.0.0.1"; port = $REDIS_PORT; prefix = "pr:"; shards = ${PR_REDIS_SHARDS:-1}; };
federation = {
  listen = [ "127.0.0.1:$(pr_free_port)" ];
  domain = "push.example.net";
  tls = { certificate = "$T/pki/server.pem"; private_key = "$T/pki/server.key";
          ca_file = "$T/pki/ca.pem"; };
};
EOF
}

# disp_config FILE [max_in_flight] [claim_idle_ms] [max_attempts]: writes a
# config with apps "test-ios" (APNs at the sandbox), "down-ios" (APNs at a
# port nothing listens on: a provider outage that never ends), "test-android"
# (FCM at the sandbox), and with DISP_MPNS=1 "test-wp" (MPNS, channels on
# 127.0.0.1). DISP_IOS_EXTRA adds settings to test-ios
# ("request_timeout_ms = 2000;").
disp_config() {
    local file=$1 inflight=${2:-2000} claim=${3:-30000} attempts=${4:-8}
    local dead_port mpns_app=""
    dead_port=$(pr_free_port)
    if [ "${DISP_MPNS:-0}" = 1 ]; then
        mpns_app=',
  { id = "test-wp"; provider = "mpns"; allowed_hosts = [ "127.0.0.1" ]; ca_file = "'"$T"'/pki/ca.pem"; }'
    fi
    disp_config_base disp-test >"$file"
    cat >>"$file" <<EOF
dispatcher = { max_in_flight = $inflight; claim_idle_ms = $claim;
  retry = { max_attempts = $attempts; base_delay_ms = 100; max_delay_ms = 2000; }; };
apps = (
  { id = "test-ios"; provider = "apns"; topic = "$TOPIC"; team_id = "$TEAM"; key_id = "$KID";
    key_file = "$T/apns.p8"; endpoint = "https://127.0.0.1:$SB_PORT"; ca_file = "$T/pki/ca.pem";
    ${DISP_IOS_EXTRA:-} },
  { id = "down-ios"; provider = "apns"; topic = "$TOPIC.down"; team_id = "$TEAM"; key_id = "$KID";
    key_file = "$T/apns.p8"; endpoint = "https://127.0.0.1:$dead_port"; ca_file = "$T/pki/ca.pem"; },
  { id = "test-android"; provider = "fcm"; project_id = "demo-project";
    service_account = "$T/sa.json"; endpoint = "https://127.0.0.1:$SB_PORT"; ca_file = "$T/pki/ca.pem"; }$mpns_app
);
EOF
}

# disp_start CONF [LOGNAME]: starts a dispatcher; sets DISP_PID. Returns
# once pushrelayd logged "started" (its signal handlers are in place, so a
# test may SIGTERM it at once).
disp_start() {
    local conf=$1 log=${2:-dispatcher} cmd
    cmd=$(disp_cmd "$conf")
    $cmd >>"$T/$log.log" 2>&1 &
    DISP_PID=$!
    pr_track "$DISP_PID"
    case $cmd in
        "$PR_BIN/pushrelayd "*)
            pr_wait_log "$T/$log.log" "started \\(role dispatcher, pid $DISP_PID\\)" "$DISP_PID" ;;
    esac
}

# disp_stop_clean: SIGTERM, and the dispatcher must exit 0. The ceiling is
# generous (60 s) because a sanitizer build on a busy machine is slow; a
# dispatcher that hangs on SIGTERM still fails.
disp_stop_clean() {
    kill -TERM "$DISP_PID"
    local rc=0
    for _ in $(seq 600); do kill -0 "$DISP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$DISP_PID" 2>/dev/null && fail "dispatcher still running 60 s after SIGTERM"
    wait "$DISP_PID" || rc=$?
    assert_eq 0 "$rc" "dispatcher exit status after SIGTERM"
}

# queue N [pr_queue args...]: queues N notifications for app test-ios.
queue() {
    local n=$1; shift
    local got
    got=$("$QUEUE" -p "$REDIS_PORT" -n "$n" --app test-ios --shards "$(disp_shards)" "$@")
    [ "$got" = "$n" ] || fail "queued $got of $n"
}

# apns_token MARKER I: a 64-hex-digit APNs token starting with the sandbox
# behaviour MARKER (see tests/sandbox/sb_behaviour.h), unique per I.
apns_token() { printf '%s%0*x' "$1" $((64 - ${#1})) "$2"; }

# sb_stat FIELD: a number from the running sandbox's GET /_sandbox/stats
# ("delivered.apns", "held", "requests", ...); fails the test when the
# sandbox does not answer, so that a poll never mistakes "no answer" for 0.
sb_stat() {
    local doc
    doc=$(curl -sS --max-time 30 --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SB_PORT/_sandbox/stats") ||
        fail "sandbox stats: no answer from 127.0.0.1:$SB_PORT"
    printf '%s' "$doc" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1" || fail "sandbox stats: no field $1 in $doc"
}

# sb_delivered: APNs deliveries the running sandbox counted.
sb_delivered() { sb_stat delivered.apns; }

# sb_held: answers the sandbox's hold gate keeps back now (tests/sandbox/sb_hold.h).
sb_held() { sb_stat held; }

# sb_control NAME[?QUERY]: POST /_sandbox/NAME (hold?after=N, release,
# expire-tokens, ...); prints the JSON answer, fails the test on an error.
sb_control() {
    curl -sS -f --max-time 30 -X POST --cacert "$T/pki/ca.pem" \
        "https://127.0.0.1:$SB_PORT/_sandbox/$1" || fail "sandbox control $1 failed"
}

# sb_stop: stops the sandbox, which flushes its delivery record.
sb_stop() {
    kill -TERM "$SB_PID"
    wait "$SB_PID" 2>/dev/null || true
}

# record_ids: the push ids in the sandbox's delivery record, one a line.
record_ids() { pr_record_ids "$T/record.jsonl"; }
delivered_count() { record_ids | wc -l; }
delivered_distinct() { record_ids | sort -u | wc -l; }

# wait_for SECONDS 'CONDITION': evaluates the shell CONDITION (quote it, so
# that its $(...) run on every poll) until it holds; fails the test if it
# never does, or at once if the dispatcher started last ($DISP_PID) died.
wait_for() {
    local secs=$1; shift
    for _ in $(seq $((secs * 10))); do
        eval "$*" && return 0
        if [ -n "${DISP_PID:-}" ] && ! kill -0 "$DISP_PID" 2>/dev/null; then
            fail "dispatcher (pid $DISP_PID) exited while waiting for: $*"
        fi
        sleep 0.1
    done
    echo "stream $(stream_len) pending $(pending_count) retry $(retry_len)" \
         "dead $(dead_len) sandbox delivered $(sb_delivered)" >&2
    fail "timed out after ${secs}s waiting for: $*"
}

# dead_field ID FIELD: FIELD (reason, last_status, attempts, n) of push id ID's dead letter.
dead_field() {  # dead_field ID FIELD
    python3 - "$REDIS_PORT" "$1" "$2" <<'PY'
import subprocess, sys
port, want, field = sys.argv[1:]
import json, os
for k in range(int(os.environ.get("PR_REDIS_SHARDS", "1"))):
    out = subprocess.run(["redis-cli", "-p", port, "--json", "XRANGE", "pr:{q%d}:dead" % k, "-", "+"],
                         capture_output=True, text=True).stdout
    for _id, kv in json.loads(out):
        f = dict(zip(kv[::2], kv[1::2]))
        if f["id"] == want:
            print(f[field])
PY
}

# The queue's shards (keys.h): the test configs set redis.shards = PR_REDIS_SHARDS (default 1).
disp_shards() { echo "${PR_REDIS_SHARDS:-1}"; }

# disp_shard_of PROVIDER TOKEN: the shard of a notification, computed here
# independently of relay/keys.c (FNV-1a 32 over provider, NUL, token; mod S).
disp_shard_of() {
    python3 -c '
import sys
h = 2166136261
for b in sys.argv[1].encode() + b"\0" + sys.argv[2].encode():
    h = ((h ^ b) * 16777619) & 0xffffffff
print(h % int(sys.argv[3]))' "$1" "$2" "$(disp_shards)"
}

# q_sum CMD REST [ARGS...]: the first line of "CMD pr:{q<k>}:REST ARGS"
# summed over every shard (a missing group counts 0).
q_sum() {
    local cmd=$1 rest=$2 k v n=0
    shift 2
    for ((k = 0; k < $(disp_shards); k++)); do
        v=$(rcli "$cmd" "pr:{q$k}:$rest" "$@" | head -1)
        case $v in ''|*[!0-9]*) v=0 ;; esac
        n=$((n + v))
    done
    echo "$n"
}

# q_range REST: XRANGE of stream pr:{q<k>}:REST of every shard, one after another.
q_range() {
    local k
    for ((k = 0; k < $(disp_shards); k++)); do rcli XRANGE "pr:{q$k}:$1" - +; done
}

stream_len() { q_sum XLEN in:apns; }
pending_count() { q_sum XPENDING in:apns dispatch; }
retry_len() { q_sum ZCARD retry; }
dead_len() { q_sum XLEN dead; }
stat_total() { local v; v=$(rcli HGET pr:stats:total "$1"); echo "${v:-0}"; }
stat_domain() { local v; v=$(rcli HGET "pr:stats:domain:$1" "$2"); echo "${v:-0}"; }
