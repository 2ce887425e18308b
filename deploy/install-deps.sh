#!/usr/bin/env bash
# install-deps.sh - installs every Debian 12 package pushrelay needs to build,
# test and run. Idempotent (apt-get skips what is installed), quiet and
# non-interactive; run as root, or as a user with sudo.
#
#   bash deploy/install-deps.sh
#
# It does not leave services running: Debian starts redis-server on install,
# and the tests start their own private Redis, so the system one is stopped.
set -euo pipefail

PACKAGES=(
    # build
    build-essential cmake pkg-config
    libevent-dev libssl-dev libnghttp2-dev libjansson-dev libhiredis-dev libconfig-dev
    # unit tests, sanitizers, fuzzing (libFuzzer ships in libclang-rt-14-dev)
    libcmocka-dev clang libclang-rt-14-dev
    # run: the queue, and the system CA store for apps without ca_file
    redis-server ca-certificates
    # real peers for integration tests, the quickstart and the benchmark:
    # sipp (sip-tester) as the edge through stunnel, curl and h2load
    # (nghttp2-client) against the sandbox
    sip-tester stunnel4 nghttp2-client curl
    # test and script tooling: certificates and keys, helpers
    openssl python3
    # the Debian package (dpkg-buildpackage, lintian), man pages (man-db
    # renders them in the tests), promtool for the alerting rules
    debhelper dpkg-dev fakeroot lintian man-db prometheus
)

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "install-deps.sh: run as root (or install sudo)" >&2
        exit 1
    fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "install-deps.sh: all ${#PACKAGES[@]} packages already installed"
fi

# The package starts a system-wide Redis on port 6379; pushrelay's tests and
# quickstart run their own. Stop it so nothing is left running.
if command -v service >/dev/null 2>&1; then
    $SUDO service redis-server stop >/dev/null 2>&1 || true
    # prometheus comes for promtool only; its server is not wanted either.
    $SUDO service prometheus stop >/dev/null 2>&1 || true
fi
