#!/usr/bin/env bash
# test_ops_reload.sh - SIGHUP reloads pushrelayd's configuration: a new
# log_level, a new app and a new dedup window take effect at once (a
# MESSAGE for the new app's pn-param gets 202 instead of 404, and is
# delivered; a new MESSAGE's dedup mark lives for the new window); a broken file is
# refused with its file:line reason, and the relay keeps serving with the
# configuration it had.
. "$(dirname "$0")/lib.sh"
PR_WHAT=test_ops_reload

export PR_LOG_LEVEL=info
pr_boot --sandbox all

logged() { grep -c -- "$1" "$T/relay.log" || true; }
hup_and_wait() {  # hup_and_wait PATTERN: SIGHUP, then wait for one more log line matching PATTERN
    local before
    before=$(logged "$1")
    kill -HUP "$RELAY_PID"
    for _ in $(seq $((PR_WAIT_S * 10))); do
        [ "$(logged "$1")" -gt "$before" ] && return 0
        sleep 0.1
    done
    fail "no '$1' in relay.log ${PR_WAIT_S}s after SIGHUP"
}

# --- before: info level (no debug lines), and no app for pn-param new-project
pr_msg "$T/new.sip" provider=fcm param=new-project prid=reload-token-1
pr_expect_status 404 "$T/new.sip" "MESSAGE for the not yet configured app"
pr_msg "$T/old.sip" provider=fcm param=example-lync prid=reload-token-0
pr_expect_status 202 "$T/old.sip" "MESSAGE for a configured app"
assert_eq 0 "$(logged ' debug ')" "debug lines at log_level info"

# --- reload with log_level debug and a new FCM app
python3 - "$T/relay.conf" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r'log_level = "[a-z]+";', 'log_level = "debug";', s)
s = re.sub(r'dedup_window_s = [0-9]+;', 'dedup_window_s = 4321;', s)
app = s[s.index('{ id = "lync-android"'):]
app = app[:app.index("},") + 1]
new = app.replace('"lync-android"', '"new-android"').replace('"example-lync"', '"new-project"')
s = s.replace(app + ",", app + ",\n  " + new + ",", 1)
open(p, "w").write(s)
PY
grep -q 'new-android' "$T/relay.conf" || fail "test setup: new app not written"
grep -q 'dedup_window_s = 4321;' "$T/relay.conf" || fail "test setup: dedup window not written"
hup_and_wait "configuration reloaded"
pass "SIGHUP reloaded the configuration"
pr_msg "$T/window.sip" provider=fcm param=example-lync prid=reload-token-w id=reload-window-1
pr_expect_status 202 "$T/window.sip" "MESSAGE after the reload"
ttl=$(rcli TTL "$(pr_qkey "$(pr_shard_of fcm reload-token-w)" dedup:contoso.com:reload-window-1)")
[ "$ttl" -gt 300 ] && [ "$ttl" -le 4321 ] ||
    fail "the dedup mark of a MESSAGE after the reload lives ${ttl}s, not the new 4321 s window"
pass "the new dedup window took effect (mark TTL ${ttl}s)"
pr_expect_status 202 "$T/new.sip" "MESSAGE for the new app after reload"
pr_wait_for 60 grep -q '/v1/projects/new-project/messages:send' "$T/sandbox.jsonl" ||
    fail "the new app's notification was not delivered"
pass "the new app's notification was delivered"
[ "$(logged ' debug ')" -gt 0 ] || fail "no debug lines after reloading with log_level debug"
pass "log_level debug took effect"

# --- a broken file: refused with file:line, the running configuration keeps serving
cp "$T/relay.conf" "$T/relay.conf.good"
printf 'no_such_key = 1;\n' >>"$T/relay.conf"
hup_and_wait "reload refused"
grep "reload refused" "$T/relay.log" | tail -n 1 | grep -q "relay.conf:[0-9]*" ||
    fail "the refusal does not name file:line: $(grep 'reload refused' "$T/relay.log" | tail -n 1)"
pass "the refusal names file:line"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited on a broken reload"
pr_msg "$T/new2.sip" provider=fcm param=new-project prid=reload-token-2
pr_expect_status 202 "$T/new2.sip" "MESSAGE for the new app after the refused reload"
pr_expect_status 202 "$T/old.sip" "MESSAGE for an old app after the refused reload"
d0=$(logged ' debug ')
pr_expect_status 202 "$T/new2.sip" "repeat (dedup) after the refused reload"
[ "$(logged ' debug ')" -gt "$d0" ] || fail "log_level fell back after the refused reload"
pass "still at log_level debug"

# --- a broken value too (not just an unknown key), then the good file again
cp "$T/relay.conf.good" "$T/relay.conf"
sed -i 's/max_in_flight = [0-9]*/max_in_flight = -5/' "$T/relay.conf"
hup_and_wait "reload refused"
pr_expect_status 202 "$T/old.sip" "serving after a refused bad value"
cp "$T/relay.conf.good" "$T/relay.conf"
hup_and_wait "configuration reloaded"
pr_msg "$T/new3.sip" provider=fcm param=new-project prid=reload-token-3
pr_expect_status 202 "$T/new3.sip" "MESSAGE after reloading the good file again"

echo "test_ops_reload: all passed"
