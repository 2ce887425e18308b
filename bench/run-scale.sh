#!/usr/bin/env bash
# run-scale.sh - the high-availability and scale-out benchmark (issue 12):
# the same end-to-end load (SIP MESSAGE over mutual TLS -> Redis -> APNs
# sandbox) against three Redis set-ups on this machine, each beside the
# single-Redis figure as a ratio:
#
#   single     one redis-server (AOF everysec), redis.shards = 1
#   sentinel   a primary, one replica, three sentinels; the relay finds the
#              primary through them and answers 202 only after WAIT 1
#              (redis.wait_replicas = 1, wait_timeout_ms = 500)
#   cluster    3 primaries + 3 replicas (redis-cli --cluster create),
#              redis.cluster seeds, redis.shards = BENCH_SHARDS (default 16)
#
#   bench/run-scale.sh [--modes single,sentinel,cluster]   (PR_BIN=build dir)
#   BENCH_COUNT=50000 BENCH_LS_COUNT=5000 BENCH_SHARDS=16 bench/run-scale.sh
#
# Per mode, one `pushrelayd --role all` (listener and dispatcher in one
# process) and the sandbox as APNs; cases, in order:
#   lock-step   sipload, 1 connection, window 1, BENCH_LS_COUNT MESSAGEs
#   pipelined   sipload, 50 connections x window 10, BENCH_COUNT MESSAGEs
#   dispatch    the pipelined case's deliveries, first to last receipt by
#               the sandbox's clock (the dispatcher drains while ingest runs)
# Every 202 must be delivered (checked by push id), or the script fails.
# Everything runs on 127.0.0.1 and is stopped at exit (tests/integration/lib.sh).
. "$(dirname "$0")/common.sh"
. "$PR_SRC/tests/integration/cluster_lib.sh"

MODES=single,sentinel,cluster
while [ $# -gt 0 ]; do
    case $1 in
    --modes) [ $# -ge 2 ] || fail "--modes needs a list"; MODES=$2; shift 2 ;;
    --modes=*) MODES=${1#--modes=}; shift ;;
    *) fail "unknown argument '$1' (usage: $0 [--modes single,sentinel,cluster])" ;;
    esac
done
COUNT=${BENCH_COUNT:-50000}
LS_COUNT=${BENCH_LS_COUNT:-5000}
SHARDS=${BENCH_SHARDS:-16}
CASE_SECONDS=${BENCH_SECONDS:-120}

bench_need sipload pushrelayd pushrelayctl pushrelay-sandbox
bench_pki

now_ms() { date +%s%3N; }

# ---- one Redis set-up per mode -------------------------------------------
# redis_start MODE: starts MODE's Redis processes; sets REDIS_LINE, the config line.
redis_start() {
    REDIS_PORT='' REPLICA_PORT=''
    rm -rf "$T/redis" "$T/replica"       # a fresh dataset per mode
    case $1 in
    single)
        bench_start_redis
        REDIS_LINE="redis = { host = \"127.0.0.1\"; port = $REDIS_PORT; prefix = \"pr:\"; shards = 1; };"
        ;;
    sentinel)
        bench_start_redis
        pr_start_replica --appendonly yes --appendfsync everysec
        pr_start_sentinels
        REDIS_LINE="redis = { sentinels = [ $SENTINEL_LIST ]; master_name = \"pushrelay\"; prefix = \"pr:\";"
        REDIS_LINE+=" shards = 1; wait_replicas = 1; wait_timeout_ms = 500; };"
        ;;
    cluster)
        pr_cluster_start 3
        REDIS_LINE="redis = { cluster = [ $CLUSTER_SEEDS ]; prefix = \"pr:\"; shards = $SHARDS; };"
        ;;
    *) fail "unknown mode '$1' (single, sentinel, cluster)" ;;
    esac
}

# steady RECORD PREFIX: "rate span_ms" from the sandbox's receipt times.
steady() {
    python3 -c '
import json, sys
ts = [json.loads(l)["ts_us"] for l in open(sys.argv[1]) if "\"" + sys.argv[2] in l]
span = (max(ts) - min(ts)) / 1e6 if len(ts) > 1 else 0
print(f"{(len(ts) - 1) / max(span, 1e-6):.0f} {span * 1000:.0f}")' "$1" "$2"
}

declare -A RATE P50 P99
run_mode() {
    local mode=$1 conf=$T/$1.conf record=$T/$1-record.jsonl sb_port sip_port out
    echo "== $mode" >&2
    redis_start "$mode"
    sb_port=$(pr_free_port)
    sip_port=$(pr_free_port)
    : >"$record"
    bench_start "sandbox-$mode" "$PR_BIN/pushrelay-sandbox" --listen "127.0.0.1:$sb_port" \
        --cert "$PKI/server.pem" --key "$PKI/server.key" --apns-key "$APNS_KEY" \
        --apns-team "$BENCH_TEAM" --apns-key-id "$BENCH_KEY_ID" --record "$record"
    local sb_pid=$BENCH_PID
    pr_wait_port "$sb_port"
    bench_conf "$conf" "$sip_port" "https://127.0.0.1:$sb_port"
    python3 - "$conf" "$REDIS_LINE" <<'PY'
import sys
p, line = sys.argv[1], sys.argv[2]
lines = [line if l.startswith("redis = ") else l for l in open(p).read().split("\n")]
open(p, "w").write("\n".join(lines))
PY
    bench_enable_push "$conf" "enable-$mode.log"
    bench_relay "relay-$mode" "$conf" all
    local relay_pid=$BENCH_PID

    out=$(bench_sipload --port "$sip_port" --connections 1 --window 1 --count "$LS_COUNT" \
        --duration "$CASE_SECONDS" --token-prefix 0e1 2>>"$T/sipload.log") ||
        fail "$mode lock-step: sipload failed (see $T/sipload.log)"
    RATE[$mode,ls]=$(json_get "$out" rate) P50[$mode,ls]=$(json_get "$out" p50_ms)
    P99[$mode,ls]=$(json_get "$out" p99_ms)
    echo "$out" >"$T/$mode-ls.json"

    out=$(bench_sipload --port "$sip_port" --connections 50 --window 10 --count "$COUNT" \
        --duration "$CASE_SECONDS" --token-prefix 0e2 2>>"$T/sipload.log") ||
        fail "$mode pipelined: sipload failed (see $T/sipload.log)"
    RATE[$mode,pl]=$(json_get "$out" rate) P50[$mode,pl]=$(json_get "$out" p50_ms)
    P99[$mode,pl]=$(json_get "$out" p99_ms)
    local ok_ls ok_pl
    ok_ls=$(json_get "$(cat "$T/$mode-ls.json")" ok)
    ok_pl=$(json_get "$out" ok)
    # Every 202 of both cases is delivered (the sandbox records each push).
    local want=$((ok_ls + ok_pl)) got=0
    for _ in $(seq 1200); do
        got=$(grep -c '"token"' "$record" || true)
        [ "$got" -ge "$want" ] && break
        kill -0 "$relay_pid" 2>/dev/null || fail "$mode: pushrelayd exited (see $T/relay-$mode.log)"
        sleep 0.1
    done
    [ "$got" -ge "$want" ] || fail "$mode: $got deliveries for $want 202s after 120 s"
    read -r RATE[$mode,disp] _ <<<"$(steady "$record" 0e2)"
    kill -0 "$relay_pid" 2>/dev/null || fail "$mode: pushrelayd exited (see $T/relay-$mode.log)"
    pr_stop "$relay_pid"
    pr_stop "$sb_pid"
    [ "$(pr_record_ids "$record" | sort -u | wc -l)" -ge "$want" ] ||
        fail "$mode: fewer distinct push ids delivered than 202s"
    # the mode's Redis processes go now, so the next mode has the machine
    case $mode in
    single) pr_stop "$REDIS_PID" ;;
    sentinel) pr_stop "$REDIS_PID"; pr_stop "$REPLICA_PID"; pkill -f "$T/sentinel-" || true ;;
    cluster) for p in "${CLUSTER_PORTS[@]}"; do pr_stop "${CLUSTER_PID[$p]}"; done ;;
    esac
}

IFS=, read -r -a MODE_LIST <<<"$MODES"
for m in "${MODE_LIST[@]}"; do run_mode "$m"; done

ratio() {
    [ -n "${RATE[single,$2]:-}" ] || { echo "-"; return; }
    python3 -c 'import sys; print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}x")' "${RATE[$1,$2]}" "${RATE[single,$2]}"
}
echo
echo "pushrelay scale-out benchmark (MESSAGE -> Redis -> APNs sandbox, pushrelayd --role all)"
bench_machine
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the end"
echo "cases:   lock-step $LS_COUNT MESSAGEs (1 conn x win 1); pipelined $COUNT (50 conn x win 10);"
echo "         dispatch = the pipelined case's deliveries, first to last receipt; cluster shards = $SHARDS"
echo
printf '%-10s %-10s %12s %9s %9s %10s\n' mode case "per s" "p50 ms" "p99 ms" "vs single"
for m in "${MODE_LIST[@]}"; do
    for c in ls pl disp; do
        name=$c
        case $c in ls) name=lock-step ;; pl) name=pipelined ;; disp) name=dispatch ;; esac
        if [ "$c" = disp ]; then
            printf '%-10s %-10s %12.0f %9s %9s %10s\n' "$m" "$name" "${RATE[$m,$c]}" - - "$(ratio "$m" "$c")"
        else
            printf '%-10s %-10s %12.0f %9.3f %9.3f %10s\n' "$m" "$name" "${RATE[$m,$c]}" \
                "${P50[$m,$c]}" "${P99[$m,$c]}" "$(ratio "$m" "$c")"
        fi
    done
done
