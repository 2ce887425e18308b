# shellcheck shell=bash
# workers_lib.sh - helpers for the supervisor tests (test_workers_*.sh), on
# top of lib.sh (source that first): pushrelayd --workers N, its workers,
# its one monitoring port, and the audit "every MESSAGE answered 202 was
# delivered" against the sandbox's record.
#
#   wk_boot N                   PKI, Redis, sandbox, config, supervisor of N
#                               workers (role all), contoso.com enabled, stunnel
#   wk_start N [ROLE]           the supervisor alone ($RELAY_PID), waits for N workers ready
#   wk_pids                     the supervisor's live children, one pid a line
#   wk_metrics, wk_readyz       the monitoring port's pages
#   wk_metric NAME              sum of the series NAME{...} on /metrics
#   wk_worker_pid K             pid of worker K (from the supervisor's log)
#   wk_sipp_par K N TAG         K sipp edges at once, one connection each
#   wk_audit STATUS CSV         accepted (202) vs delivered: sets ACCEPTED, LOST, DUPS

# wk_start N [ROLE]: pushrelayd --workers N on $T/relay.conf, logging to
# $T/relay.log; returns once /readyz says every worker is ready.
wk_start() {
    local n=$1 role=${2:-all}
    [ -f "$T/relay.conf" ] || pr_write_config "$T/relay.conf"
    "$PR_BIN/pushrelayd" -c "$T/relay.conf" --role "$role" --workers "$n" >>"$T/relay.log" 2>&1 &
    RELAY_PID=$!
    pr_track "$RELAY_PID"
    pr_wait_for 60 wk_ready_n "$n" || fail "supervisor: $n workers not ready after 60 s ($(wk_readyz))"
    pass "supervisor $RELAY_PID ready with $n workers: $(wk_pids | tr '\n' ' ')"
}

wk_pids() { ps -o pid= --ppid "$RELAY_PID" | tr -d ' '; }
wk_metrics() { curl -sf "http://127.0.0.1:$MON_PORT/metrics"; }
wk_readyz() { curl -s "http://127.0.0.1:$MON_PORT/readyz"; }
wk_ready_n() {
    [ "$(wk_pids | wc -l)" -eq "$1" ] && curl -sf "http://127.0.0.1:$MON_PORT/readyz" >/dev/null
}

# wk_metric NAME [LABELS]: the sum of every sample of NAME whose labels
# contain LABELS (e.g. worker="1"); empty when NAME is absent.
wk_metric() {
    wk_metrics | awk -v n="$1" -v l="${2:-}" '
        $1 == n || index($1, n "{") == 1 { if (l == "" || index($1, l)) { s += $2; seen = 1 } }
        END { if (seen) print s }'
}

# wk_worker_pid K: the pid the supervisor last started worker K with.
wk_worker_pid() {
    sed -n "s/.*supervisor: worker $1 started (pid \([0-9]*\).*/\1/p" "$T/relay.log" | tail -n 1
}

# wk_boot N: the common start: everything a supervisor test needs.
wk_boot() {
    pr_gen_certs
    pr_gen_edge edge.contoso.com
    pr_start_redis
    pr_start_sandbox
    PR_LOG_LEVEL=${PR_LOG_LEVEL:-info} pr_write_config "$T/relay.conf"
    wk_start "$1"
    # Stopped by the test at its end even if the supervisor fails to stop them.
    WORKERS=$(wk_pids)
    for pid in $WORKERS; do pr_track "$pid"; done
    pr_enable contoso.com edge.contoso.com
    pr_start_stunnel edge.contoso.com
}

# wk_sipp_par K N TAG: K sipp instances at once (scenario
# message_expect_any), each over its own connection (-t t1) through the
# stunnel with N/K MESSAGEs of $T/TAG-i.csv, logging to
# $T/sipp-TAG-i-status.log. Unlike one sipp with a connection per call,
# the instances whose connection a fault cuts stop alone and the others
# carry on. Sets SIPP_PIDS; wait for them with wk_sipp_wait.
wk_sipp_par() {
    local k=$1 n=$2 tag=$3 i
    SIPP_PIDS=()
    for i in $(seq 0 $((k - 1))); do
        PR_CSV_TAG="$tag-$i" pr_gen_csv "$T/$tag-$i.csv" $((n / k))
        (cd "$T" && exec sipp 127.0.0.1:"$STUNNEL_PORT" \
            -sf "$PR_SRC/tests/integration/sipp/message_expect_any.xml" -t t1 -i 127.0.0.1 \
            -p "$(pr_free_port)" -s push -m $((n / k)) -r "${PR_SIPP_RATE:-50}" -l 20 \
            -timeout 120s -timeout_error -recv_timeout 10000 -nostdin -inf "$T/$tag-$i.csv" \
            -trace_err -error_file "$T/sipp-$tag-$i-errors.log" \
            -trace_logs -log_file "$T/sipp-$tag-$i-status.log" >"$T/sipp-$tag-$i.out" 2>&1) &
        SIPP_PIDS+=("$!")
        pr_track "$!"
    done
}

# wk_sipp_running: true while any of SIPP_PIDS runs.
wk_sipp_running() {
    local pid
    for pid in "${SIPP_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
    return 1
}

# wk_recorded: deliveries in the sandbox's record so far.
wk_recorded() { if [ -s "$T/sandbox.jsonl" ]; then wc -l <"$T/sandbox.jsonl"; else echo 0; fi; }
wk_recorded_ge() { [ "$(wk_recorded)" -ge "$1" ]; }

# wk_load_tenth N TAG: N MESSAGEs from 8 edges at once (wk_sipp_par); returns
# once a tenth of them is delivered and the load still runs, so that a fault
# the test injects next lands under load (fails otherwise: a fault after the
# load was over would prove nothing).
wk_load_tenth() {
    local n=$1 tag=$2
    wk_sipp_par 8 "$n" "$tag"
    pr_wait_for 60 wk_recorded_ge $((n / 10)) || fail "fewer than $((n / 10)) deliveries after 60 s"
    wk_sipp_running || fail "the load was over before the fault: the test proves nothing"
}

# wk_sipp_wait: wait for SIPP_PIDS (their exit codes do not matter: calls a
# fault cut fail, and wk_audit counts only what was answered 202).
wk_sipp_wait() {
    local pid
    for pid in "${SIPP_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# wk_audit STATUS CSV: compares the MESSAGEs sipp logged as answered 202
# (files matching the glob STATUS, e.g. $T/sipp-message_expect_any-status.log)
# with the deliveries the sandbox recorded (tokens mapped to ids through the
# files matching CSV). Sets ACCEPTED (ids answered 202), LOST (accepted,
# never delivered), DUPS (deliveries beyond one per id).
wk_audit() {
    local out
    out=$(python3 - "$1" "$2" "$T/sandbox.jsonl" <<'PY'
import collections, glob, json, sys
accepted = set()
for name in glob.glob(sys.argv[1]):
    for line in open(name):
        f = line.split()
        if len(f) >= 3 and f[1] == "202":
            accepted.add(f[2])
tok2id = {}
for name in glob.glob(sys.argv[2]):
    for line in open(name):
        f = line.rstrip("\n").split(";")
        if len(f) >= 2:
            tok2id[f[0]] = f[1]
got = collections.Counter()
try:
    for line in open(sys.argv[3]):
        r = json.loads(line)
        if r.get("token") in tok2id:
            got[tok2id[r["token"]]] += 1
except FileNotFoundError:
    pass
lost = len([i for i in accepted if got[i] == 0])
dups = sum(c - 1 for c in got.values() if c > 1)
print(len(accepted), lost, dups)
PY
)
    read -r ACCEPTED LOST DUPS <<<"$out"
}

# wk_delivered_all STATUS CSV: true once every accepted MESSAGE was delivered.
wk_delivered_all() {
    wk_audit "$1" "$2"
    [ "$ACCEPTED" -gt 0 ] && [ "$LOST" -eq 0 ]
}
