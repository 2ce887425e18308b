#!/usr/bin/env python3
"""gen-conf-man.py - writes pushrelay.conf(5) from its template and the
configuration table of README.md, so that every key's type, default and
meaning is written once (in the README) and the man page cannot drift.

    python3 man/gen-conf-man.py README.md man/pushrelay.conf.5.in OUT

The template's line "@KEYS@" becomes one tagged paragraph per table row.
The build runs this (CMakeLists.txt, target "man"); the tests render the
result and check it against the loader's schema (config/cfg_load.c).
"""
import re
import sys


def table_rows(readme):
    """The rows of the first table under '## Configuration'."""
    rows, in_section, in_table = [], False, False
    for line in open(readme, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("## "):
            if in_section:
                break
            in_section = line.strip() == "## Configuration"
            continue
        if not in_section:
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not in_table:
                in_table = True
                if [c.lower() for c in cells] != ["key", "type", "default", "meaning"]:
                    sys.exit("gen-conf-man: README configuration table header changed: %r" % cells)
                continue
            if set("".join(cells)) <= set("-: "):
                continue
            rows.append(cells)
        elif in_table:
            break
    if not rows:
        sys.exit("gen-conf-man: no configuration table in " + readme)
    return rows


def roff(text):
    """Markdown cell text to roff: `code` in bold, roff specials escaped."""
    text = text.replace("\\|", "|").replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]*)`", lambda m: "\\fB" + m.group(1) + "\\fR", text)
    text = text.replace("**", "")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def main():
    readme, template, out = sys.argv[1:4]
    body = []
    for key, typ, default, meaning in table_rows(readme):
        body.append(".TP")
        head = roff(key)
        if typ:
            head += " (" + roff(typ) + ")"
        body.append(head)
        body.append(roff(meaning) + ("" if meaning.endswith(".") else "."))
        if default:
            body.append(".br")
            body.append("Default: " + roff(default) + ".")
    page = open(template, encoding="utf-8").read()
    if "@KEYS@\n" not in page:
        sys.exit("gen-conf-man: no @KEYS@ line in " + template)
    page = page.replace("@KEYS@\n", "\n".join(body) + "\n")
    with open(out, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
