#!/usr/bin/env bash
# test_monitoring_rules.sh - deploy/monitoring/ is valid: `promtool check
# rules` accepts the alerting rules, `promtool test rules` shows each alert
# firing on data that should trigger it, and the Grafana dashboard is JSON
# whose every panel queries Prometheus. (That the metric names exist on a
# live /metrics is test_monitoring_metrics.sh.)
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_monitoring_rules

M="$PR_SRC/deploy/monitoring"
command -v promtool >/dev/null || fail "promtool not found (Debian package prometheus, deploy/install-deps.sh)"

promtool check rules "$M/pushrelay-alerts.yml" >"$T/check.log" 2>&1 || { cat "$T/check.log"; fail "promtool check rules"; }
n=$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "$T/check.log")
[ "${n:-0}" -ge 8 ] || fail "promtool found ${n:-no} rules, want at least 8: $(cat "$T/check.log")"
pass "promtool check rules: $n rules"

# promtool test rules resolves rule_files against the test file's directory.
promtool test rules "$M/pushrelay-alerts.test.yml" >"$T/test.log" 2>&1 || { cat "$T/test.log"; fail "promtool test rules"; }
grep -q SUCCESS "$T/test.log" || fail "promtool test rules did not report SUCCESS: $(cat "$T/test.log")"
# Every alert the rules define is exercised by the unit tests.
python3 - "$M/pushrelay-alerts.yml" "$M/pushrelay-alerts.test.yml" <<'PY' || fail "an alert has no promtool unit test"
import re, sys
rules = set(re.findall(r"^\s*- alert:\s*(\S+)", open(sys.argv[1]).read(), re.M))
tested = set(re.findall(r"^\s*alertname:\s*(\S+)", open(sys.argv[2]).read(), re.M))
if not rules or rules - tested:
    sys.exit("untested alerts: %s" % sorted(rules - tested))
PY
pass "promtool test rules: every alert tested"

python3 - "$M/pushrelay-dashboard.json" <<'PY' || fail "dashboard JSON"
import json, sys
d = json.load(open(sys.argv[1]))
panels = [p for p in d["panels"] if p["type"] != "row"]
assert len(panels) >= 10, "only %d panels" % len(panels)
for p in panels:
    assert p["datasource"]["type"] == "prometheus", p["title"]
    assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
titles = " | ".join(p["title"] for p in panels)
for want in ("Ingest rate", "Deliveries", "Queue depth", "Retry set", "Dead letters", "End-to-end latency",
             "Provider latency", "Federation connections", "Redis up", "Certificate expiry"):
    assert want in titles, "no panel for %s: %s" % (want, titles)
print("dashboard: %d panels" % len(panels))
PY
pass "dashboard JSON: panels for every figure the issue lists"
