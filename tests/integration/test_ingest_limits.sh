#!/usr/bin/env bash
# Connection limits: a client that connects and never starts TLS is dropped
# by handshake_timeout_s; one that trickles a request byte by byte never
# keeps its connection: it is dropped by idle_timeout_s at the latest (the
# listener may cut a partial request sooner, after handshake_timeout_s); one
# that goes quiet after a request is dropped by idle_timeout_s; no more than
# max_connections are served at once, and a freed slot serves again.
. "$(dirname "$0")/lib.sh"

export PR_HANDSHAKE_TIMEOUT_S=2 PR_IDLE_TIMEOUT_S=3 PR_MAX_CONNECTIONS=4
pr_boot listener

# Each limit is proven by the relay's own account of why it closed (its log
# line), polled with a generous ceiling; how long a busy machine took is
# printed, never judged. A client waits up to 60 s for the close.
logged() { grep -cE -- "$1" "$T/relay.log" || true; }
# dropped_by PATTERN WHAT MODE ARGS...: runs `pr_sipclient MODE ARGS...`, which
# must see the relay close the connection; the relay must then have logged
# one more line matching PATTERN (the reason it closed).
dropped_by() {
    local pat=$1 what=$2 before t
    shift 2
    before=$(logged "$pat")
    t=$(pr_sipclient "$@") || fail "$what: still connected after 60 s ($t)"
    more() { [ "$(logged "$pat")" -gt "$before" ]; }
    pr_wait_for 60 more || fail "$what: closed after ${t}s without the relay logging /$pat/"
    pass "$what after ${t}s"
}

# TCP connect, no ClientHello.
dropped_by 'TLS handshake refused: not completed in 2 s' \
    "silent client (handshake_timeout_s=2) dropped" idle 60

# TLS up, then a request that never ends, one byte every 0.5 s. The step
# divides the 2 s request deadline on purpose: bytes keep arriving at the
# very moment the deadline passes, so a listener whose timer a late byte can
# push back (and keep pushing) never closes and is caught here.
dropped_by 'closing: (request|idle) timeout' \
    "trickling client (handshake_timeout_s=2, idle_timeout_s=3) dropped" trickle 60 0.5

# A served connection that goes quiet.
pr_msg "$T/opt" method=OPTIONS uri=sip:push@push.example.net
dropped_by 'closing: idle timeout' "idle connection after OPTIONS (idle_timeout_s=3) dropped" sendidle "$T/opt" 60

# max_connections = 4: the fifth concurrent connection is not served.
# A refused connection is closed at accept (the client sees it at once, no
# timeout decides it), and the relay logs the refusal.
REFUSED='refused: 4 connections open \(max_connections\)'
mapfile -t got < <(pr_sipclient hold 5 1)
assert_eq "ok ok ok ok refused" "${got[*]}" "five concurrent connections with max_connections=4"
assert_eq 1 "$(logged "$REFUSED")" "refusals the relay logged"
# Once the relay has seen them closed (its /metrics gauge says so), new
# connections are served again.
open_conns() { pr_metric pushrelay_federation_connections; }
none_open() { [ "$(open_conns)" = 0 ]; }
pr_wait_for 60 none_open || fail "connections still open after the clients closed: $(open_conns)"
pr_expect_status 200 "$T/opt" "OPTIONS after the connections closed"
mapfile -t got < <(pr_sipclient hold 4 0)
assert_eq "ok ok ok ok" "${got[*]}" "four concurrent connections again"
kill -0 "$RELAY_PID" 2>/dev/null || fail "pushrelayd exited"
