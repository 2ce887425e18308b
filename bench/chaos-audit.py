#!/usr/bin/env python3
"""chaos-audit.py - the audit of a bench/run-chaos.sh run, by push id.

Reads the run's work directory (written by run-chaos.sh):

  load-<name>.log   sipload --log: "<epoch ms> <push id> <token> <status|->"
                    per request (load-fcm.log is FCM, the others APNs)
  record.jsonl      the sandbox's delivery record: provider, token, ts_ms
  dead.json         the dead-letter stream (redis-cli --json XRANGE)
  faults.log        "<epoch ms> <what>" per announced event
  redis-kill9.ms    epoch ms of each Redis kill -9
  rss.log           "<epoch s> <role> <kB>" every 30 s
  stats.json        pushrelayctl stats --domain --json, once both roles stopped

asks Redis (--redis-port) for the outcome log of the accepted push ids that
were neither delivered nor dead letters (pr:outcome:<domain>:<id>, see
relay/outcome_log.h) to find the expired ones, and prints accepted, delivered, duplicates, dead letters by reason,
expired, lost, the seconds in which the listener answered 503, the relay's
own counters beside the audit's (informative: a process killed with -9
takes up to a second of unflushed increments with it), and RSS per role.
Every token in a run is unique, so (provider, token) names one push id. Exit status 1 when a MESSAGE answered 202 was lost (with --appendfsync
everysec, one answered in the 2 s before a Redis kill -9 is counted apart,
as Redis's documented fsync window, not as the relay's loss), when nothing
was accepted at all, or when the queue did not drain; 0 otherwise.
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys

FSYNC_WINDOW_MS = 2000  # appendfsync everysec: up to ~1 s unsynced, plus the fsync itself


def load_requests(d):
    """push id -> (provider, token, ms, status) of its answer."""
    reqs = {}
    for path in sorted(glob.glob(os.path.join(d, "load-*.log"))):
        provider = "fcm" if os.path.basename(path) == "load-fcm.log" else "apns"
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) != 4:
                    continue
                ms, pid, token, status = parts
                reqs[pid] = (provider, token, int(ms), status)
    return reqs


def load_record(d):
    """(provider, token) -> number of recorded deliveries."""
    seen = collections.Counter()
    path = os.path.join(d, "record.jsonl")
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                seen[(r.get("provider"), r.get("token"))] += 1
    return seen


def load_dead(d):
    """push id -> reason of its dead letter."""
    dead = {}
    path = os.path.join(d, "dead.json")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path) as f:
            entries = json.load(f)
        for _eid, fields in entries or []:
            if isinstance(fields, dict):
                kv = fields
            else:
                kv = dict(zip(fields[0::2], fields[1::2]))
            dead[kv.get("id", "")] = "%s (last status %s)" % (kv.get("reason", "?"),
                                                              kv.get("last_status", "?"))
    return dead


def load_pairs(path, conv=str):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split(None, 1)
                if len(parts) == 2:
                    out.append((conv(parts[0]), parts[1].strip()))
    return out


def load_counters(d):
    """counter name -> total, from stats.json ({} when absent or unreadable)."""
    try:
        with open(os.path.join(d, "stats.json")) as f:
            return {k: v.get("total", 0) for k, v in json.load(f).get("counters", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def outcomes_of(port, domain, ids):
    """push id -> its outcome in the relay's outcome log ("" when none),
    for 'ids', in one pipelined redis-cli call."""
    if not ids or port is None:
        return {}
    cmds = "".join("HGET pr:outcome:%s:%s outcome\n" % (domain, i) for i in ids)
    out = subprocess.run(["redis-cli", "-p", str(port)], input=cmds, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return {i: (out[k].strip() if k < len(out) else "") for k, i in enumerate(ids)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--appendfsync", default="always")
    ap.add_argument("--drained", default="yes")
    ap.add_argument("--redis-port", type=int)
    ap.add_argument("--domain", default="contoso.com")
    a = ap.parse_args()
    d = a.dir

    reqs = load_requests(d)
    record = load_record(d)
    dead = load_dead(d)
    kills = [int(x) for x in open(os.path.join(d, "redis-kill9.ms")).read().split()] \
        if os.path.exists(os.path.join(d, "redis-kill9.ms")) else []

    by_status = collections.Counter(r[3] for r in reqs.values())
    accepted = {pid: r for pid, r in reqs.items() if r[3] == "202"}
    delivered = {pid for pid, r in accepted.items() if record[(r[0], r[1])] > 0}
    dups = {pid: record[(r[0], r[1])] for pid, r in accepted.items() if record[(r[0], r[1])] > 1}
    dead_acc = {pid: dead[pid] for pid in accepted if pid in dead and pid not in delivered}
    outcomes = outcomes_of(a.redis_port, a.domain,
                           sorted(set(accepted) - delivered - set(dead_acc)))
    expired = {pid for pid, o in outcomes.items() if o == "expired"}
    lost = sorted(set(accepted) - delivered - set(dead_acc) - expired)
    in_window = []
    if a.appendfsync == "everysec":
        in_window = [pid for pid in lost
                     if any(k - FSYNC_WINDOW_MS <= accepted[pid][2] <= k for k in kills)]
    relay_lost = [pid for pid in lost if pid not in set(in_window)]
    # delivered although never answered 202: the answer was lost with a
    # killed listener or connection; an edge's retry would be deduplicated
    unacked_delivered = sum(1 for pid, r in reqs.items()
                            if r[3] != "202" and record[(r[0], r[1])] > 0)
    tokens_known = {(r[0], r[1]) for r in reqs.values()}
    strangers = sum(n for key, n in record.items() if key not in tokens_known)

    secs_503 = sorted({r[2] // 1000 for r in reqs.values() if r[3] == "503"})
    secs_unans = sorted({r[2] // 1000 for r in reqs.values() if r[3] == "-"})

    print()
    print("audit by push id")
    print("  requests sent          %d  (answers: %s)" % (
        len(reqs), ", ".join("%s: %d" % kv for kv in sorted(by_status.items()))))
    print("  accepted (202)         %d" % len(accepted))
    print("  delivered              %d" % len(delivered))
    print("  duplicates             %d  (push ids delivered more than once; %d extra deliveries)" % (
        len(dups), sum(n - 1 for n in dups.values())))
    kinds = collections.Counter(marker_kind(accepted[pid][1]) for pid in dups)
    if kinds:
        print("      by token: %s" % ", ".join("%s %d" % kv for kv in kinds.most_common()))
    print("  dead letters           %d" % len(dead_acc))
    for reason, n in collections.Counter(dead_acc.values()).most_common():
        print("      %6d  %s" % (n, reason))
    print("  expired                %d" % len(expired))
    if a.appendfsync == "everysec":
        print("  lost to fsync window   %d  (202 in the %d ms before a Redis kill -9, appendfsync everysec)"
              % (len(in_window), FSYNC_WINDOW_MS))
    print("  LOST                   %d  (accepted - (delivered | dead | expired)%s)" % (
        len(relay_lost), " - fsync window" if in_window else ""))
    print("  delivered without 202  %d  (answer lost with a killed listener or connection)"
          % unacked_delivered)
    if strangers:
        print("  deliveries of unknown tokens: %d" % strangers)
    print("  seconds with a 503     %d%s" % (len(secs_503), span(secs_503)))
    print("  seconds with requests left unanswered (listener killed) %d%s" % (
        len(secs_unans), span(secs_unans)))

    counters = load_counters(d)
    if counters:
        c = collections.defaultdict(int, counters)
        finals = c["delivered"] + c["dead_lettered"] + c["expired"] + c["token_dead"]
        print()
        print("the relay's counters (pushrelayctl stats --domain, both roles stopped cleanly)")
        print("  queued                 %d  (audit: accepted + delivered without 202 = %d)" % (
            c["queued"], len(accepted) + unacked_delivered))
        print("  final outcomes         %d  (delivered %d, dead_lettered %d, expired %d, token_dead %d)" % (
            finals, c["delivered"], c["dead_lettered"], c["expired"], c["token_dead"]))
        print("  queued - outcomes      %d  (increments a process killed with -9 had not flushed yet"
              " are gone with it)" % (c["queued"] - finals))

    rss = collections.defaultdict(list)
    for ts, rest in load_pairs(os.path.join(d, "rss.log"), int):
        role, kb = rest.split()
        rss[role].append((ts, int(kb)))
    if rss:
        print()
        print("RSS every 30 s, MiB (the role's process tree; the first sample is at the load's start)")
        for role in ("listener", "dispatcher", "redis", "sandbox"):
            xs = [kb for _, kb in rss.get(role, [])]
            if xs:
                print("  %-10s max %7.1f  samples %s" % (
                    role, max(xs) / 1024, " ".join("%.0f" % (x / 1024) for x in xs)))

    for pid in relay_lost[:20]:
        p, tok, ms, _ = accepted[pid]
        print("lost: %s %s token %s...%s answered 202 at %d, outcome log: %s" % (
            pid, p, tok[:8], tok[-6:], ms, outcomes.get(pid, "none")))
    if len(relay_lost) > 20:
        print("lost: ... %d more" % (len(relay_lost) - 20))

    bad = []
    if not accepted:
        bad.append("nothing was accepted: nothing was tested")
    if a.drained != "yes":
        bad.append("the queue did not drain in time")
    if relay_lost:
        bad.append("%d accepted MESSAGEs lost" % len(relay_lost))
    for why in bad:
        print("FAIL: " + why)
    return 1 if bad else 0


def marker_kind(token):
    """The sandbox behaviour a token asks for (tests/sandbox/README.md)."""
    if token.startswith("e"):
        return "answered %s first" % token[1:4]
    return {"c": "reset first", "b": "stalled first", "d": "slow (%s ms)" % token[1:5]}.get(
        token[0], "plain")


def span(secs):
    if not secs:
        return ""
    return "  (first at %s, last at %s UTC)" % (hms(secs[0]), hms(secs[-1]))


def hms(s):
    import time
    return time.strftime("%H:%M:%S", time.gmtime(s))


if __name__ == "__main__":
    sys.exit(main())
