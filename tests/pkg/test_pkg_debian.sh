#!/usr/bin/env bash
# test_pkg_debian.sh - the Debian package, end to end, on this machine:
#   1. `dpkg-buildpackage -us -uc -b` on a copy of the tree builds
#      pushrelay and pushrelay-sandbox;
#   2. lintian reports no error;
#   3. the packages install (twice: the second run is an upgrade over the
#      installed conffile and generated files): the pushrelay system user
#      exists, /etc/pushrelay/pushrelay.conf is a conffile readable by that
#      user only, and `pushrelayd --check-config` passes on it run as that
#      user; under a running systemd, pushrelayd.service is active;
#      the units pass `systemd-analyze verify`; the installed man pages render;
#   4. purge leaves nothing: no files, no unit links, no statoverride.
#
# Slow (a package build) and it changes the machine (installs, then purges,
# as root), so it is not a ctest test: deploy/test.sh runs it once, in the
# optimised pass. It refuses to run where a pushrelay package is installed.
#
#   bash tests/pkg/test_pkg_debian.sh
set -euo pipefail
PR_SRC=${PR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export PR_SRC PR_BIN=${PR_BIN:-$PR_SRC/build.d/release}   # lib.sh wants both; no binary of PR_BIN is used
. "$PR_SRC/tests/integration/lib.sh"
PR_WHAT=test_pkg_debian

[ "$(id -u)" = 0 ] || fail "run as root: the test installs and purges the package (deploy/test.sh: PR_SKIP_PKG=1 skips it)"
for tool in dpkg-buildpackage dh lintian fakeroot man; do
    command -v "$tool" >/dev/null || fail "$tool not found (deploy/install-deps.sh installs it)"
done
for p in pushrelay pushrelay-sandbox; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
        fail "package $p is on this machine already; this test would purge it"
    fi
done

INSTALLED=
purge() { dpkg --purge pushrelay pushrelay-sandbox >>"$T/purge.log" 2>&1; }
on_exit() {
    local rc=$?
    [ -z "$INSTALLED" ] || purge || true
    (exit "$rc")
    pr_cleanup
}
trap on_exit EXIT

# --- 1. build, from a copy: dpkg-buildpackage writes into the tree and beside it
version=$(cd "$PR_SRC" && dpkg-parsechangelog -S Version)
src="$T/build/pushrelay-$version"
mkdir -p "$src"
(cd "$PR_SRC" && tar --exclude=./build.d --exclude=./.git --exclude='./obj-*' --exclude=./debian/.debhelper \
    --exclude=./debian/tmp -cf - .) | tar -xf - -C "$src"
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 ||
    { tail -n 40 "$T/build.log"; fail "dpkg-buildpackage failed"; }
arch=$(dpkg --print-architecture)
deb="$T/build/pushrelay_${version}_$arch.deb"
sdeb="$T/build/pushrelay-sandbox_${version}_$arch.deb"
[ -f "$deb" ] && [ -f "$sdeb" ] || fail "packages not built: $(ls "$T/build")"
dpkg-deb -c "$deb" >"$T/contents.txt"
for f in ./usr/bin/pushrelayd ./usr/bin/pushrelayctl ./lib/systemd/system/pushrelayd.service \
         ./lib/systemd/system/pushrelayd@.service ./etc/pushrelay/pushrelay.conf \
         ./usr/share/man/man8/pushrelayd.8.gz ./usr/share/man/man8/pushrelayctl.8.gz \
         ./usr/share/man/man5/pushrelay.conf.5.gz ./usr/share/doc/pushrelay/examples/redis.conf \
         ./usr/share/pushrelay/monitoring/pushrelay-alerts.yml; do
    grep -q " $f\$" "$T/contents.txt" || fail "pushrelay lacks $f"
done
dpkg-deb -c "$sdeb" >"$T/contents-sandbox.txt"
grep -q ' ./usr/bin/pushrelay-sandbox$' "$T/contents-sandbox.txt" || fail "pushrelay-sandbox lacks its binary"
if grep -q 'pushrelay-sandbox' "$T/contents.txt"; then fail "the sandbox is in the pushrelay package"; fi
dpkg-deb -I "$deb" conffiles >"$T/conffiles.txt"
grep -qx '/etc/pushrelay/pushrelay.conf' "$T/conffiles.txt" || fail "pushrelay.conf is not a conffile"
pass "dpkg-buildpackage built pushrelay and pushrelay-sandbox $version"

# --- 2. lintian
lintian --fail-on error "$T/build/pushrelay_${version}_$arch.changes" >"$T/lintian.log" 2>&1 ||
    { cat "$T/lintian.log"; fail "lintian reports errors"; }
pass "lintian: no errors ($(grep -c '^W:' "$T/lintian.log" || true) warnings)"

# --- 3. install, twice
for round in install upgrade; do
    INSTALLED=1
    dpkg -i "$deb" "$sdeb" >>"$T/install.log" 2>&1 || { tail -n 30 "$T/install.log"; fail "dpkg -i ($round) failed"; }
    [ "$(dpkg-query -W -f='${Status}' pushrelay)" = "install ok installed" ] || fail "pushrelay not installed ($round)"
    getent passwd pushrelay | grep -q ':/usr/sbin/nologin$' || fail "no pushrelay system user: $(getent passwd pushrelay || true)"
    [ "$(id -u pushrelay)" -lt 1000 ] || fail "pushrelay is not a system user"
    [ "$(stat -c '%U:%G %a' /etc/pushrelay/pushrelay.conf)" = "root:pushrelay 640" ] ||
        fail "pushrelay.conf: $(stat -c '%U:%G %a' /etc/pushrelay/pushrelay.conf)"
    [ "$(stat -c '%U:%G %a' /etc/pushrelay/tls/relay.key)" = "root:pushrelay 640" ] ||
        fail "relay.key: $(stat -c '%U:%G %a' /etc/pushrelay/tls/relay.key)"
    runuser -u pushrelay -- /usr/bin/pushrelayd -c /etc/pushrelay/pushrelay.conf --check-config >"$T/check.log" 2>&1 ||
        fail "pushrelayd --check-config on the installed config, as pushrelay: $(cat "$T/check.log")"
    pass "$round: installed; pushrelayd --check-config passes as user pushrelay"
done
# The unit is enabled on install (a link whether or not systemd runs).
[ -L /etc/systemd/system/multi-user.target.wants/pushrelayd.service ] || fail "pushrelayd.service not enabled"
[ ! -e /etc/systemd/system/multi-user.target.wants/pushrelay-sandbox.service ] || fail "the sandbox unit is enabled"
if [ -d /run/systemd/system ]; then
    active() { systemctl is-active --quiet pushrelayd.service; }
    pr_wait_for 60 active || fail "pushrelayd.service is not active: $(systemctl status pushrelayd.service --no-pager || true)"
    pass "pushrelayd.service is active under systemd"
else
    echo "note: systemd is not running here; the --check-config run above stands for the start"
fi
systemd-analyze verify /lib/systemd/system/pushrelayd.service /lib/systemd/system/pushrelayd@listener.service \
    /lib/systemd/system/pushrelay-sandbox.service >"$T/verify.log" 2>&1 || true
# Only complaints about the units themselves count: a container lacks other units systemd-analyze loads.
if grep -E '^(/lib/systemd/system/)?pushrelay[^ :]*\.service:' "$T/verify.log"; then
    fail "systemd-analyze verify found errors in the units"
fi
for page in pushrelayd pushrelayctl pushrelay.conf pushrelay-sandbox; do
    out=$(MANWIDTH=80 man --warnings "$page" 2>&1 >/dev/null) || fail "man $page: not installed"
    [ -z "$out" ] || fail "man $page: $out"
done
pass "units verify; installed man pages render"

# --- 4. purge
purge || { cat "$T/purge.log"; fail "dpkg --purge failed"; }
INSTALLED=
left=()
for f in /etc/pushrelay /usr/bin/pushrelayd /usr/bin/pushrelayctl /usr/bin/pushrelay-sandbox \
         /lib/systemd/system/pushrelayd.service /lib/systemd/system/pushrelayd@.service \
         /etc/systemd/system/multi-user.target.wants/pushrelayd.service /usr/share/doc/pushrelay \
         /usr/share/pushrelay; do
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done
[ "${#left[@]}" -eq 0 ] || fail "purge left: ${left[*]}"
dpkg-statoverride --list >"$T/statoverride.txt"
if grep -q pushrelay "$T/statoverride.txt"; then fail "purge left a statoverride"; fi
if dpkg-query -W -f='${Status}\n' pushrelay 2>/dev/null | grep -qv 'not-installed'; then
    fail "dpkg still knows pushrelay: $(dpkg-query -W -f='${Status}' pushrelay)"
fi
pass "purged: nothing left"
