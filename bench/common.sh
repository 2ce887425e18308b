# common.sh - what both benchmark scripts share: finding the binaries, the
# test PKI and APNs key, the relay configuration, and the machine banner.
# Sourced by bench/run-ingest.sh and bench/run-dispatch.sh, never run.
#
# It sources tests/integration/lib.sh, so everything started through
# pr_track (redis-server, pushrelayd, sandbox) is stopped when the script
# exits, pass or fail, and the work directory $T is kept only on failure.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PR_SRC=${PR_SRC:-$(cd "$BENCH_DIR/.." && pwd)}
PR_BIN=${PR_BIN:-$PR_SRC/build}
PR_BIN=$(cd "$PR_BIN" && pwd)
export PR_SRC PR_BIN
. "$PR_SRC/tests/integration/lib.sh"

# --workers N|auto (or BENCH_WORKERS): pushrelayd processes per role, run as
# `pushrelayd --workers N` (one supervisor, N workers); default 1 (a lone
# process). The scripts pass their arguments to bench_args.
BENCH_WORKERS=${BENCH_WORKERS:-1}

# bench_start_redis: the private redis-server (pr_start_redis) with the
# append-only file's rewrite thresholds of deploy/redis.conf, what an install
# runs, so that a run sees rewrites as often as production would; the words
# of BENCH_REDIS_ARGS (e.g. "--auto-aof-rewrite-min-size 64mb") come last
# and win.
bench_start_redis() {
    local args=() key value
    while read -r key value; do
        args+=("--$key" "$value")
    done < <(grep -E '^auto-aof-rewrite-(percentage|min-size) ' "$PR_SRC/deploy/redis.conf")
    [ ${#args[@]} -eq 4 ] || fail "deploy/redis.conf: the two auto-aof-rewrite settings not found"
    # shellcheck disable=SC2086 # BENCH_REDIS_ARGS is a list of words
    pr_start_redis "${args[@]}" ${BENCH_REDIS_ARGS:-}
}

# bench_args ARGS...: the scripts' command line: --workers N|auto.
bench_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --workers) [ $# -ge 2 ] || fail "--workers needs N or auto"; BENCH_WORKERS=$2; shift 2 ;;
            --workers=*) BENCH_WORKERS=${1#--workers=}; shift ;;
            *) fail "unknown argument '$1' (usage: $0 [--workers N|auto])" ;;
        esac
    done
}

BENCH_DOMAIN=contoso.com
BENCH_EDGE=edge.contoso.com
BENCH_TEAM=ABCDE12345
BENCH_TOPIC=com.example.lync
BENCH_KEY_ID=KEY1234567
BENCH_PARAM="$BENCH_TEAM.$BENCH_TOPIC"

# ---- comparison flags (issue 14) -------------------------------------------
# --kamailio and --cpu (run-ingest.sh), --server sandbox|node and --cpu
# (run-dispatch.sh) are taken out of the script's arguments here, while it
# sources this file (a file sourced without arguments shares the script's
# positional parameters), so bench_args sees only what is left. Each
# script refuses the flags that are not its own.
OPT_KAMAILIO=no
OPT_CPU=no
OPT_SERVER=sandbox
OPT_BASE=
bench_rest=()
while [ $# -gt 0 ]; do
    case $1 in
    --kamailio) OPT_KAMAILIO=yes ;;
    --cpu) OPT_CPU=yes ;;
    --server) [ $# -ge 2 ] || fail "--server needs sandbox or node"; OPT_SERVER=$2; shift ;;
    --server=*) OPT_SERVER=${1#--server=} ;;
    --base) [ $# -ge 2 ] || fail "--base needs a build directory"; OPT_BASE=$2; shift ;;
    --base=*) OPT_BASE=${1#--base=} ;;
    *) bench_rest+=("$1") ;;
    esac
    shift
done
set -- ${bench_rest[@]+"${bench_rest[@]}"}
unset bench_rest
case $OPT_SERVER in
sandbox | node) ;;
*) fail "--server takes sandbox or node, not '$OPT_SERVER'" ;;
esac

# bench_need BIN...: fail with a clear message unless $PR_BIN/BIN exists.
bench_need() {
    local b
    for b in "$@"; do
        [ -x "$PR_BIN/$b" ] || fail "$PR_BIN/$b not built (cmake -S . -B build && make -C build)"
    done
}

# bench_need_roles: the daemon must know --role (design section 8).
bench_need_roles() {
    "$PR_BIN/pushrelayd" --help 2>&1 | grep -q -- '--role' ||
        fail "$PR_BIN/pushrelayd does not take --role listener|dispatcher: build the daemon first"
}

# bench_pki: test CA, relay certificate, the edge's client certificate and an
# APNs token-auth key (EC P-256, PKCS#8 like Apple's .p8) under $T/pki.
bench_pki() {
    pr_gen_certs
    pr_gen_edge "$BENCH_EDGE"
    PKI=$T/pki
    EDGE_CERT=$PKI/edge-$BENCH_EDGE.pem
    EDGE_KEY=$PKI/edge-$BENCH_EDGE.key
    APNS_KEY=$PKI/apns.p8
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$APNS_KEY" 2>/dev/null
}

# bench_conf FILE SIP_PORT APNS_ENDPOINT: the relay configuration (design
# section 9). Limits are raised so that only capacity, not policy, bounds
# the run: a queue high-water mark no run reaches, no per-domain rate limit.
# Sets BENCH_MON_PORT (monitoring.listen).
bench_conf() {
    local file=$1 sip_port=$2 endpoint=$3
    BENCH_MON_PORT=$(pr_free_port)
    cat >"$file" <<EOF
node_id = "bench-1";
log_level = "warn";
redis = { host = "127.0.0.1"; port = $REDIS_PORT; password = ""; db = 0; prefix = "pr:"; };
federation = {
  listen = [ "127.0.0.1:$sip_port" ];
  domain = "push.example.net";
  tls = { certificate = "$PKI/server.pem"; private_key = "$PKI/server.key"; ca_file = "$PKI/ca.pem"; };
  max_connections = 10000;
  max_message_bytes = 16384;
  idle_timeout_s = 300;
  queue_high_water = 100000000;
  dedup_window_s = 300;
};
dispatcher = {
  max_in_flight = 2000;
  claim_idle_ms = 30000;
  retry = { max_attempts = 8; base_delay_ms = 500; max_delay_ms = 300000; };
};
apps = (
  { id = "lync-ios"; provider = "apns"; topic = "$BENCH_TOPIC"; team_id = "$BENCH_TEAM";
    key_id = "$BENCH_KEY_ID"; key_file = "$APNS_KEY"; endpoint = "$endpoint";
    ca_file = "$PKI/ca.pem"; }
);
monitoring = { listen = "127.0.0.1:$BENCH_MON_PORT"; };
EOF
}

# bench_enable_push CONF [LOG]: enables push for $BENCH_DOMAIN from
# $BENCH_EDGE with pushrelayctl (output in $T/LOG, enable-push.log by
# default), or fails naming that log.
bench_enable_push() {
    local log=$T/${2:-enable-push.log}
    "$PR_BIN/pushrelayctl" -c "$1" enable-push --domain "$BENCH_DOMAIN" \
        --edge-fqdn "$BENCH_EDGE" >"$log" 2>&1 || fail "pushrelayctl enable-push failed (see $log)"
}

# bench_start NAME CMD...: start a long-running process with its output in
# $T/NAME.log; sets BENCH_PID. Stopped at exit by lib.sh's cleanup.
bench_start() {
    local name=$1
    shift
    "$@" >"$T/$name.log" 2>&1 &
    BENCH_PID=$!
    pr_track "$BENCH_PID"
}

# bench_relay NAME CONF ROLE: pushrelayd of ROLE with BENCH_WORKERS workers
# (bench_start NAME); waits until /readyz on BENCH_MON_PORT says every
# worker is ready, so no case measures a start-up. Sets BENCH_PID.
bench_relay() {
    local name=$1 conf=$2 role=$3
    bench_start "$name" "$PR_BIN/pushrelayd" -c "$conf" --role "$role" --workers "$BENCH_WORKERS"
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$BENCH_MON_PORT/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$BENCH_PID" 2>/dev/null || fail "pushrelayd --role $role exited at start (see $T/$name.log)"
        sleep 0.1
    done
    fail "pushrelayd --role $role not ready after 60 s (see $T/$name.log)"
}

# bench_rss PID: peak RSS of PID and its children (a supervisor and its
# workers), e.g. "18432 kB".
bench_rss() {
    local pid total=0 kb
    for pid in "$1" $(ps -o pid= --ppid "$1"); do
        kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${kb:-0}))
    done
    echo "$total kB"
}

# bench_sipload ARGS...: sipload as the edge of $BENCH_DOMAIN; JSON summary on stdout.
bench_sipload() {
    "$PR_BIN/sipload" --host 127.0.0.1 --cert "$EDGE_CERT" --key "$EDGE_KEY" \
        --ca "$PKI/ca.pem" --domain "$BENCH_DOMAIN" --provider apns \
        --param "$BENCH_PARAM" --json "$@"
}

# json_get JSON KEY: one top-level value of a JSON object.
json_get() {
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# bench_machine: the banner every result table starts with.
bench_machine() {
    local model
    model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) CPU(s), ${model:-unknown CPU}, $(uname -sr)," \
         "$(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "commit:  $(git -C "$PR_SRC" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "relay:   pushrelayd --workers $BENCH_WORKERS"
}

# ---- CPU time per notification (issue 14) --------------------------------
# Figures come from /proc/PID/stat, fields 14 and 15 (utime, stime: CPU the
# process spent in user and kernel mode, in clock ticks). Ticks are
# 1/CLK_TCK s (10 ms at the usual 100 Hz), so a run needs ~200,000
# notifications before a few microseconds each add up to a figure with
# under 1% rounding error.

# bench_tree PID: PID and every live descendant, one a line (a supervisor
# and its workers, or Kamailio's main process and its children).
bench_tree() {
    local p
    echo "$1"
    for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do bench_tree "$p"; done
}

# bench_cpu_ticks PID: utime + stime of PID and its live descendants, in
# clock ticks. The command name in field 2 may hold spaces: fields are
# counted after its closing parenthesis.
bench_cpu_ticks() {
    local p total=0 stat rest
    for p in $(bench_tree "$1"); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        # after "comm": state is field 3, so utime (14) is the 12th word, stime the 13th
        set -- $rest
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

# bench_cpu_ticks_one PID: utime + stime of PID alone. For Redis: the
# children it forks to rewrite its AOF come and go during a case, and one
# that exits in the middle would make a tree's sum go backwards.
bench_cpu_ticks_one() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    rest=${stat##*) }
    set -- $rest
    echo $((${12} + ${13}))
}

# bench_us_per TICKS COUNT: microseconds of CPU per item, one decimal.
bench_us_per() {
    python3 -c 'import os,sys
us = int(sys.argv[1]) * 1e6 / os.sysconf(os.sysconf_names["SC_CLK_TCK"])
print(f"{us / max(int(sys.argv[2]), 1):.1f}")' "$1" "$2"
}

# bench_rss_kb PID: resident set size (VmRSS) of PID and its live
# descendants, in KiB.
bench_rss_kb() {
    local p kb total=0
    for p in $(bench_tree "$1"); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# bench_ratio A B: A / B as "1.23x (A/s vs B/s)".
bench_ratio() {
    python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2])
print(f"{a / b:.2f}x ({a:.0f}/s vs {b:.0f}/s)" if b > 0 else "n/a (nothing measured)")' "$1" "$2"
}

# bench_median N...: the median of the numbers given.
bench_median() {
    python3 -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"
}

# ---- Kamailio, the ingest comparison peer (run-ingest.sh --kamailio) ------

# The Debian packages the comparison needs: Kamailio, its TLS and its Redis
# (ndb_redis) modules.
KAM_PACKAGES="kamailio kamailio-tls-modules kamailio-redis-modules"

# bench_install_kamailio: installs $KAM_PACKAGES with apt-get unless they
# are installed already. Only ever called when --kamailio was given: CI and
# the default run never install anything.
bench_install_kamailio() {
    local p missing=()
    for p in $KAM_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "installing ${missing[*]} (apt-get) for --kamailio"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    # A stale package index is the usual reason an install fails: refresh
    # it once and try again.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
        "${missing[@]}" >"$T/apt-get.log" 2>&1 ||
        { $sudo apt-get update >>"$T/apt-get.log" 2>&1 &&
          DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
              "${missing[@]}" >>"$T/apt-get.log" 2>&1; } ||
        fail "apt-get install ${missing[*]} failed (see $T/apt-get.log)"
}

# bench_start_kamailio PORT CHILDREN: Kamailio with bench/kamailio/kamailio.cfg
# on tls:127.0.0.1:PORT with CHILDREN TCP workers, the bench PKI and the
# private Redis; waits until it accepts. -DD keeps it in the foreground (its children forked as usual),
# so pr_track stops it; sets BENCH_PID.
bench_start_kamailio() {
    local port=$1 children=$2
    mkdir -p "$T/kamailio"
    bench_start kamailio kamailio -f "$BENCH_DIR/kamailio/kamailio.cfg" -DD -E \
        -l "tls:127.0.0.1:$port" -Y "$T/kamailio" -w "$T/kamailio" \
        -A "TLS_CERT=\"$PKI/server.pem\"" -A "TLS_KEY=\"$PKI/server.key\"" \
        -A "TLS_CA=\"$PKI/ca.pem\"" -A "TCP_CHILDREN=$children" \
        -A "REDIS_SRV=\"name=bench;addr=127.0.0.1;port=$REDIS_PORT\""
    pr_wait_port "$port" 60
    kill -0 "$BENCH_PID" 2>/dev/null || fail "kamailio did not start (see $T/kamailio.log)"
}
