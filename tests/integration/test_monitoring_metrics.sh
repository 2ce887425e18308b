#!/usr/bin/env bash
# test_monitoring_metrics.sh - every metric name that the alerting rules and
# the Grafana dashboard in deploy/monitoring/ use exists on a live
# pushrelayd's /metrics. The relay delivers one notification first, so the
# Redis-backed counters and histograms are there too. Refuses to pass when
# it found fewer names than the rules and dashboard must use.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_monitoring_metrics

pr_boot --sandbox all

pr_msg "$T/one.sip" prid="$(printf 'a1%.0s' $(seq 32))"
pr_expect_status 202 "$T/one.sip" "one MESSAGE"
metrics() { curl -sS "http://127.0.0.1:$MON_PORT/metrics"; }
delivered() { metrics | grep -q '^pushrelay_notifications_total{provider="apns",stage="delivered"} 1$'; }
pr_wait_for 60 delivered || fail "the notification was not delivered: $(metrics | grep notifications_total)"
hist() { metrics | grep -q '^pushrelay_latency_ms_count{provider="apns",kind="e2e"} 1$'; }
pr_wait_for 60 hist || fail "no e2e latency sample: $(metrics | grep latency_ms_count)"
metrics >"$T/metrics.txt"

python3 - "$T/metrics.txt" "$PR_SRC/deploy/monitoring/pushrelay-alerts.yml" \
    "$PR_SRC/deploy/monitoring/pushrelay-dashboard.json" <<'PY' || fail "rules or dashboard use metrics /metrics does not have"
import json, re, sys
live = set()
for line in open(sys.argv[1]):
    if line.strip() and not line.startswith("#"):
        live.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
names = re.compile(r"\bpushrelay_[a-z0-9_]+")
# The rules' expressions: comment lines name metrics in prose only.
rules = set(names.findall("".join(l for l in open(sys.argv[2]) if not l.lstrip().startswith("#"))))
dash = set()
for p in json.load(open(sys.argv[3]))["panels"]:
    for t in p.get("targets", []):
        dash |= set(names.findall(t["expr"]))
used = rules | dash
missing = sorted(used - live)
print("rules use %d names, dashboard %d; /metrics has %d" % (len(rules), len(dash), len(live)))
if len(rules) < 7 or len(dash) < 10:
    sys.exit("too few metric names found: rules %r, dashboard %r" % (sorted(rules), sorted(dash)))
if missing:
    sys.exit("not on /metrics: %s" % missing)
PY
pass "every metric of the rules and dashboard is on /metrics"
