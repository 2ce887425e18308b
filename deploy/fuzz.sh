#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer targets with clang and runs every
# tests/fuzz/fuzz_<name>.c for SECONDS (default 60) each, as many at once as
# there are cores (a libFuzzer process uses one), on its committed
# seeds tests/fuzz/corpus/<name>/ plus the inputs earlier runs found, which
# are kept in build.d/fuzz/corpus-<name>/ (so a longer campaign resumes
# where the last one stopped). deploy/test.sh runs it for CI.
#
#   deploy/fuzz.sh [SECONDS]                 one campaign per target
#   PR_FUZZ_MERGE=1 deploy/fuzz.sh 600       then add to tests/fuzz/corpus/<name>/ the
#                                            findings that reach new coverage (commit them)
#   PR_FUZZ_TARGETS="sip" deploy/fuzz.sh 60  only these targets
#
# Inputs may be as long as the largest request the listener accepts by
# default (max_message_bytes, read from config/cfg_load.c): libFuzzer's own
# default of 4096 bytes would never reach the size limits. Exits non-zero
# when a target crashes; the reproducer is in build.d/fuzz/artifacts/.
set -euo pipefail

cd "$(dirname "$0")/.."
SRC=$PWD
SECONDS_PER_TARGET=${1:-${PR_FUZZ_SECONDS:-60}}
JOBS=$(nproc 2>/dev/null || echo 2)
OUT="$SRC/build.d/fuzz"

fail() { echo "fuzz.sh: $*" >&2; exit 1; }

# The default of federation.max_message_bytes, from the config schema.
MAX_LEN=$(grep -A1 '"max_message_bytes"' "$SRC/config/cfg_load.c" | sed -n 's/.*\.idef = \([0-9]*\).*/\1/p')
[ -n "$MAX_LEN" ] || fail "cannot read max_message_bytes' default from config/cfg_load.c"

targets=${PR_FUZZ_TARGETS:-$(for f in "$SRC"/tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); echo "${t#fuzz_}"; done)}
[ -n "$targets" ] || fail "no tests/fuzz/fuzz_*.c"

mkdir -p "$OUT/artifacts"
CC=clang cmake -S "$SRC" -B "$OUT" -DPR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT.cmake.log" 2>&1 ||
    { cat "$OUT.cmake.log"; fail "cmake failed"; }
# shellcheck disable=SC2046,SC2086
cmake --build "$OUT" -j "$JOBS" --target $(printf 'fuzz_%s ' $targets) >"$OUT.build.log" 2>&1 ||
    { tail -n 60 "$OUT.build.log"; fail "build failed"; }

# campaign NAME: one target's run; its output goes to $OUT/fuzz_NAME.log.
campaign() {
    local name=$1 bin="$OUT/fuzz_$1" seeds="$SRC/tests/fuzz/corpus/$1" work="$OUT/corpus-$1"
    mkdir -p "$work" "$seeds"
    local args=(-max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                -artifact_prefix="$OUT/artifacts/$name-")
    [ -f "$SRC/tests/fuzz/$name.dict" ] && args+=(-dict="$SRC/tests/fuzz/$name.dict")
    "$bin" "${args[@]}" -max_total_time="$SECONDS_PER_TARGET" "$work" "$seeds" \
        </dev/null >"$OUT/fuzz_$name.log" 2>&1
}

# JOBS targets at a time, each for the full SECONDS; reported in order.
# shellcheck disable=SC2086
set -- $targets
failed=
while [ $# -gt 0 ]; do
    batch=() pids=()
    while [ $# -gt 0 ] && [ ${#batch[@]} -lt "$JOBS" ]; do
        echo "==== fuzz_$1 for ${SECONDS_PER_TARGET}s (-max_len=$MAX_LEN)"
        campaign "$1" &
        batch+=("$1") pids+=($!)
        shift
    done
    for i in "${!batch[@]}"; do
        name=${batch[$i]}
        if ! wait "${pids[$i]}"; then
            echo "==== fuzz_$name found a crash:"
            tail -n 60 "$OUT/fuzz_$name.log"
            failed="$failed fuzz_$name"
            continue
        fi
        printf 'fuzz_%s: ' "$name"
        grep -E "^stat::number_of_executed_units|^Done " "$OUT/fuzz_$name.log" | tr '\n' ' ' || true
        echo
    done
done
[ -z "$failed" ] || fail "a crash in$failed; reproducers in $OUT/artifacts/"

if [ -n "${PR_FUZZ_MERGE:-}" ]; then
    for name in $targets; do
        # Add to the seeds (hand-written ones keep their names) only the
        # findings that reach coverage the seeds do not: a minimal addition.
        seeds="$SRC/tests/fuzz/corpus/$name"
        before=$(find "$seeds" -type f | wc -l)
        "$OUT/fuzz_$name" -merge=1 -max_len="$MAX_LEN" "$seeds" "$OUT/corpus-$name" </dev/null \
            >"$OUT/merge_$name.log" 2>&1 || { tail -n 30 "$OUT/merge_$name.log"; fail "merge of $name failed"; }
        echo "tests/fuzz/corpus/$name: $before seeds, $(find "$seeds" -type f | wc -l) after merging"
    done
fi
