#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it:
#   1. optimised build (RelWithDebInfo: -O2 -g, -Wall -Wextra -Werror), unit +
#      integration tests
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build, same tests
#   3. clang libFuzzer build; each tests/fuzz/fuzz_<name> runs for
#      PR_FUZZ_SECONDS (default 60) on its seed corpus tests/fuzz/corpus/<name>/
# The optimised build's ctest runs last, so its summary ("100% tests passed, 0 tests
# failed out of N") is what the script prints last. Exits non-zero at the
# first failure. Needs the packages of deploy/install-deps.sh.
#
#   bash deploy/test.sh                 everything (about 10 minutes on 2 cores)
#   PR_SKIP_SANITIZE=1 PR_SKIP_FUZZ=1 bash deploy/test.sh    optimised build + tests only
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
FUZZ_SECONDS=${PR_FUZZ_SECONDS:-60}

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

run_ctest() {   # run_ctest DIR
    (cd "$1" && ctest --output-on-failure -j "$JOBS" </dev/null)
}

mkdir -p "$SRC/build.d"
cd "$SRC/build.d"

step "optimised build (RelWithDebInfo)"
build "$SRC/build.d/release"

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
    step "libFuzzer build (clang)"
    targets=$(for f in "$SRC"/tests/fuzz/fuzz_*.c; do basename "$f" .c; done | tr '\n' ' ')
    CC=clang BUILD_TARGETS=$targets build "$SRC/build.d/fuzz" -DPR_FUZZ=ON
    for src in "$SRC"/tests/fuzz/fuzz_*.c; do
        target=$(basename "$src" .c)
        name=${target#fuzz_}
        seeds="$SRC/tests/fuzz/corpus/$name"
        work="$SRC/build.d/fuzz/corpus-$name"     # new inputs go here, not into the repo
        mkdir -p "$work" "$SRC/build.d/fuzz/artifacts"
        args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$SRC/build.d/fuzz/artifacts/$name-")
        [ -f "$SRC/tests/fuzz/$name.dict" ] && args+=(-dict="$SRC/tests/fuzz/$name.dict")
        step "fuzz $target for ${FUZZ_SECONDS}s"
        dirs=("$work")
        [ -d "$seeds" ] && dirs+=("$seeds")
        if ! "$SRC/build.d/fuzz/$target" "${args[@]}" "${dirs[@]}" </dev/null >"$SRC/build.d/fuzz/$target.log" 2>&1; then
            tail -n 60 "$SRC/build.d/fuzz/$target.log"
            echo "FAIL: $target found a crash; reproducer in build.d/fuzz/artifacts/" >&2
            exit 1
        fi
        grep -E "^stat::number_of_executed_units|^Done " "$SRC/build.d/fuzz/$target.log" | tr '\n' ' ' || true
        echo
    done
fi

if [ -z "${PR_SKIP_SANITIZE:-}" ]; then
    step "tests under ASan+UBSan"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        run_ctest "$SRC/build.d/asan"
fi

step "tests (optimised build)"
run_ctest "$SRC/build.d/release"
