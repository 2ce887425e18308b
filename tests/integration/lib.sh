# shellcheck shell=bash
# lib.sh - shared helpers for integration tests. Source it first:
#   . "$(dirname "$0")/lib.sh"
# It makes a private work directory ($T), registers cleanup so every process
# a test starts is stopped when the test exits (pass or fail), and gives
# helpers to start real peers on free loopback ports.
#
# Environment (set by ctest): PR_BIN = build dir with the binaries,
# PR_SRC = source dir. Optional: PR_KEEP=1 keeps $T after a passing run
# (a failing run always keeps it and prints the tail of every log).
#
# Helpers, in the order a test uses them:
#   pr_gen_certs, pr_gen_edge FQDN       test PKI in $T/pki
#   pr_start_redis, rcli ARGS            private redis-server ($REDIS_PORT)
#   pr_start_replica, pr_start_sentinels a replica; three sentinels ($SENTINEL_LIST)
#   pr_write_config FILE                 pushrelayd config (ports, limits, apps)
#   pr_start_relay [ROLE], pr_stop_relay pushrelayd ($RELAY_PID, $SIP_PORT)
#   pr_start_sandbox [ARGS]              fake APNs/FCM/MPNS ($T/sandbox.jsonl)
#   pr_ctl ARGS, pr_enable DOM FQDN ..   pushrelayctl on the test config
#   pr_boot [--sandbox] [ROLE]           all of the above for a relay test
#   pr_start_stunnel EDGE                the edge's TLS client ($STUNNEL_PORT)
#   pr_gen_csv, pr_sipp SCEN N ARGS      sipp as the edge (sipp/*.xml)
#   pr_msg OUT k=v.., pr_sip_request F   one raw request over mutual TLS
#   pr_expect_status CODE F, pr_status, pr_header   response checks ($RESP)
#   pr_sipclient idle|trickle|sendidle|ping|hold    misbehaving clients
#   pr_xlen PROV, pr_entries PROV        what the provider streams hold (all shards)
#   pr_shard_of PROV TOKEN, pr_qkey K REST   the queue shard layout (relay/keys.h)
#   pr_qsum CMD REST, pr_pending PROV    XLEN/ZCARD, pending entries over all shards
#   pr_wait_for SECS CMD, pr_stop PID    polling, stopping
#   pr_wait_log FILE RE PID              readiness by a log line
#
# Waits are polls on a condition with a generous ceiling (PR_WAIT_S, 60 s by
# default): a slow or busy machine only makes a test slower, never fails it.
# Nothing here sleeps for a fixed time before a check.
set -euo pipefail

: "${PR_BIN:?PR_BIN must point at the build directory}"
: "${PR_SRC:?PR_SRC must point at the source directory}"

T=$(mktemp -d "${TMPDIR:-/tmp}/prtest.XXXXXX")
PR_PIDS=()

pr_cleanup() {
    local rc=$?
    for pid in "${PR_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PR_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    # Under the sanitizers (the ASan pass) a report in a log of the test's
    # processes fails the test, also one that changed nothing it checked.
    if [ "$rc" -eq 0 ] && [ -d "$T" ]; then
        local reports
        reports=$(grep -rlE --include='*.log' '==[0-9]+==ERROR: [A-Za-z]+Sanitizer|runtime error: ' "$T" | head -n 5) || true
        [ -z "$reports" ] || { echo "FAIL: sanitizer reports in: $reports" >&2; rc=1; }
    fi
    if [ "$rc" -ne 0 ]; then
        echo "--- ${PR_WHAT:-test} failed (rc=$rc); logs in $T:" >&2
        for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 40 "$f" >&2; }; done
    elif [ -z "${PR_KEEP:-}" ]; then
        rm -rf "$T"
    fi
    exit "$rc"
}
trap pr_cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
    pass "$3 = $1"
}

# pr_metric NAME: NAME's value on the /metrics of the process at $MON_PORT
# (empty when the series is absent or nothing answers).
pr_metric() {
    curl -sf "http://127.0.0.1:$MON_PORT/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'
}

# pr_free_port prints a TCP port on 127.0.0.1 that nothing listens on.
pr_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pr_track PID: stop PID when the test exits.
pr_track() { PR_PIDS+=("$1"); }

# PR_WAIT_S: the default ceiling of every wait below, in seconds.
PR_WAIT_S=${PR_WAIT_S:-60}

# pr_wait_port PORT [SECONDS]: wait until something accepts on 127.0.0.1:PORT.
pr_wait_port() {
    local port=$1 secs=${2:-$PR_WAIT_S}
    for _ in $(seq $((secs * 10))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listening on 127.0.0.1:$port after ${secs}s"
}

# pr_start_redis [redis-server args...]: starts a private redis-server
# (extra settings appended); sets REDIS_PORT, REDIS_PID, rcli().
pr_start_redis() {
    REDIS_PORT=${REDIS_PORT:-$(pr_free_port)}
    mkdir -p "$T/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$T/redis" \
        --save "" --appendonly yes --appendfsync everysec \
        --daemonize no "$@" >"$T/redis.log" 2>&1 &
    REDIS_PID=$!
    pr_track "$REDIS_PID"
    pr_wait_port "$REDIS_PORT"
}
# pr_redis_loaded: Redis answers commands. After a restart the port opens
# before the append-only file is loaded, and until then every command
# answers LOADING, which pr_qsum counts as 0 (a stream would look drained).
pr_redis_loaded() { [ "$(rcli PING 2>/dev/null)" = PONG ]; }
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# pr_start_replica [redis-server args...]: a replica of the test Redis
# ($REDIS_PORT, told to feed a replica at once, not after 5 s) on
# REPLICA_PORT (a free port on the first call, the same one on a restart),
# data in $T/replica. Returns once it is in sync and the primary sees it.
# Sets REPLICA_PORT, REPLICA_PID.
pr_start_replica() {
    : "${REPLICA_PORT:=$(pr_free_port)}"
    mkdir -p "$T/replica"
    rcli CONFIG SET repl-diskless-sync-delay 0 >/dev/null
    redis-server --port "$REPLICA_PORT" --bind 127.0.0.1 --dir "$T/replica" --save "" \
        --repl-diskless-sync-delay 0 --replicaof 127.0.0.1 "$REDIS_PORT" --daemonize no \
        "$@" >>"$T/replica.log" 2>&1 &
    REPLICA_PID=$!
    pr_track "$REPLICA_PID"
    pr_wait_for "$PR_WAIT_S" sh -c "redis-cli -p $REPLICA_PORT INFO replication | grep -q master_link_status:up" ||
        fail "replica did not sync with the primary"
    pr_wait_for "$PR_WAIT_S" sh -c "redis-cli -p $REDIS_PORT INFO replication | grep -q connected_slaves:1" ||
        fail "primary does not see its replica"
}

# pr_start_sentinels [NAME]: three sentinels (redis-server --sentinel) on
# free ports watching the test Redis ($REDIS_PORT) as NAME (default
# pushrelay), down-after 1 s; returns once each knows the replica and the
# other two (a failover can then be agreed). Sets SENTINEL_PORTS and scli()
# (redis-cli on the first sentinel); SENTINEL_LIST is the libconfig list.
pr_start_sentinels() {
    local name=${1:-pushrelay} k p
    SENTINEL_PORTS=()
    for k in 1 2 3; do
        p=$(pr_free_port)
        cat >"$T/sentinel-$k.conf" <<CONF
port $p
bind 127.0.0.1
dir $T
sentinel monitor $name 127.0.0.1 $REDIS_PORT 2
sentinel down-after-milliseconds $name 1000
sentinel failover-timeout $name 10000
sentinel parallel-syncs $name 1
CONF
        redis-server "$T/sentinel-$k.conf" --sentinel >"$T/sentinel-$k.log" 2>&1 &
        pr_track $!
        SENTINEL_PORTS+=("$p")
    done
    for p in "${SENTINEL_PORTS[@]}"; do
        pr_wait_for 60 sh -c "[ \$(redis-cli -p $p SENTINEL replicas $name | grep -c '^name$') -ge 1 ] &&
                              [ \$(redis-cli -p $p SENTINEL sentinels $name | grep -c '^name$') -ge 2 ]" ||
            fail "sentinel on $p does not see the replica and the other sentinels"
    done
    SENTINEL_LIST=$(printf '"127.0.0.1:%s", ' "${SENTINEL_PORTS[@]}")
    SENTINEL_LIST=${SENTINEL_LIST%, }
}
scli() { redis-cli -p "${SENTINEL_PORTS[0]}" "$@"; }

# pr_stop_redis / pr_restart_redis [args...]: for fault tests (same port, same data).
pr_stop_redis() { pr_stop "$REDIS_PID"; }
pr_restart_redis() { pr_start_redis "$@"; }

# Test certificates last a year: within 30 days of expiry pushrelayd and
# pushrelayctl warn about them (relay/certinfo.h), which tests do not expect.
# pr_gen_certs: a CA, a server certificate for the relay, and client
# certificates for edges, all under $T/pki:
#   ca.pem ca.key            test CA
#   server.pem server.key    CN/SAN push.example.net + 127.0.0.1
#   edge-<name>.pem/.key     client cert with DNS SAN <name> (pr_gen_edge NAME)
#   rogue-ca.pem, edge-rogue.pem/.key   a client chain the relay does not trust
pr_gen_certs() {
    local d="$T/pki"
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/CN=pushrelay test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    pr_gen_leaf "$d/server" "push.example.net" "DNS:push.example.net,IP:127.0.0.1" "$d/ca"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/CN=rogue CA" -keyout "$d/rogue-ca.key" -out "$d/rogue-ca.pem" 2>/dev/null
    pr_gen_leaf "$d/edge-rogue" "edge.contoso.com" "DNS:edge.contoso.com" "$d/rogue-ca"
}

# pr_gen_edge FQDN: client certificate $T/pki/edge-FQDN.pem/.key signed by the test CA.
pr_gen_edge() {
    pr_gen_leaf "$T/pki/edge-$1" "$1" "DNS:$1" "$T/pki/ca"
}

# pr_gen_leaf OUT CN SAN CA: key + certificate signed by CA (paths without suffix).
pr_gen_leaf() {
    local out=$1 cn=$2 san=$3 ca=$4
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=$cn" -keyout "$out.key" -out "$out.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$out.ext"
    openssl x509 -req -in "$out.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
        -days 365 -extfile "$out.ext" -out "$out.pem" 2>/dev/null
}

# pr_stop PID: SIGTERM, wait up to 30 s, then SIGKILL. Safe on a dead pid.
# (Long enough for a sanitizer build's clean exit: a test that restarts a
# peer must not get a SIGKILLed one by accident.)
pr_stop() {
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# pr_port_bound PORT: true when a socket is bound to 127.0.0.1:PORT. Probes
# by trying to bind it, so the listener sees no stray connection.
pr_port_bound() {
    python3 -c 'import socket,sys
s=socket.socket()
try: s.bind(("127.0.0.1",int(sys.argv[1])))
except OSError: sys.exit(0)
sys.exit(1)' "$1"
}

# pr_wait_bound PORT PID [SECONDS]: wait until PORT is bound; fail early
# (showing LOG if given as $4) when PID exits first.
pr_wait_bound() {
    local port=$1 pid=$2 secs=${3:-$PR_WAIT_S} log=${4:-}
    for _ in $(seq $((secs * 10))); do
        pr_port_bound "$port" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            [ -n "$log" ] && [ -f "$log" ] && tail -n 20 "$log" >&2
            fail "process $pid exited before binding 127.0.0.1:$port"
        fi
        sleep 0.1
    done
    fail "nothing bound to 127.0.0.1:$port after ${secs}s"
}

# ---- provider credentials ---------------------------------------------------
# pr_gen_provider_keys: the relay's provider credentials under $T/pki:
#   apns-key.p8       EC P-256 PKCS#8 PEM (APNs token auth, like AuthKey_*.p8)
#   fcm-sa.json       FCM service account: type, client_email, private_key
#                     (RSA 2048 PKCS#8 PEM), token_uri at the sandbox
# The sandbox gets the same files, so it can verify what the relay signs.
pr_gen_provider_keys() {
    local d="$T/pki"
    mkdir -p "$d"
    [ -f "$d/wns-secret.txt" ] || echo "test-only-wns-secret" >"$d/wns-secret.txt"
    [ -f "$d/hms-secret.txt" ] || echo "test-only-hms-secret" >"$d/hms-secret.txt"
    [ -f "$d/vapid.pem" ] || openssl genpkey -algorithm EC \
        -pkeyopt ec_paramgen_curve:P-256 -out "$d/vapid.pem" 2>/dev/null
    [ -f "$d/apns-key.p8" ] || openssl genpkey -algorithm EC \
        -pkeyopt ec_paramgen_curve:P-256 -out "$d/apns-key.p8" 2>/dev/null
    [ -f "$d/fcm-sa.key" ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$d/fcm-sa.key" 2>/dev/null
    [ -f "$d/fcm-sa.json" ] || pr_write_service_account
}

# pr_write_service_account: (re)writes $T/pki/fcm-sa.json with token_uri at
# the sandbox's SANDBOX_PORT (a free port when none is known yet).
pr_write_service_account() {
    : "${SANDBOX_PORT:=$(pr_free_port)}"
    python3 "$PR_SRC/tests/tools/fcm_service_account.py" "$T/pki/fcm-sa.key" example-lync \
        "https://127.0.0.1:$SANDBOX_PORT/token" "$T/pki/fcm-sa.json" \
        --email pushrelay@example-lync.iam.gserviceaccount.com \
        --key-id 0123456789abcdef0123456789abcdef01234567
}

# ---- pushrelayd -------------------------------------------------------------
# pr__apps_conf PKI_DIR: the apps list for the apps named in PR_APPS
# (default "apns fcm mpns"): lync-ios (APNs token auth), lync-android (FCM
# service account), lync-wp (MPNS, channel hosts 127.0.0.1 and
# *.notify.example.net), lync-win (WNS, same hosts, not in the default: its
# token endpoint is the sandbox's), lync-huawei (HMS app 101234567),
# lync-web (Web Push, endpoints on 127.0.0.1, a fresh VAPID key);
# provider endpoints point at the sandbox.
pr__apps_conf() {
    local d=$1 a blocks=()
    for a in ${PR_APPS:-apns fcm mpns}; do
        case $a in
            apns) blocks+=("  { id = \"lync-ios\"; provider = \"apns\"; topic = \"com.example.lync\"; team_id = \"ABCDE12345\";
    key_id = \"KEY1234567\"; key_file = \"$d/apns-key.p8\";
    endpoint = \"https://127.0.0.1:$SANDBOX_PORT\"; ca_file = \"$d/ca.pem\"; }") ;;
            fcm) blocks+=("  { id = \"lync-android\"; provider = \"fcm\"; project_id = \"example-lync\";
    service_account = \"$d/fcm-sa.json\";
    endpoint = \"https://127.0.0.1:$SANDBOX_PORT\"; ca_file = \"$d/ca.pem\"; }") ;;
            mpns) blocks+=("  { id = \"lync-wp\"; provider = \"mpns\"; allowed_hosts = [ \"127.0.0.1\", \"*.notify.example.net\" ];
    ca_file = \"$d/ca.pem\"; }") ;;
            wns) blocks+=("  { id = \"lync-win\"; provider = \"wns\"; package_sid = \"ms-app://s-1-15-2-1234\";
    client_secret_file = \"$d/wns-secret.txt\";
    token_endpoint = \"https://127.0.0.1:$SANDBOX_PORT/accesstoken.srf\";
    allowed_hosts = [ \"127.0.0.1\", \"*.notify.example.net\" ]; ca_file = \"$d/ca.pem\"; }") ;;
            hms) blocks+=("  { id = \"lync-huawei\"; provider = \"hms\"; hms_app_id = \"101234567\";
    client_secret_file = \"$d/hms-secret.txt\";
    token_endpoint = \"https://127.0.0.1:$SANDBOX_PORT/oauth2/v3/token\";
    endpoint = \"https://127.0.0.1:$SANDBOX_PORT\"; ca_file = \"$d/ca.pem\"; }") ;;
            webpush) blocks+=("  { id = \"lync-web\"; provider = \"webpush\"; vapid_key_file = \"$d/vapid.pem\";
    vapid_subject = \"mailto:ops@example.net\"; allowed_hosts = [ \"127.0.0.1\" ]; ca_file = \"$d/ca.pem\"; }") ;;
            *) fail "PR_APPS: unknown app kind '$a' (apns, fcm, mpns, wns, hms, webpush)" ;;
        esac
    done
    [ "${#blocks[@]}" -gt 0 ] || fail "PR_APPS names no app"
    echo "apps = ("
    printf '%s' "${blocks[0]}"
    for a in "${blocks[@]:1}"; do printf ',\n%s' "$a"; done
    printf '\n);\n'
}

# pr_config_head: prints how every test configuration starts: node_id,
# log_level, the test Redis (REDIS_PORT: start redis first) and the
# federation block (SIP_PORT, the test PKI in $T/pki, small limits). Each
# value can be overridden from the environment as pr_write_config lists;
# disp_lib.sh's dispatcher configurations start with it too.
pr_config_head() {
    local d="$T/pki"
    : "${REDIS_PORT:?start redis (pr_start_redis) before writing a config}"
    : "${SIP_PORT:?pr_config_head needs SIP_PORT}"
    cat <<CONF
node_id = "${PR_NODE_ID:-test-1}";
log_level = "${PR_LOG_LEVEL:-debug}";
redis = { host = "127.0.0.1"; port = $REDIS_PORT; password = ""; db = 0; prefix = "pr:"; shards = ${PR_REDIS_SHARDS:-1}; };
federation = {
  listen = [ "127.0.0.1:$SIP_PORT" ];
  domain = "push.example.net";
  tls = { certificate = "$d/server.pem"; private_key = "$d/server.key"; ca_file = "$d/ca.pem"; };
  max_connections = ${PR_MAX_CONNECTIONS:-256};
  max_message_bytes = ${PR_MAX_MESSAGE_BYTES:-8192};
  idle_timeout_s = ${PR_IDLE_TIMEOUT_S:-30};
  handshake_timeout_s = ${PR_HANDSHAKE_TIMEOUT_S:-5};
  queue_high_water = ${PR_QUEUE_HIGH_WATER:-100000};
  dedup_window_s = ${PR_DEDUP_WINDOW_S:-300};
};
CONF
}

# pr_write_config FILE: a pushrelayd config (design section 9) for tests.
# Ports come from SIP_PORT, SANDBOX_PORT, MPNS_PORT, MON_PORT (chosen free
# when unset) and REDIS_PORT (start redis first). Limits are small and each
# can be overridden from the environment:
#   PR_LOG_LEVEL PR_MAX_CONNECTIONS PR_MAX_MESSAGE_BYTES PR_IDLE_TIMEOUT_S
#   PR_HANDSHAKE_TIMEOUT_S PR_QUEUE_HIGH_WATER PR_DEDUP_WINDOW_S
#   PR_MAX_IN_FLIGHT PR_CLAIM_IDLE_MS PR_MAX_ATTEMPTS PR_BASE_DELAY_MS
#   PR_MAX_DELAY_MS PR_NODE_ID PR_REDIS_SHARDS, and PR_APPS (which apps, see pr__apps_conf).
pr_write_config() {
    local f=$1 d="$T/pki"
    : "${REDIS_PORT:?start redis (pr_start_redis) before pr_write_config}"
    : "${SIP_PORT:=$(pr_free_port)}"
    : "${SANDBOX_PORT:=$(pr_free_port)}"
    : "${MPNS_PORT:=$(pr_free_port)}"
    : "${MON_PORT:=$(pr_free_port)}"
    [ -f "$d/ca.pem" ] || pr_gen_certs
    pr_gen_provider_keys
    cat >"$f" <<CONF
# pushrelayd test configuration, written by tests/integration/lib.sh
$(pr_config_head)
dispatcher = {
  max_in_flight = ${PR_MAX_IN_FLIGHT:-200};
  claim_idle_ms = ${PR_CLAIM_IDLE_MS:-2000};
  retry = { max_attempts = ${PR_MAX_ATTEMPTS:-4}; base_delay_ms = ${PR_BASE_DELAY_MS:-50}; max_delay_ms = ${PR_MAX_DELAY_MS:-1000}; };
};
$(pr__apps_conf "$d")
monitoring = { listen = "127.0.0.1:$MON_PORT"; };
CONF
}

# pr_wait_log FILE PATTERN PID [SECONDS]: wait until FILE has a line matching
# the grep -E PATTERN; fail early (showing FILE) when PID exits first.
pr_wait_log() {
    local file=$1 pat=$2 pid=$3 secs=${4:-$PR_WAIT_S}
    for _ in $(seq $((secs * 10))); do
        grep -qE "$pat" "$file" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            [ -f "$file" ] && tail -n 20 "$file" >&2
            fail "process $pid exited before logging /$pat/"
        fi
        sleep 0.1
    done
    fail "no /$pat/ in $file after ${secs}s"
}

# pr_start_relay [ROLE]: starts pushrelayd (default role all) on $T/relay.conf
# (written by pr_write_config when missing), logging to $T/relay.log; waits
# until it logged "started" (every listener bound, signals handled: ready for
# requests and signals). Sets RELAY_PID.
pr_start_relay() {
    local role=${1:-all}
    [ -f "$T/relay.conf" ] || pr_write_config "$T/relay.conf"
    "$PR_BIN/pushrelayd" -c "$T/relay.conf" --role "$role" >>"$T/relay.log" 2>&1 &
    RELAY_PID=$!
    pr_track "$RELAY_PID"
    pr_wait_log "$T/relay.log" "started \\(role $role, pid $RELAY_PID\\)" "$RELAY_PID"
    [ "$role" = dispatcher ] || pr_wait_bound "$SIP_PORT" "$RELAY_PID"
}

# pr_stop_relay: SIGTERM the last pushrelayd started and wait for it.
pr_stop_relay() { pr_stop "$RELAY_PID"; }

# pr_ctl ARGS...: pushrelayctl on the test config; output to $T/ctl.log too.
pr_ctl() {
    "$PR_BIN/pushrelayctl" -c "$T/relay.conf" "$@" 2>&1 | tee -a "$T/ctl.log"
    return "${PIPESTATUS[0]}"
}

# pr_ctlx OUT ARGS...: pushrelayctl on the test config with its output in
# $T/OUT (and $T/ctl.log); prints its exit code.
pr_ctlx() {
    local out=$1 rc=0
    shift
    "$PR_BIN/pushrelayctl" -c "$T/relay.conf" "$@" >"$T/$out" 2>&1 || rc=$?
    cat "$T/$out" >>"$T/ctl.log"
    echo "$rc"
}

# pr_has OUT TEXT / pr_lacks OUT TEXT: $T/OUT holds TEXT / does not.
pr_has() { grep -qF -- "$2" "$T/$1" || fail "$1: expected '$2' in: $(cat "$T/$1")"; pass "$1 says '$2'"; }
pr_lacks() { ! grep -qF -- "$2" "$T/$1" || fail "$1: did not expect '$2' in: $(cat "$T/$1")"; }

# pr_enable DOMAIN FQDN [flags...]: enable-push DOMAIN for edge FQDN.
pr_enable() {
    local dom=$1 fqdn=$2
    shift 2
    pr_ctl enable-push --domain "$dom" --edge-fqdn "$fqdn" "$@" >/dev/null ||
        fail "pushrelayctl enable-push --domain $dom --edge-fqdn $fqdn $* failed"
}

# ---- the edge: stunnel + sipp ------------------------------------------------
# pr_start_stunnel EDGE: a TLS client tunnel presenting $T/pki/edge-EDGE.pem,
# verifying the relay against ca.pem, from 127.0.0.1:$STUNNEL_PORT (new free
# port each call) to 127.0.0.1:$SIP_PORT. Sets STUNNEL_PORT, STUNNEL_PID.
pr_start_stunnel() {
    local edge=$1 conf="$T/stunnel-$1.conf"
    STUNNEL_PORT=$(pr_free_port)
    cat >"$conf" <<CONF
foreground = yes
pid = $T/stunnel-$edge.pid
output = $T/stunnel-$edge.log
debug = notice
[edge]
client = yes
accept = 127.0.0.1:$STUNNEL_PORT
connect = 127.0.0.1:$SIP_PORT
cert = $T/pki/edge-$edge.pem
key = $T/pki/edge-$edge.key
CAfile = $T/pki/ca.pem
verifyChain = yes
checkHost = push.example.net
CONF
    stunnel4 "$conf" >/dev/null 2>&1 &
    STUNNEL_PID=$!
    pr_track "$STUNNEL_PID"
    pr_wait_bound "$STUNNEL_PORT" "$STUNNEL_PID" "$PR_WAIT_S" "$T/stunnel-$edge.log"
}

# pr_gen_csv OUT N [DOMAIN] [PROVIDER] [PARAM] [EVENT] [BODY]: sipp injection
# file with N rows. Fields (see sipp/message.xml):
#   0 token (64 hex starting with 0, unique)  1 id (unique)  2 From domain  3 pn-provider
#   4 pn-param  5 event  6 body text (no ';')
# PR_CSV_TAG makes tokens/ids distinct across files of one test.
pr_gen_csv() { python3 "$PR_SRC/tests/tools/sipp_csv.py" "$@"; }

# pr_sipp SCENARIO COUNT [sipp args...]: runs sipp scenario
# tests/integration/sipp/SCENARIO.xml COUNT times over TCP to the stunnel
# (start it first), with rate PR_SIPP_RATE (default 200/s), at most
# PR_SIPP_LIMIT calls open, a global timeout PR_SIPP_TIMEOUT (default 60 s).
# Pass `-inf FILE` for injected values. Stats, errors and logs go to
# $T/sipp-SCENARIO.*. Returns sipp's exit code (0: every call succeeded).
pr_sipp() {
    local scen=$1 count=$2 rc=0
    shift 2
    (cd "$T" && sipp 127.0.0.1:"$STUNNEL_PORT" \
        -sf "$PR_SRC/tests/integration/sipp/$scen.xml" -t t1 -i 127.0.0.1 \
        -p "$(pr_free_port)" -s push -m "$count" \
        -r "${PR_SIPP_RATE:-200}" -l "${PR_SIPP_LIMIT:-100}" \
        -timeout "${PR_SIPP_TIMEOUT:-60}s" -timeout_error -recv_timeout 10000 \
        -nostdin -trace_stat -stf "$T/sipp-$scen.csv" -fd 1 \
        -trace_err -error_file "$T/sipp-$scen-errors.log" \
        -trace_screen -screen_file "$T/sipp-$scen-screen.log" \
        -trace_logs -log_file "$T/sipp-$scen-status.log" \
        "$@" >"$T/sipp-$scen.log" 2>&1) || rc=$?
    [ "$rc" -eq 0 ] || { echo "sipp $scen exited $rc" >&2; tail -n 30 "$T/sipp-$scen-screen.log" >&2 2>/dev/null || true; }
    return "$rc"
}

# pr_sipp_stat SCENARIO COLUMN: last value of a sipp statistics column
# (SuccessfulCall(C), FailedCall(C), ...) from $T/sipp-SCENARIO.csv.
pr_sipp_stat() {
    python3 - "$T/sipp-$1.csv" "$2" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
i = rows[0].index(sys.argv[2])
print(rows[-1][i])
PY
}

# pr_load_start TAG N RATE TIMEOUT_S: N MESSAGEs in the background from sipp
# (scenario message_expect_any: every final answer counts, each logged to
# $LOAD_LOG as "... STATUS ID") at RATE a second, tokens and ids tagged TAG.
# Sets LOAD_JOB (wait for it) and LOAD_LOG.
pr_load_start() {
    PR_CSV_TAG=$1 pr_gen_csv "$T/load-$1.csv" "$2"
    LOAD_LOG="$T/sipp-message_expect_any-status.log"
    PR_SIPP_RATE=$3 PR_SIPP_TIMEOUT=$4 pr_sipp message_expect_any "$2" -inf "$T/load-$1.csv" &
    LOAD_JOB=$!
    pr_track "$LOAD_JOB"
}

# pr_load_answered: MESSAGEs of the load answered 202 so far.
pr_load_answered() { if [ -f "$LOAD_LOG" ]; then grep -c ' 202 ' "$LOAD_LOG" || true; else echo 0; fi; }
pr_load_answered_ge() { [ "$(pr_load_answered)" -ge "$1" ]; }

# pr_load_wait MIN WHAT: waits until at least MIN MESSAGEs of the load were
# answered 202, so that a fault injected next lands under load.
pr_load_wait() {
    pr_wait_for "$PR_WAIT_S" pr_load_answered_ge "$1" || fail "fewer than $1 MESSAGEs accepted $2"
    pass "$(pr_load_answered) MESSAGEs accepted $2"
}

# ---- single raw requests over mutual TLS -------------------------------------
# The client is tests/tools/sipclient.py: connect, TLS (client cert
# optional), send a file, read N responses, print them. Also the slow and
# idle clients for limit tests.

# pr_sip_request FILE [N]: sends the raw request(s) in FILE to the relay over
# mutual TLS as edge $PR_EDGE (default edge.contoso.com; PR_CERT/PR_KEY
# override the files, PR_CERT= sends no client certificate) and prints N
# responses (default 1). Returns sipclient.py's exit code (3: TLS refused,
# 4: closed without a response, 5: timeout).
pr_sip_request() { pr_sipclient send "$@"; }

# pr_sipclient MODE ARGS...: any sipclient.py mode (idle, trickle, hold, ...)
# with the same connection settings as pr_sip_request.
pr_sipclient() {
    local edge=${PR_EDGE:-edge.contoso.com}
    PR_PORT=${PR_PORT:-$SIP_PORT} PR_CA=${PR_CA:-$T/pki/ca.pem} \
        PR_CERT=${PR_CERT-$T/pki/edge-$edge.pem} PR_KEY=${PR_KEY-$T/pki/edge-$edge.key} \
        python3 "$PR_SRC/tests/tools/sipclient.py" "$@"
}

# pr_msg OUT [key=value...]: writes one SIP request to OUT with CRLF line ends
# and a byte-exact Content-Length. Keys (defaults in brackets):
#   method [MESSAGE]  provider [apns]  prid [64 hex]  param [ABCDE12345.com.example.lync]
#   domain [contoso.com]  callid [random]  cseq [1]  ctype [application/json]
#   id [random]  event [im]  text [Lunch at 12?]  body [JSON built from the above]
#   uri [built from the above]  extra [extra header lines, '|' separated]
#   clen [computed]  omit [comma list of pn params or headers to leave out]
pr_msg() { python3 "$PR_SRC/tests/tools/sip_msg.py" "$@"; }

# pr_wait_accepted ID_PREFIX WHAT: sends a MESSAGE with id ID_PREFIX-N (N =
# 1, 2, ...) until one is answered 202, for a relay that recovers from a
# fault on its own; sets ACCEPTED_ID and ACCEPT_TRIES. Fails after PR_WAIT_S
# seconds of tries, naming WHAT and the last answer.
pr_wait_accepted() {
    local i
    for i in $(seq $((PR_WAIT_S * 10))); do
        pr_msg "$T/accepted.sip" id="$1-$i"
        RESP=$(pr_sip_request "$T/accepted.sip") || true
        if [ "$(pr_status "$RESP")" = 202 ]; then
            ACCEPTED_ID="$1-$i" ACCEPT_TRIES=$i
            return 0
        fi
        sleep 0.1
    done
    fail "$2: no 202 after $i tries: $RESP"
}

# pr_status RESPONSE_TEXT: the status code of the first response in the text.
pr_status() { printf '%s\n' "$1" | sed -n '1s/^SIP\/2\.0 \([0-9]\{3\}\).*/\1/p' | tr -d '\r'; }

# pr_header RESPONSE_TEXT NAME: value of header NAME (case-insensitive) in
# the first response, empty when absent.
pr_header() {
    printf '%s\n' "$1" | tr -d '\r' | awk -v n="$2" '
        BEGIN { n = tolower(n) }
        /^$/ { exit }
        { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) {
              v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v; exit } }'
}

# pr_expect_status CODE FILE [WHAT]: sends FILE, asserts the response code,
# leaves the full response in $RESP.
pr_expect_status() {
    local code=$1 file=$2 what=${3:-response to $(head -c 40 "$2" | head -n 1)}
    RESP=$(pr_sip_request "$file") || fail "$what: no response (rc=$?): $RESP"
    assert_eq "$code" "$(pr_status "$RESP")" "$what"
}

# ---- redis views ------------------------------------------------------------
# The queue has PR_REDIS_SHARDS shards (redis.shards, default 1); a
# notification of provider P for token T lives in shard
# k = FNV-1a-32(P NUL T) mod S, its keys tagged {q<k>} (relay/keys.h).
pr_shards() { echo "${PR_REDIS_SHARDS:-1}"; }
pr_shard_of() {
    local s="$1" t="$2" h=2166136261 i c
    for ((i = 0; i < ${#s}; i++)); do
        printf -v c '%d' "'${s:i:1}"
        h=$(( ((h ^ c) * 16777619) & 0xffffffff ))
    done
    h=$(( (h * 16777619) & 0xffffffff ))     # the NUL between provider and token
    for ((i = 0; i < ${#t}; i++)); do
        printf -v c '%d' "'${t:i:1}"
        h=$(( ((h ^ c) * 16777619) & 0xffffffff ))
    done
    echo $(( h % $(pr_shards) ))
}
# pr_qkey K REST: the key "pr:{q<K>}:REST" of shard K.
pr_qkey() { echo "pr:{q$1}:$2"; }
# pr_stream_key PROV [SHARD]: one shard's stream (shard 0 by default: with
# one shard, the stream); pr_stream_keys PROV: every shard's.
pr_stream_key() { pr_qkey "${2:-0}" "in:$1"; }
pr_stream_keys() { local k; for ((k = 0; k < $(pr_shards); k++)); do pr_stream_key "$1" "$k"; done; }
pr_xlen() {
    local key n=0
    for key in $(pr_stream_keys "$1"); do n=$(( n + $(rcli XLEN "$key") )); done
    echo "$n"
}
# pr_qsum CMD REST [ARGS...]: the first line of "CMD pr:{q<k>}:REST ARGS"
# summed over the shards (a missing key or group counts 0), e.g.
# pr_qsum ZCARD retry, pr_qsum XLEN dead, pr_qsum XPENDING in:apns dispatch.
pr_qsum() {
    local cmd=$1 rest=$2 k v n=0
    shift 2
    for ((k = 0; k < $(pr_shards); k++)); do
        v=$(rcli "$cmd" "$(pr_qkey "$k" "$rest")" "$@" | head -1)
        case $v in ''|*[!0-9]*) v=0 ;; esac
        n=$((n + v))
    done
    echo "$n"
}
# pr_pending PROV: entries of PROV's streams pending in group dispatch, all shards.
pr_pending() {
    local key n=0
    for key in $(pr_stream_keys "$1"); do n=$(( n + $(rcli XPENDING "$key" dispatch | head -1) )); done
    echo "$n"
}

# ---- the sandbox (fake APNs/FCM/MPNS) ---------------------------------------
# pr_run_sandbox NAME H2_PORT MPNS_PORT [ARGS...]: starts pushrelay-sandbox
# with the relay's server certificate, its HTTP/2 listener (APNs, FCM, OAuth
# token endpoint) on H2_PORT and its HTTPS/1.1 one (MPNS) on MPNS_PORT. Port
# 0 lets the kernel pick, so that no other process can take a port between
# choosing and binding it. ARGS go to the sandbox; it logs to $T/NAME.log.
# Returns once both listeners are bound (the sandbox writes its port file
# only then); sets SANDBOX_PORT, MPNS_PORT, SANDBOX_PID. Every sandbox a test
# starts goes through here.
pr_run_sandbox() {
    local name=$1 h2=$2 mpns=$3 pf="$T/$1.ports"
    shift 3
    rm -f "$pf"
    "$PR_BIN/pushrelay-sandbox" --listen "127.0.0.1:$h2" --mpns-listen "127.0.0.1:$mpns" \
        --cert "$T/pki/server.pem" --key "$T/pki/server.key" \
        --port-file "$pf" "$@" >>"$T/$name.log" 2>&1 &
    SANDBOX_PID=$!
    pr_track "$SANDBOX_PID"
    pr_wait_log "$pf" '^[0-9]+$' "$SANDBOX_PID"
    SANDBOX_PORT=$(sed -n 1p "$pf")
    MPNS_PORT=$(sed -n 2p "$pf")
}

# pr_start_sandbox [ARGS]: the sandbox for a relay test, on SANDBOX_PORT and
# MPNS_PORT when set (a config written earlier names them), else on ports the
# kernel picks (start it before pr_write_config); it knows the relay's
# provider credentials and records every request to $T/sandbox.jsonl.
# Extra arguments go to the sandbox. Sets SANDBOX_PORT, MPNS_PORT, SANDBOX_PID.
pr_start_sandbox() {
    [ -f "$T/pki/ca.pem" ] || pr_gen_certs
    pr_gen_provider_keys
    pr_run_sandbox sandbox "${SANDBOX_PORT:-0}" "${MPNS_PORT:-0}" \
        --apns-key "$T/pki/apns-key.p8" --apns-team ABCDE12345 --apns-key-id KEY1234567 \
        --fcm-service-account "$T/pki/fcm-sa.json" \
        --record "$T/sandbox.jsonl" "$@"
    # The relay's account names the token endpoint; the sandbox does not
    # check it, so the file is rewritten once the port is known.
    pr_write_service_account
}

# pr_boot [--sandbox] [ROLE]: the common start of a relay test: test PKI
# with edge certificate edge.contoso.com, private redis, with --sandbox the
# sandbox as every provider (a relay that delivers), config, pushrelayd
# (default role listener), and contoso.com enabled for edge.contoso.com (all
# providers).
pr_boot() {
    local sandbox=0
    [ "${1:-}" = --sandbox ] && { sandbox=1; shift; }
    pr_gen_certs
    pr_gen_edge edge.contoso.com
    pr_start_redis
    [ "$sandbox" = 0 ] || pr_start_sandbox
    pr_write_config "$T/relay.conf"
    pr_start_relay "${1:-listener}"
    pr_enable contoso.com edge.contoso.com
}

# pr_hex PREFIX: a 64-hex-digit APNs token starting with PREFIX (the
# sandbox's behaviour markers, tests/sandbox/sb_behaviour.h), padded with 'a'.
pr_hex() { printf '%s%s' "$1" "$(printf "%0$(( 64 - ${#1} ))d" 0 | tr 0 a)"; }

# pr_entries PROVIDER: the provider streams of every shard as one JSON list
# [[entry-id, [field, value, ...]], ...] (redis-cli --json XRANGE), by entry id.
pr_entries() {
    local key
    for key in $(pr_stream_keys "$1"); do rcli --json XRANGE "$key" - +; done | python3 -c '
import json, sys
dec, text, out = json.JSONDecoder(), sys.stdin.read(), []
i = 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    part, i = dec.raw_decode(text, i)
    out += part
out.sort(key=lambda e: tuple(int(x) for x in e[0].split("-")))
print(json.dumps(out))'
}

# pr_sb_delivered [PROVIDER]: deliveries (default apns) the sandbox of
# pr_start_sandbox counted so far; 0 while it does not answer.
pr_sb_delivered() {
    curl -sf --http2 --cacert "$T/pki/ca.pem" "https://127.0.0.1:$SANDBOX_PORT/_sandbox/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["delivered"][sys.argv[1]])' "${1:-apns}" 2>/dev/null ||
        echo 0
}

# pr_record_ids FILE: the push ids in a sandbox delivery record FILE, one a
# line (tests/tools/record_ids.py). The record is complete only once the
# sandbox stopped; a line still being written is skipped.
pr_record_ids() { python3 "$PR_SRC/tests/tools/record_ids.py" "$1"; }

# pr_audit_delivered ACCEPTED: stops the sandbox (which completes its
# record), then compares the ids in file ACCEPTED (every MESSAGE
# answered 202) with the ids delivered; fails when one was never delivered
# (naming a few), and reports how many were delivered twice.
pr_audit_delivered() {
    local lost dups
    pr_stop "$SANDBOX_PID"
    pr_record_ids "$T/sandbox.jsonl" | sort >"$T/delivered"
    sort -u "$1" >"$T/accepted-sorted"
    lost=$(comm -23 "$T/accepted-sorted" <(sort -u "$T/delivered") | wc -l)
    dups=$(( $(wc -l <"$T/delivered") - $(sort -u "$T/delivered" | wc -l) ))
    echo "accepted $(wc -l <"$T/accepted-sorted"), delivered $(wc -l <"$T/delivered"), duplicates $dups"
    [ "$lost" = 0 ] || comm -23 "$T/accepted-sorted" <(sort -u "$T/delivered") | head -5 >&2
    assert_eq 0 "$lost" "MESSAGEs answered 202 but never delivered"
}

# pr_wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds;
# returns 1 when it never did. CMD's output is hidden unless PR_WAIT_SHOW is
# set. While PR_WAIT_PID names a process, fails the test at once when that
# process has exited: what the test waits for can no longer come. Every
# poll of the harness goes through here (disp_lib.sh's wait_for too).
pr_wait_for() {
    local secs=$1
    shift
    for _ in $(seq $((secs * 10))); do
        if [ -n "${PR_WAIT_SHOW:-}" ]; then
            "$@" && return 0
        else
            "$@" >/dev/null 2>&1 && return 0
        fi
        if [ -n "${PR_WAIT_PID:-}" ] && ! kill -0 "$PR_WAIT_PID" 2>/dev/null; then
            fail "${PR_WAIT_WHO:-process} (pid $PR_WAIT_PID) exited while waiting for: $*"
        fi
        sleep 0.1
    done
    return 1
}
