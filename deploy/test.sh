#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it:
#   1. optimised build (RelWithDebInfo: -O2 -g, -Wall -Wextra -Werror), unit +
#      integration tests; once, the Debian package is built, lintian-checked,
#      installed and purged (tests/pkg/test_pkg_debian.sh; as root)
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build, same tests but
#      the fault suites labelled "slow" in CMakeLists.txt
#   3. clang libFuzzer build; each tests/fuzz/fuzz_<name> runs for
#      PR_FUZZ_SECONDS (default 30) on its seed corpus tests/fuzz/corpus/<name>/,
#      inputs up to max_message_bytes' default (deploy/fuzz.sh does this part)
# The optimised build's ctest runs last, so its summary ("100% tests passed, 0 tests
# failed out of N") is what the script prints last. Exits non-zero at the
# first failure. Needs the packages of deploy/install-deps.sh.
#
#   bash deploy/test.sh                 everything (about 20 minutes on 2 cores)
#   PR_SKIP_SANITIZE=1 PR_SKIP_FUZZ=1 bash deploy/test.sh    optimised build + tests only
#   PR_SKIP_PKG=1 ...                    without the Debian package step
#   PR_STRESS=5 bash deploy/test.sh     stress mode (not run by CI): see below
#
# Stress mode: PR_STRESS=N builds as usual, then runs the integration tests
# N times over (ctest --repeat until-fail:N) on the sanitizer build (the
# optimised one with PR_SKIP_SANITIZE=1) while a busy loop keeps one core
# taken, and stops at the first failure. A test whose verdict depends on
# timing fails here long before it flakes in CI. PR_STRESS_TESTS (a ctest
# -R regex, default '^integration\.') picks the tests.
set -euo pipefail

cd "$(dirname "$0")/.."
SRC=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${PR_FUZZ_SECONDS:-30}

step() { printf '\n==== %s\n' "$*"; }

build() {   # build DIR [cmake args...]; BUILD_TARGETS limits what is built
    local dir=$1
    shift
    cmake -S "$SRC" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.cmake.log" 2>&1 ||
        { cat "$dir.cmake.log"; return 1; }
    # shellcheck disable=SC2086
    cmake --build "$dir" -j "$JOBS" ${BUILD_TARGETS:+--target $BUILD_TARGETS} >"$dir.build.log" 2>&1 ||
        { tail -n 60 "$dir.build.log"; return 1; }
}

run_ctest() {   # run_ctest DIR [CTEST ARGS...]
    local dir=$1
    shift
    (cd "$dir" && ctest --output-on-failure -j "$JOBS" "$@" </dev/null)
}

mkdir -p "$SRC/build.d"
cd "$SRC/build.d"

step "optimised build (RelWithDebInfo)"
build "$SRC/build.d/release"

# Once per run, beside the optimised pass (never under sanitizers): build
# the Debian package, lintian it, install, check and purge it on this machine.
if [ -z "${PR_SKIP_PKG:-}" ]; then
    step "Debian package: dpkg-buildpackage, lintian, install, purge"
    PR_BIN="$SRC/build.d/release" PR_SRC="$SRC" bash "$SRC/tests/pkg/test_pkg_debian.sh" </dev/null
fi

if [ -z "${PR_SKIP_SANITIZE:-}" ]; then
    step "ASan+UBSan build"
    build "$SRC/build.d/asan" -DPR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
fi

if [ -n "${PR_STRESS:-}" ]; then
    [[ "$PR_STRESS" =~ ^[1-9][0-9]*$ ]] || { echo "PR_STRESS must be a count, got '$PR_STRESS'" >&2; exit 2; }
    dir="$SRC/build.d/asan"
    [ -z "${PR_SKIP_SANITIZE:-}" ] || dir="$SRC/build.d/release"
    step "stress: ${PR_STRESS_TESTS:-^integration\.} x $PR_STRESS in $(basename "$dir"), one core kept busy"
    ( while :; do :; done ) &
    busy=$!
    trap 'kill "$busy" 2>/dev/null || true' EXIT
    rc=0
    (cd "$dir" &&
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        ctest --output-on-failure -R "${PR_STRESS_TESTS:-^integration\.}" \
            --repeat "until-fail:$PR_STRESS" </dev/null) || rc=$?
    kill "$busy" 2>/dev/null || true
    wait "$busy" 2>/dev/null || true
    exit "$rc"
fi

if [ -z "${PR_SKIP_FUZZ:-}" ] && compgen -G "$SRC/tests/fuzz/fuzz_*.c" >/dev/null; then
    step "libFuzzer build (clang) and ${FUZZ_SECONDS}s per target"
    bash "$SRC/deploy/fuzz.sh" "$FUZZ_SECONDS"
fi

if [ -z "${PR_SKIP_SANITIZE:-}" ]; then
    # The fault suites labelled "slow" (CMakeLists.txt) run in the optimised pass only.
    step "tests under ASan+UBSan (all but the label slow)"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        run_ctest "$SRC/build.d/asan" -LE slow
fi

step "tests (optimised build)"
run_ctest "$SRC/build.d/release"
