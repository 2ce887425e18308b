#!/usr/bin/env bash
# test_pkg_man.sh - the man pages pushrelayd(8), pushrelayctl(8),
# pushrelay.conf(5) and pushrelay-sandbox(1):
#   - each renders with `MANWIDTH=80 man --warnings -l` and no warning;
#   - pushrelay.conf(5), generated from README.md's configuration table,
#     names every key of the loader's schema (config/cfg_load.c) and no key
#     the schema lacks;
#   - pushrelayd(8) and pushrelay-sandbox(1) name every option in their
#     programs' option tables, pushrelayctl(8) every command and every
#     --option of relay/ctl_*.c.
# Each check refuses to pass when it found nothing to compare.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_pkg_man

command -v man >/dev/null || fail "man not found (Debian package man-db)"
# A fresh page from the sources under test, not a build that may be older.
python3 "$PR_SRC/man/gen-conf-man.py" "$PR_SRC/README.md" "$PR_SRC/man/pushrelay.conf.5.in" \
    "$T/pushrelay.conf.5" || fail "gen-conf-man.py failed"

for page in "$PR_SRC/man/pushrelayd.8" "$PR_SRC/man/pushrelayctl.8" "$T/pushrelay.conf.5" \
    "$PR_SRC/man/pushrelay-sandbox.1"; do
    name=$(basename "$page")
    MANWIDTH=80 man --warnings -l "$page" >"$T/$name.txt" 2>"$T/$name.err" || fail "$name: man failed: $(cat "$T/$name.err")"
    [ ! -s "$T/$name.err" ] || fail "$name renders with warnings:
$(cat "$T/$name.err")"
    grep -q '^NAME' "$T/$name.txt" && grep -q '^EXIT STATUS\|^KEYS' "$T/$name.txt" ||
        fail "$name: rendered page lacks its sections"
    pass "$name renders without warnings ($(wc -l <"$T/$name.txt") lines)"
done

python3 - "$PR_SRC/config/cfg_load.c" "$T/pushrelay.conf.5" <<'PY' || fail "pushrelay.conf(5) and the loader's schema disagree"
import re, sys
src = open(sys.argv[1]).read()

# --- the schema: key tables, and the groups that name them
tables = {m.group(1): m.group(2) for m in
          re.finditer(r"static const struct cfg__key (\w+)\[\] = \{(.*?)\n\};", src, re.S)}
groups = dict(re.findall(r"static const struct cfg__group (\w+) = GROUP\((\w+)\);", src))
# The list of apps is read with app_group (cfg__read_group(..., &app_group, ...)).
list_group = {"T_APPS": "app_group"}

def walk(table, prefix, out):
    for m in re.finditer(r'\{\s*"(\w+)",\s*(T_\w+)([^{}]*)\}', tables[table]):
        name, typ, rest = m.groups()
        path = prefix + name
        out.add(path)
        sub = re.search(r"\.sub\s*=\s*&(\w+)", rest)
        if typ == "T_GROUP":
            walk(groups[sub.group(1)], path + ".", out)
        elif typ in list_group:
            walk(groups[list_group[typ]], path + ".[].", out)

schema = set()
walk("root_keys", "", schema)
# A group key is documented by its members.
schema -= {k for k in schema if any(o.startswith(k + ".") and not o.startswith(k + ".[].") for o in schema)}

# --- the man page: the tag line after each .TP in KEYS
page = open(sys.argv[2]).read()
keys_sec = page.split(".SH KEYS", 1)[1].split("\n.SH ", 1)[0]
doc = set()
lines = keys_sec.split("\n")
for i, l in enumerate(lines):
    if l == ".TP":
        tag = re.sub(r"\\f[BIRP]", "", lines[i + 1])
        tag = re.sub(r"\s*\(.*\)$", "", tag).replace("\\-", "-")
        first = None
        for k in [k.strip() for k in tag.split(",")]:
            if first is None:
                first = k
            elif "." not in k and "." in first:   # "apps.[].team_id, topic"
                k = first.rsplit(".", 1)[0] + "." + k
            doc.add(k)
print("schema: %d keys; pushrelay.conf(5): %d keys" % (len(schema), len(doc)))
if len(schema) < 30 or len(doc) < 30:
    sys.exit("too few keys found: schema %d, man page %d" % (len(schema), len(doc)))
bad = False
for k in sorted(schema - doc):
    print("in the schema, not in pushrelay.conf(5) (add a row to README.md's table):", k); bad = True
for k in sorted(doc - schema):
    print("in pushrelay.conf(5), not in the schema:", k); bad = True
sys.exit(1 if bad else 0)
PY
pass "pushrelay.conf(5) lists exactly the loader's keys"

python3 - "$PR_SRC" <<'PY' || fail "a flag or command is not in its man page"
import glob, re, sys
src = sys.argv[1]
bad, n = False, 0
def page(name):
    return open("%s/man/%s" % (src, name)).read().replace("\\-", "-")
d = page("pushrelayd.8")
main = open(src + "/relay/pushrelayd.c").read()
for opt in re.findall(r'\{\s*"([a-z-]+)",\s*(?:no|required|optional)_argument', main):
    n += 1
    if "--" + opt not in d:
        print("pushrelayd(8) lacks --" + opt); bad = True
sb = page("pushrelay-sandbox.1")
for opt in re.findall(r'\{\s*"([a-z-]+)",\s*(?:no|required|optional)_argument',
                      open(src + "/tests/sandbox/sandbox_main.c").read()):
    n += 1
    if "--" + opt not in sb:
        print("pushrelay-sandbox(1) lacks --" + opt); bad = True
c = page("pushrelayctl.8")
ctl = open(src + "/relay/pushrelayctl.c").read()
for cmd in re.findall(r'\{\s*"([a-z-]+)",\s*ctl_\w+,', ctl):
    n += 1
    if not re.search(r"^\.B[IR]? \"?%s" % re.escape(cmd), c, re.M):
        print("pushrelayctl(8) lacks the command " + cmd); bad = True
for f in sorted(glob.glob(src + "/relay/ctl_*.c")):
    for opt in sorted(set(re.findall(r'"(--[a-z][a-z-]+)"', open(f).read()))):
        n += 1
        if opt not in c:
            print("pushrelayctl(8) lacks %s (%s)" % (opt, f.rsplit("/", 1)[1])); bad = True
print("%d flags and commands checked" % n)
if n < 25:
    sys.exit("too few flags found")
sys.exit(1 if bad else 0)
PY
pass "every pushrelayd option and pushrelayctl command and flag is documented"
