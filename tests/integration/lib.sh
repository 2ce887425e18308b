# lib.sh - shared helpers for integration tests. Source it first:
#   . "$(dirname "$0")/lib.sh"
# It makes a private work directory ($T), registers cleanup so every process
# a test starts is stopped when the test exits (pass or fail), and gives
# helpers to start real peers on free loopback ports.
#
# Environment (set by ctest): PR_BIN = build dir with the binaries,
# PR_SRC = source dir.
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
    if [ "$rc" -ne 0 ]; then
        echo "--- test failed (rc=$rc); logs in $T:" >&2
        for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 40 "$f" >&2; }; done
    else
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

# pr_free_port prints a TCP port on 127.0.0.1 that nothing listens on.
pr_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# pr_track PID: stop PID when the test exits.
pr_track() { PR_PIDS+=("$1"); }

# pr_wait_port PORT [SECONDS]: wait until something accepts on 127.0.0.1:PORT.
pr_wait_port() {
    local port=$1 secs=${2:-10} i
    for i in $(seq $((secs * 10))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listening on 127.0.0.1:$port after ${secs}s"
}

# pr_start_redis: starts a private redis-server; sets REDIS_PORT, REDIS_PID, rcli().
pr_start_redis() {
    REDIS_PORT=${REDIS_PORT:-$(pr_free_port)}
    mkdir -p "$T/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$T/redis" \
        --save "" --appendonly yes --appendfsync everysec \
        --daemonize no >"$T/redis.log" 2>&1 &
    REDIS_PID=$!
    pr_track "$REDIS_PID"
    pr_wait_port "$REDIS_PORT"
}
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# pr_stop_redis / pr_restart_redis: for fault tests (same port, same data).
pr_stop_redis() { kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; }
pr_restart_redis() { pr_start_redis; }

# pr_gen_certs: a CA, a server certificate for the relay, and client
# certificates for edges, all under $T/pki:
#   ca.pem ca.key            test CA
#   server.pem server.key    CN/SAN push.example.net + 127.0.0.1
#   edge-<name>.pem/.key     client cert with DNS SAN <name> (pr_gen_edge NAME)
#   rogue-ca.pem, edge-rogue.pem/.key   a client chain the relay does not trust
pr_gen_certs() {
    local d="$T/pki"
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=pushrelay test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    pr_gen_leaf "$d/server" "push.example.net" "DNS:push.example.net,IP:127.0.0.1" "$d/ca"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
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
        -days 2 -extfile "$out.ext" -out "$out.pem" 2>/dev/null
}
