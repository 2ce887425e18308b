#!/usr/bin/env bash
# test_ops_stats.sh - a known mixed run (delivered, retried then delivered,
# token dead, dead letter, expired, refused at ingest), then `pushrelayctl
# stats --json` and /metrics must report exactly those counts; the latency
# histograms count one sample per final outcome; every /metrics line obeys
# the Prometheus text format 0.0.4; /readyz follows Redis down and back.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_ops_stats

# Retries fast and many, so that a 1 s TTL ends in "expired" before attempts run out.
export PR_MAX_ATTEMPTS=50 PR_BASE_DELAY_MS=100 PR_MAX_DELAY_MS=300
pr_boot --sandbox all

ctl() { "$PR_BIN/pushrelayctl" -c "$T/relay.conf" "$@"; }
metrics() { curl -sS "http://127.0.0.1:$MON_PORT/metrics"; }

# --- the run: 7 accepted notifications with known fates, then 1 refused at ingest
: >"$T/run.sip"
for tok in "$(pr_hex a1)" "$(pr_hex a2)" "$(pr_hex a3)" "$(pr_hex e5031)" "$(pr_hex e4100)" "$(pr_hex e4130)"; do
    pr_msg "$T/one.sip" prid="$tok"
    cat "$T/one.sip" >>"$T/run.sip"
done
pr_msg "$T/one.sip" prid="$(pr_hex e5030)" body='{"id":"expiring-1","event":"im","ttl":1,"title":"t","body":"b"}'
cat "$T/one.sip" >>"$T/run.sip"
RESP=$(pr_sip_request "$T/run.sip" 7) || fail "run: no responses: $RESP"
assert_eq 7 "$(printf '%s\n' "$RESP" | grep -c '^SIP/2.0 202')" "202 answers to the run"

counter() {  # counter NAME: total of NAME from stats --json (0 when absent)
    ctl stats --json | python3 -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c.get(sys.argv[1],{}).get("total",0))' "$1"
}
settled() {
    [ "$(counter delivered)" = 4 ] && [ "$(counter token_dead)" = 1 ] &&
        [ "$(counter dead_lettered)" = 1 ] && [ "$(counter expired)" = 1 ]
}
pr_wait_for 60 settled || fail "outcomes did not settle: $(ctl stats)"
pr_expect_status 410 <(pr_msg /dev/stdout prid="$(pr_hex e4100)") "the dead token again"

# --- stats --json: exactly the run. The relay flushes its counters to Redis
# about once a second; rather than sleeping for "enough" flushes, poll until
# the document matches (60 s ceiling), then check that same document.
cat >"$T/check_stats.py" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
c = s["counters"]
want = {"received": 8, "queued": 7, "rejected_410": 1, "delivered": 4,
        "token_dead": 1, "dead_lettered": 1, "expired": 1}
bad = []
for k, v in want.items():
    got = c.get(k, {})
    if got.get("total") != v or got.get("providers", {}).get("apns") != v:
        bad.append("%s: want %d, got %r" % (k, v, got))
    if got.get("last_hour") != v:
        bad.append("%s last_hour: want %d, got %r" % (k, v, got.get("last_hour")))
    if got.get("providers", {}).get("fcm") != 0:
        bad.append("%s fcm: want 0" % k)
r = c.get("retried", {}).get("total", 0)
if r < 1:  # 1 for e5031; the expiring one may expire at its first answer or after retries
    bad.append("retried: want >= 1, got %d" % r)
outcomes = 4 + 1 + 1 + 1
for kind in ("e2e", "rtt"):
    h = s["latency_ms"]["apns"][kind]
    if h["count"] != outcomes:
        bad.append("%s count: want %d, got %d" % (kind, outcomes, h["count"]))
    cum = [b["count"] for b in h["buckets"]]
    if cum != sorted(cum) or cum[-1] != outcomes or h["buckets"][-1]["le"] != "+Inf":
        bad.append("%s buckets not cumulative up to %d: %r" % (kind, outcomes, h["buckets"]))
    if h["p50"] is None or not (h["p50"] <= h["p95"] <= h["p99"]):
        bad.append("%s percentiles out of order: %r" % (kind, h))
for line in bad:
    print("stats --json:", line)
sys.exit(1 if bad else 0)
PY
stats_match() { ctl stats --json >"$T/stats.json" && python3 "$T/check_stats.py" "$T/stats.json"; }
pr_wait_for 60 stats_match || { python3 "$T/check_stats.py" "$T/stats.json"; fail "stats --json does not match the run"; }
ctl stats >"$T/stats.txt"
metrics >"$T/metrics.txt"
cat "$T/stats.txt"
pass "stats --json reports the run exactly"
grep -q '^delivered *4 *4 *0 *0 *4 ' "$T/stats.txt" || fail "stats table row for delivered: $(grep delivered "$T/stats.txt")"
grep -q '^apns e2e *7 ' "$T/stats.txt" || fail "stats table e2e latency row"
pass "stats table shows the same counts"

# --- per domain
ctl stats --domain contoso.com --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["counters"]
assert c["delivered"]["total"] == 4 and c["queued"]["total"] == 7 and c["token_dead"]["total"] == 1, c
' || fail "stats --domain contoso.com"
pass "stats --domain contoso.com reports the run"

# --- /metrics: the same counts, histograms that add up, and a valid exposition
cat >"$T/check_metrics.py" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
stats = json.load(open(sys.argv[2]))
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
lval = r'"(?:[^"\\\n]|\\[\\"n])*"'
label = r"[a-zA-Z_][a-zA-Z0-9_]*=" + lval
value = r"(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|NaN|[-+]?Inf)"
sample = re.compile(r"^(%s)(\{(?:%s(?:,%s)*,?)?\})? %s(?: -?[0-9]+)?$" % (name, label, label, value))
help_ = re.compile(r"^# HELP (%s) .*$" % name)
type_ = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % name)
bad, types, samples = [], {}, []
assert text.endswith("\n"), "exposition must end with a newline"
for i, line in enumerate(text.split("\n")[:-1], 1):
    m = type_.match(line)
    if m:
        if m.group(1) in types:
            bad.append("line %d: second TYPE for %s" % (i, m.group(1)))
        types[m.group(1)] = m.group(2)
        continue
    if help_.match(line):
        continue
    m = sample.match(line)
    if not m:
        bad.append("line %d does not match the text format: %r" % (i, line))
        continue
    fam = m.group(1)
    for suf in ("_bucket", "_sum", "_count"):
        if fam.endswith(suf) and types.get(fam[: -len(suf)]) == "histogram":
            fam = fam[: -len(suf)]
    if fam not in types:
        bad.append("line %d: sample before its TYPE: %r" % (i, line))
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
    samples.append((m.group(1), labels, float(line.rsplit(" ", 1)[1])))

def get(n, **lab):
    v = [s[2] for s in samples if s[0] == n and all(s[1].get(k) == w for k, w in lab.items())]
    return v[0] if len(v) == 1 else None

# counters equal stats --json
for stage, c in stats["counters"].items():
    for prov, v in c["providers"].items():
        got = get("pushrelay_notifications_total", provider=prov, stage=stage)
        if (got or 0) != v:
            bad.append("pushrelay_notifications_total{provider=%s,stage=%s}: %r, stats says %d" % (prov, stage, got, v))
for stage, v in {"delivered": 4, "token_dead": 1, "dead_lettered": 1, "expired": 1, "queued": 7}.items():
    if get("pushrelay_notifications_total", provider="apns", stage=stage) != v:
        bad.append("%s: want %d" % (stage, v))
# histograms: cumulative, +Inf == _count == number of outcomes, per stats --json
if types.get("pushrelay_latency_ms") != "histogram":
    bad.append("pushrelay_latency_ms is not TYPE histogram")
for kind in ("e2e", "rtt"):
    b = [(s[1]["le"], s[2]) for s in samples if s[0] == "pushrelay_latency_ms_bucket"
         and s[1].get("provider") == "apns" and s[1].get("kind") == kind]
    les = [float("inf") if le == "+Inf" else float(le) for le, _ in b]
    counts = [c for _, c in b]
    if not b or les != sorted(les) or les[-1] != float("inf"):
        bad.append("%s buckets not in ascending le ending with +Inf: %r" % (kind, b))
    if counts != sorted(counts):
        bad.append("%s buckets not cumulative: %r" % (kind, counts))
    cnt = get("pushrelay_latency_ms_count", provider="apns", kind=kind)
    if not b or counts[-1] != 7 or cnt != 7:
        bad.append("%s: +Inf %r and _count %r, want 7 (outcomes)" % (kind, counts[-1:] , cnt))
    if get("pushrelay_latency_ms_sum", provider="apns", kind=kind) != stats["latency_ms"]["apns"][kind]["sum_ms"]:
        bad.append("%s _sum differs from stats --json" % kind)
if get("pushrelay_redis_up") != 1:
    bad.append("pushrelay_redis_up != 1")
if get("pushrelay_dead_letters") != 1:
    bad.append("pushrelay_dead_letters: %r, want 1" % get("pushrelay_dead_letters"))
for line in bad:
    print("/metrics:", line)
print("/metrics: %d samples checked" % len(samples))
sys.exit(1 if bad else 0)
PY
python3 "$T/check_metrics.py" "$T/metrics.txt" "$T/stats.json" || fail "/metrics does not match"
pass "/metrics agrees with stats and obeys the text format"
ctype=$(curl -sS -o /dev/null -w '%{content_type}' "http://127.0.0.1:$MON_PORT/metrics")
assert_eq "text/plain; version=0.0.4" "$ctype" "/metrics content type"

# --- the same check fails on a malformed line (an unclosed label value)
cp "$T/metrics.txt" "$T/metrics-bad.txt"
printf 'pushrelay_up{provider="apns} 1\n' >>"$T/metrics-bad.txt"
if python3 "$T/check_metrics.py" "$T/metrics-bad.txt" "$T/stats.json" >"$T/check-bad.out"; then
    fail "a malformed sample line passed the check"
fi
grep -q 'does not match the text format' "$T/check-bad.out" || fail "malformed line not named: $(cat "$T/check-bad.out")"
pass "a malformed line fails the grammar check"

# --- stats --watch redraws until SIGINT, then exits 0. SIGINT is sent once
# the second frame is out (the program is then surely waiting in its loop),
# never after a guessed delay.
"$PR_BIN/pushrelayctl" -c "$T/relay.conf" stats --watch >"$T/watch.out" 2>&1 &
WATCH_PID=$!
pr_track "$WATCH_PID"
frames() { grep -c 'NOW/S' "$T/watch.out"; }
frames_ge() { [ "$(frames)" -ge "$1" ]; }
pr_wait_for 60 frames_ge 2 || fail "stats --watch did not redraw: $(cat "$T/watch.out")"
pass "stats --watch redraws every second"
kill -INT "$WATCH_PID"
gone() { ! kill -0 "$WATCH_PID" 2>/dev/null; }
pr_wait_for 60 gone || fail "stats --watch still running 60 s after SIGINT"
rc=0
wait "$WATCH_PID" || rc=$?
assert_eq 0 "$rc" "stats --watch exit code after SIGINT"

# --- /readyz follows Redis
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MON_PORT/readyz"; }
ready_is() { [ "$(ready)" = "$1" ]; }          # for pr_wait_for: evaluated on every poll
assert_eq 200 "$(ready)" "/readyz with Redis up"
pr_stop_redis
pr_wait_for 60 ready_is 503 || fail "/readyz not 503 with Redis down: $(ready)"
pass "/readyz 503 with Redis down"
curl -s "http://127.0.0.1:$MON_PORT/readyz" | grep -q "Redis" || fail "/readyz does not name Redis"
metrics | grep -q '^pushrelay_redis_up 0$' || fail "/metrics pushrelay_redis_up not 0 with Redis down"
pr_restart_redis
pr_wait_for 60 ready_is 200 || fail "/readyz not 200 after Redis returned: $(ready)"
pass "/readyz 200 when Redis returns"
rc=0
ctl stats >/dev/null 2>&1 || rc=$?
assert_eq 0 "$rc" "stats after Redis returned"

echo "test_ops_stats: all passed"
