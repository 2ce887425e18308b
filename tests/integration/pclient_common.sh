# pclient_common.sh - what the provider-client tests (test_pclient_*.sh)
# share: a sandbox on known ports, the driver, and checks on its output.
# Source after lib.sh.

SEND="$PR_BIN/pr_pclient_send"

# start_sandbox NAME [flags...]: a sandbox on $PORT/$MPNS_PORT when set,
# else on ports the kernel picks ($PORT h2, $MPNS_PORT HTTPS/1.1), recording
# into $T/NAME.jsonl, logging into $T/NAME.log. Sets PORT, MPNS_PORT, SB_PID.
start_sandbox() {
    local name=$1; shift
    pr_run_sandbox "$name" "${PORT:-0}" "${MPNS_PORT:-0}" --record "$T/$name.jsonl" "$@"
    PORT=$SANDBOX_PORT
    SB_PID=$SANDBOX_PID
}

# stop_sandbox: stop the last one started (its ports become free again).
stop_sandbox() {
    kill "$SB_PID"
    wait "$SB_PID" 2>/dev/null || true
    unset PORT MPNS_PORT
}

# send NAME args...: run the driver; output in $T/NAME.out, stderr in $T/NAME.log.
send() {
    local name=$1; shift
    "$SEND" "$@" >"$T/$name.out" 2>"$T/$name.log" || fail "$name: driver exited $? ($(tail -1 "$T/$name.out"))"
}

# field NAME KEY [LINE-PATTERN]: value of KEY=... on the first line of
# $T/NAME.out matching LINE-PATTERN (default: the summary).
field() {
    local pat=${3:-^summary}
    grep -E "$pat" "$T/$1.out" | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# records FILE: lines in a sandbox record (0 if none yet).
records() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# sandbox_stat KEY: a counter from /_sandbox/stats (python expression on d).
sandbox_stat() {
    curl -s --http2 --cacert "$T/pki/ca.pem" "https://127.0.0.1:$PORT/_sandbox/stats" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# sync_record FILE: waits until FILE, the record of the sandbox on $PORT,
# holds every delivery that sandbox counted (it writes in batches), instead
# of sleeping and hoping the batch was written.
record_synced() { [ "$(records "$1")" = "$(sandbox_stat 'sum(d["delivered"].values())')" ]; }
sync_record() {
    pr_wait_for 60 record_synced "$1" ||
        fail "$1 has $(records "$1") lines, the sandbox counted $(sandbox_stat 'sum(d["delivered"].values())')"
}

# compare_payloads EXPECTED.jsonl RECORD.jsonl: every notification the
# builders made was recorded by the sandbox byte for byte (body, path, headers).
compare_payloads() {
    python3 - "$1" "$2" <<'PY' || fail "recorded requests differ from what the builders made"
import json, sys
expected = [json.loads(l) for l in open(sys.argv[1])]
recorded = [json.loads(l) for l in open(sys.argv[2])]
assert expected, "no payloads noted"
for e in expected:
    match = [r for r in recorded if r["body"] == e["body"]
             and ("path" not in e or r["path"] == e["path"])]
    if len(match) != 1:
        sys.exit("notification %d: %d records with its exact body" % (e["i"], len(match)))
    for k, v in e["headers"].items():
        got = match[0]["headers"].get(k)
        if got != v:
            sys.exit("notification %d: header %s = %r, expected %r" % (e["i"], k, got, v))
print("ok: %d requests recorded byte-exact" % len(expected))
PY
}
