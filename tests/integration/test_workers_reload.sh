#!/usr/bin/env bash
# test_workers_reload.sh - SIGHUP to the supervisor of two workers:
#
#   * a file that does not load is refused once, by the supervisor, and no
#     worker reloads (none is even signalled, so none refuses either);
#   * a good file is forwarded and every worker reloads it; no worker is
#     restarted and MESSAGEs are still accepted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/workers_lib.sh"

wk_boot 2
WORKERS=$(wk_pids | sort | tr '\n' ' ')
count() { grep -c -- "$1" "$T/relay.log" || true; }
count_is() { [ "$(count "$1")" = "$2" ]; }

echo "== SIGHUP with a broken file"
cp "$T/relay.conf" "$T/good.conf"
echo 'federation = { this is not libconfig' >>"$T/relay.conf"
kill -HUP "$RELAY_PID"
pr_wait_for 60 count_is "supervisor: reload refused, no worker reloads" 1 ||
    fail "the supervisor did not refuse the broken file"
pass "supervisor: $(grep -o 'reload refused, no worker reloads: .*' "$T/relay.log")"

echo "== SIGHUP with a good file (log level debug)"
sed 's/^log_level = .*/log_level = "debug";/' "$T/good.conf" >"$T/relay.conf"
kill -HUP "$RELAY_PID"
pr_wait_for 60 count_is "configuration reloaded from .* (worker" 2 ||
    fail "not every worker reloaded: $(grep 'configuration reloaded' "$T/relay.log")"
for k in 0 1; do
    assert_eq 1 "$(count "configuration reloaded from .* (worker $k)")" "reloads logged by worker $k"
done
# Signals are delivered in order: had the broken file reached a worker, its
# refusal would be logged before the reload above.
assert_eq 1 "$(count "reload refused")" "refusals logged (the supervisor's only)"
assert_eq 1 "$(count "SIGHUP forwarded to 2 workers")" "SIGHUPs the supervisor forwarded"
assert_eq "$WORKERS" "$(wk_pids | sort | tr '\n' ' ')" "worker pids (nobody restarted)"

pr_msg "$T/after.sip"
pr_expect_status 202 "$T/after.sip" "a MESSAGE after the reload"
assert_eq ready "$(wk_readyz)" "/readyz"
