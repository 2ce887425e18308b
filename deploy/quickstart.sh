#!/usr/bin/env bash
# quickstart.sh - see pushrelay work end to end on one machine (Debian 12):
#
#   bash deploy/quickstart.sh [--no-deps] [--no-build]
#
# It installs the Debian packages (deploy/install-deps.sh; --no-deps skips
# this), builds into build/ (PR_BUILD_DIR; --no-build uses the binaries
# already there, as tests/integration/test_quickstart.sh does), then in a
# private work directory:
#   1. makes a demo PKI: a CA, the relay's server certificate and a client
#      certificate for the edge edge.contoso.com;
#   2. starts a private redis-server, pushrelay-sandbox playing APNs, and
#      pushrelayd --role all, all on free loopback ports;
#   3. enables push for contoso.com from edge.contoso.com (pushrelayctl);
#   4. sends one SIP MESSAGE over mutual TLS as the edge (openssl s_client),
#      with Korean and emoji text;
#   5. waits until the sandbox has recorded the APNs delivery, then prints
#      the SIP response and the delivered toast;
# and stops everything it started. Exit 0 when the toast arrived intact.
# PR_KEEP=1 keeps the work directory (config, logs, PKI) for a look around.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PR_BUILD_DIR:-$SRC/build}

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nquickstart: %s\n' "$*" >&2; exit 1; }

DEPS=1 BUILD_IT=1
for arg in "$@"; do
    case $arg in
    --no-deps) DEPS= ;;
    --no-build) BUILD_IT= ;;
    *) die "unknown option $arg (usage: $0 [--no-deps] [--no-build])" ;;
    esac
done

if [ -n "$DEPS" ]; then
    say "Installing Debian packages (deploy/install-deps.sh)"
    bash "$SRC/deploy/install-deps.sh" || die "installing packages failed (run as root or with sudo)"
fi

if [ -n "$BUILD_IT" ]; then
    say "Building into $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
        die "cmake configure failed (see above)"
    cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" \
        --target pushrelayd pushrelayctl pushrelay-sandbox >"$BUILD/quickstart-build.log" 2>&1 ||
        { tail -n 40 "$BUILD/quickstart-build.log" >&2; die "build failed; full log in $BUILD/quickstart-build.log"; }
fi
for b in pushrelayd pushrelayctl pushrelay-sandbox; do
    [ -x "$BUILD/$b" ] || die "$BUILD/$b was not built"
done

# The integration-test helpers start and stop processes on free loopback
# ports and clean up on exit, pass or fail.
export PR_BIN=$BUILD PR_SRC=$SRC PR_WHAT=quickstart PR_LOG_LEVEL=info
# The demo needs one app: lync-ios on APNs (the sandbox).
export PR_APPS=apns
# shellcheck source=../tests/integration/lib.sh
. "$SRC/tests/integration/lib.sh"
trap 'echo; echo "quickstart: interrupted" >&2; exit 130' INT TERM

say "Demo PKI in $T/pki (CA, push.example.net server, edge.contoso.com client)"
pr_gen_certs
pr_gen_edge edge.contoso.com

say "Starting redis-server, pushrelay-sandbox (as APNs), pushrelayd --role all"
pr_start_redis
echo "    redis-server        127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"
# --no-markers: a random token may start like one of the sandbox's
# scripted-failure markers (tests/sandbox/sb_behaviour.h).
pr_start_sandbox --no-markers
echo "    pushrelay-sandbox   127.0.0.1:$SANDBOX_PORT (pid $SANDBOX_PID), records to $T/sandbox.jsonl"
pr_write_config "$T/relay.conf"
"$PR_BIN/pushrelayd" -c "$T/relay.conf" --check-config >/dev/null 2>&1 ||
    die "pushrelayd refused the generated config $T/relay.conf: $("$PR_BIN/pushrelayd" -c "$T/relay.conf" --check-config 2>&1 | head -n 3)"
pr_start_relay all
echo "    pushrelayd          SIP/TLS 127.0.0.1:$SIP_PORT (pid $RELAY_PID), config $T/relay.conf"

say "pushrelayctl enable-push --domain contoso.com --edge-fqdn edge.contoso.com --apns"
pr_enable contoso.com edge.contoso.com --apns
pr_ctl show-push --domain contoso.com | sed 's/^/    /'

TOKEN=$(openssl rand -hex 32)
TITLE='김민수'
TEXT='회의가 5분 후에 시작합니다 ⏰🎉'
PUSH_ID=quickstart-$(openssl rand -hex 4)
say "Sending a SIP MESSAGE over mutual TLS as edge.contoso.com (openssl s_client)"
pr_msg "$T/message.sip" id="$PUSH_ID" prid="$TOKEN" domain=contoso.com \
    body="{\"id\":\"$PUSH_ID\",\"event\":\"im\",\"from\":\"sip:minsu.kim@contoso.com\",\"to\":\"sip:bob@contoso.com\",\"title\":\"$TITLE\",\"body\":\"$TEXT\",\"badge\":1,\"sound\":\"default\",\"ttl\":60,\"priority\":\"high\"}"
sed 's/\r$//; s/^/    > /' "$T/message.sip"; echo
# The edge's side: send, wait for the whole answer (its blank line), hang up.
mkfifo "$T/edge.in"
openssl s_client -connect "127.0.0.1:$SIP_PORT" -servername push.example.net \
    -cert "$T/pki/edge-edge.contoso.com.pem" -key "$T/pki/edge-edge.contoso.com.key" \
    -CAfile "$T/pki/ca.pem" -verify_return_error -quiet -no_ign_eof \
    <"$T/edge.in" >"$T/response.sip" 2>"$T/s_client.log" &
EDGE_PID=$!
pr_track "$EDGE_PID"
exec 3>"$T/edge.in"
cat "$T/message.sip" >&3
answered() { grep -q $'^\r$' "$T/response.sip"; }
answered_or_gone() { answered || ! kill -0 "$EDGE_PID"; }
pr_wait_for "$PR_WAIT_S" answered_or_gone || true
exec 3>&-
wait "$EDGE_PID" 2>/dev/null || true
answered ||
    die "no SIP response within $PR_WAIT_S s (TLS: $(tail -n 2 "$T/s_client.log" | tr '\n' ' '))"
say "SIP response"
sed 's/\r$//; s/^/    < /' "$T/response.sip"
STATUS=$(pr_status "$(cat "$T/response.sip")")
[ "$STATUS" = 202 ] || die "the relay answered $STATUS, not 202 Accepted"

say "Waiting for the sandbox to record the APNs delivery"
pr_wait_for "$PR_WAIT_S" grep -q "$TOKEN" "$T/sandbox.jsonl" ||
    die "no delivery for the token within $PR_WAIT_S s (dispatcher log: $T/relay.log)"
say "Delivered toast (as recorded by the sandbox)"
grep -m1 "$TOKEN" "$T/sandbox.jsonl" | python3 -c '
import json, sys
rec = json.loads(sys.stdin.read())
def unwrap(v):
    """Payloads may be recorded as JSON text; show them as JSON."""
    if isinstance(v, str) and v[:1] in "{[":
        try: return unwrap(json.loads(v))
        except ValueError: return v
    if isinstance(v, dict): return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list): return [unwrap(x) for x in v]
    return v
out = json.dumps(unwrap(rec), indent=2, ensure_ascii=False)
print("\n".join("    " + l for l in out.splitlines()))
for want in sys.argv[1:]:
    if want not in out:
        sys.exit("quickstart: the delivered toast lacks %r" % want)
' "$TITLE" "$TEXT" || die "the toast did not arrive intact"

say "OK: edge -> relay (202) -> Redis -> dispatcher -> APNs sandbox, text intact."
echo "    Next: README.md (configuration, commands), bash deploy/test.sh (the tests)."
[ -n "${PR_KEEP:-}" ] && echo "    Work directory kept: $T"
echo "    Stopping everything the quickstart started."
