#!/usr/bin/env bash
# Connection limits: a client that connects and never starts TLS is dropped
# after handshake_timeout_s; one that trickles a request byte by byte never
# keeps its connection: it is dropped by idle_timeout_s at the latest (the
# listener may cut a partial request sooner, after handshake_timeout_s); one
# that goes quiet after a request is dropped at idle_timeout_s; no more than
# max_connections are served at once, and a freed slot serves again.
. "$(dirname "$0")/lib.sh"

export PR_HANDSHAKE_TIMEOUT_S=2 PR_IDLE_TIMEOUT_S=3 PR_MAX_CONNECTIONS=4
pr_boot listener

# between LOW HIGH VALUE WHAT
between() {
    python3 -c 'import sys; lo,hi,v=map(float,sys.argv[1:4]); sys.exit(0 if lo<=v<=hi else 1)' "$1" "$2" "$3" ||
        fail "$4: ${3}s, want between ${1}s and ${2}s"
    pass "$4 after ${3}s"
}

# TCP connect, no ClientHello.
t=$(pr_sipclient idle 15) || fail "silent client still connected after 15 s ($t)"
between 1.5 5 "$t" "silent client (handshake_timeout_s=2) dropped"

# TLS up, then a request that never ends, one byte every 0.5 s. The step
# divides the 2 s request deadline on purpose: bytes keep arriving at the
# very moment the deadline passes, so a listener whose timer a late byte can
# push back (and keep pushing) is caught here.
t=$(pr_sipclient trickle 20 0.5) || fail "trickling client still connected after 20 s ($t)"
between 1.5 6 "$t" "trickling client (handshake_timeout_s=2, idle_timeout_s=3) dropped"

# A served connection that goes quiet.
pr_msg "$T/opt" method=OPTIONS uri=sip:push@push.example.net
t=$(pr_sipclient sendidle "$T/opt" 20) || fail "idle connection still open after 20 s ($t)"
between 2.5 7 "$t" "idle connection after OPTIONS (idle_timeout_s=3) dropped"

# max_connections = 4: the fifth concurrent connection is not served.
mapfile -t got < <(pr_sipclient hold 5 1)
assert_eq "ok ok ok ok refused" "${got[*]}" "five concurrent connections with max_connections=4"
# Once the relay has seen them closed (its /metrics gauge says so), new
# connections are served again.
open_conns() {
    curl -sf "http://127.0.0.1:$MON_PORT/metrics" |
        awk '$1 == "pushrelay_federation_connections" { print $2; exit }'
}
none_open() { [ "$(open_conns)" = 0 ]; }
pr_wait_for 60 none_open || fail "connections still open after the clients closed: $(open_conns)"
pr_expect_status 200 "$T/opt" "OPTIONS after the connections closed"
mapfile -t got < <(pr_sipclient hold 4 0)
assert_eq "ok ok ok ok" "${got[*]}" "four concurrent connections again"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited"
