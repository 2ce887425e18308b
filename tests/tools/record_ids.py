"""record_ids.py - the push ids in a sandbox delivery record, one a line.

  record_ids.py RECORD.jsonl

Each record line is a JSON object whose "body" is the provider request's
JSON, carrying pushrelay's id at pr.id (FCM: message.data.pr_id). A line
still being written (the sandbox writes in batches) or one without an id is
skipped. A missing file prints nothing.
"""
import json
import sys

try:
    f = open(sys.argv[1], encoding="utf-8", errors="replace")
except FileNotFoundError:
    sys.exit(0)
with f:
    for line in f:
        try:
            r = json.loads(line)
            b = json.loads(r["body"])
            print(b["message"]["data"]["pr_id"] if r.get("provider") == "fcm" else b["pr"]["id"])
        except (ValueError, KeyError, TypeError):
            pass
