#!/usr/bin/env bash
# An edge sends N push MESSAGEs through sipp (over stunnel, presenting its
# client certificate); every one is answered 202 with a Push-Id and lands
# exactly once in the APNs stream as {id, domain, n}, where n is the
# notification record carrying the token, app, event and the text intact
# (Korean and emoji included).
. "$(dirname "$0")/lib.sh"

N=${PR_INGEST_N:-500}
TEXT='점심 12시 어때요? 🍜🎉'

pr_boot listener
pr_start_stunnel edge.contoso.com
pr_gen_csv "$T/in.csv" "$N" contoso.com apns ABCDE12345.com.example.lync im "$TEXT"

pr_sipp message "$N" -inf "$T/in.csv" || fail "sipp: not every MESSAGE was answered 202 with a Push-Id"
assert_eq "$N" "$(pr_sipp_stat message 'SuccessfulCall(C)')" "sipp calls answered 202"
assert_eq 0 "$(pr_sipp_stat message 'FailedCall(C)')" "sipp failed calls"

assert_eq "$N" "$(pr_xlen apns)" "entries in the apns streams"
assert_eq 0 "$(pr_xlen fcm)" "entries in the fcm streams"
assert_eq 0 "$(pr_xlen mpns)" "entries in the mpns streams"

# Every entry matches the CSV row with its id, and no id is queued twice.
pr_entries apns >"$T/entries.json"
python3 - "$T/in.csv" "$T/entries.json" "$TEXT" <<'PY' || fail "stream entries do not match what the edge sent"
import json, sys
rows = [l.rstrip("\n").split(";") for l in open(sys.argv[1], encoding="utf-8")][1:]
want = {r[1]: r for r in rows}
entries = json.load(open(sys.argv[2], encoding="utf-8"))
text = sys.argv[3]
seen = set()
bad = 0
for eid, kv in entries:
    f = dict(zip(kv[0::2], kv[1::2]))
    missing = {"id", "domain", "n"} - set(f)
    if missing:
        print("entry %s lacks fields %s" % (eid, sorted(missing))); bad += 1; continue
    r = want.get(f["id"])
    if r is None:
        print("entry %s has unknown id %r" % (eid, f["id"])); bad += 1; continue
    if f["id"] in seen:
        print("id %s queued twice" % f["id"]); bad += 1
    seen.add(f["id"])
    n = json.loads(f["n"])
    expect = {"id": r[1], "dom": "contoso.com", "prov": "apns", "app": "lync-ios",
              "tok": r[0], "ev": "im", "body": text, "title": "Alice Smith",
              "from": "sip:alice@contoso.com", "to": "sip:bob@contoso.com", "ttl": 60}
    for k, v in expect.items():
        if n.get(k) != v:
            print("entry %s: n.%s = %r, want %r" % (f["id"], k, n.get(k), v)); bad += 1
    if f["domain"] != "contoso.com":
        print("entry %s: domain %r" % (f["id"], f["domain"])); bad += 1
    if not isinstance(n.get("exp"), int) or not isinstance(n.get("acc"), int) or n["exp"] - n["acc"] != 60000:
        print("entry %s: acc/exp %r/%r not 60 s apart" % (f["id"], n.get("acc"), n.get("exp"))); bad += 1
    if bad > 20:
        break
if seen != set(want) and bad <= 20:
    print("ids never queued: %s" % sorted(set(want) - seen)[:10]); bad += 1
sys.exit(1 if bad else 0)
PY
pass "all $N entries carry id, domain and the notification (token, app, event, UTF-8 text)"

# OPTIONS probes on the same kind of connection: 200, nothing queued.
pr_sipp options 20 || fail "sipp: OPTIONS not all answered 200"
assert_eq 20 "$(pr_sipp_stat options 'SuccessfulCall(C)')" "OPTIONS answered 200"
assert_eq "$N" "$(pr_xlen apns)" "entries after the OPTIONS"

# The Push-Id a 202 carries is the body's id.
pr_msg "$T/one" id=push-id-check-1 prid="$(printf 'b2%.0s' $(seq 32))"
pr_expect_status 202 "$T/one" "MESSAGE with id push-id-check-1"
assert_eq push-id-check-1 "$(pr_header "$RESP" Push-Id)" "Push-Id header"
assert_eq $((N + 1)) "$(pr_xlen apns)" "entries after one more MESSAGE"
