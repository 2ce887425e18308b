"""ops_stats_check.py - what test_ops_stats.sh expects of its known run.

  ops_stats_check.py stats STATS.json
      `pushrelayctl stats --json` holds exactly the run's counts
  ops_stats_check.py metrics METRICS.txt STATS.json
      /metrics has the same counts, histograms that add up, and every line
      obeys the Prometheus text format 0.0.4

Prints each difference; exits 1 when there is one.
"""
import json
import re
import sys


def check_stats(argv):
    s = json.load(open(argv[1]))
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
    return 1 if bad else 0


def check_metrics(argv):
    text = open(argv[1]).read()
    stats = json.load(open(argv[2]))
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
    return 1 if bad else 0


if __name__ == "__main__":
    CHECKS = {"stats": check_stats, "metrics": check_metrics}
    if len(sys.argv) < 3 or sys.argv[1] not in CHECKS:
        sys.exit(__doc__)
    sys.exit(CHECKS[sys.argv[1]](sys.argv[1:]))
