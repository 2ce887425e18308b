#!/usr/bin/env bash
# test_quickstart.sh - the README's first command, deploy/quickstart.sh, on
# the build under test (--no-deps --no-build): a SIP MESSAGE over mutual TLS
# answered 202 and its toast delivered to the APNs sandbox with its Korean
# and emoji text intact, everything it started stopped again.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_quickstart

PR_BUILD_DIR=$PR_BIN bash "$PR_SRC/deploy/quickstart.sh" --no-deps --no-build >"$T/quickstart.out" 2>&1 ||
    fail "quickstart.sh failed:
$(tail -n 30 "$T/quickstart.out")"
grep -q "^SIP/2.0 202 Accepted" <(sed 's/^    < //; s/\r$//' "$T/quickstart.out") ||
    fail "no 202 in the quickstart's output"
pass "the edge's MESSAGE was answered 202"
grep -qF "OK: edge -> relay (202) -> Redis -> dispatcher -> APNs sandbox, text intact." "$T/quickstart.out" ||
    fail "the quickstart did not report the toast delivered intact"
pass "the toast reached the APNs sandbox with its text intact"
work=$(sed -n 's/^==> Demo PKI in \(.*\)\/pki .*/\1/p' "$T/quickstart.out")
[ -n "$work" ] || fail "the quickstart's work directory is not in its output"
[ ! -e "$work" ] || fail "the quickstart left its work directory $work behind"
pass "the quickstart removed its work directory"
pids=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$T/quickstart.out")
[ "$(echo "$pids" | wc -w)" -ge 3 ] || fail "the quickstart named fewer than three processes: $pids"
for pid in $pids; do
    ! kill -0 "$pid" 2>/dev/null || fail "the quickstart left process $pid running"
done
pass "the quickstart stopped redis-server, the sandbox and pushrelayd ($(echo $pids))"
