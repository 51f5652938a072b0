#!/usr/bin/env bash
# test.sh — the whole test suite, as CI runs it (run as root: integration tests start containers).
#
#   cargo fmt --all --check
#   cargo clippy --workspace --all-targets -- -D warnings
#   cargo build --release                 (target/x86_64-unknown-linux-gnu/release/berth, used by the shell tests)
#   cargo build --workspace --bins; cargo test --workspace --no-fail-fast (unit + integration tests)
#   tests/scripts/*.sh                    (black-box tests, e.g. containerd driving berth)
#
# Every step runs even when an earlier one failed (except that the shell tests need the release
# build), so one run shows every failure. Exits non-zero if anything failed. The last line is the
# tally over cargo tests and shell tests: "N passed, M failed, K skipped", where skipped counts
# ignored cargo tests and those that reported "skipped" through berth_common::skip! (BERTH_SKIP_LOG).
# Env: BERTH (runtime the shell tests drive; default <repo>/target/x86_64-unknown-linux-gnu/release/berth),
#      SHELL_TEST_TIMEOUT (seconds per shell test, default 600; a test that boots a TCG guest
#      declares its own bound in a `# timeout: SECONDS` line, used when it is larger).
set -uo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$here/env.sh"
cd "$repo" || exit 1

failed_steps=()
step() {
    local name=$1; shift
    printf '\n==> %s\n' "$name"
    local start=$SECONDS
    if "$@"; then
        printf '==> %s: ok (%ds)\n' "$name" $((SECONDS - start))
        return 0
    fi
    printf '==> %s: FAILED (%ds)\n' "$name" $((SECONDS - start))
    failed_steps+=("$name")
    return 1
}

step "cargo fmt" cargo fmt --all --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
built=0
step "cargo build --release" cargo build --release && built=1
cargo_log=$(mktemp)
# A test that cannot run here (berth_common::skip!) appends "<crate> <test>: why" to this file;
# cargo counts it as passed, the tally below as skipped.
export BERTH_SKIP_LOG
BERTH_SKIP_LOG=$(mktemp)
trap 'rm -f "$cargo_log" "$BERTH_SKIP_LOG"' EXIT
# The people tests drive the executables as users do: `berth`, `berth-people` and
# `berth-monitor` built side by side. cargo test builds a package's binaries only for its own
# integration tests (berth-monitor has none), so every binary is built first.
cargo_tests() {
    { cargo build --workspace --bins && cargo test --workspace --no-fail-fast; } 2>&1 | tee "$cargo_log"
}
step "cargo test" cargo_tests
# Totals over every test binary, for the closing line.
read -r cargo_passed cargo_failed cargo_ignored < <(awk '
    /^test result:/ { for (i = 1; i <= NF; i++) {
        if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
    END { print p + 0, f + 0, g + 0 }' "$cargo_log")
# One per skipped test, even if a helper and the test both said so.
cargo_skipped=$(awk -F': ' '{ print $1 }' "$BERTH_SKIP_LOG" | sort -u | grep -c .)
cargo_passed=$((cargo_passed - cargo_skipped))

passed=0 failed=0
failed_tests=()
shopt -s nullglob
shell_tests=("$repo"/tests/scripts/*.sh)
if [ "$built" -eq 0 ] && [ "$BERTH" = "${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-gnu/release/berth" ]; then
    printf '\n==> shell tests: skipped, the release build failed\n'
    failed=${#shell_tests[@]}
    failed_tests=("${shell_tests[@]##*/}")
else
    for t in "${shell_tests[@]}"; do
        name=${t##*/}
        printf '\n==> shell test %s (BERTH=%s)\n' "$name" "$BERTH"
        start=$SECONDS
        bound=${SHELL_TEST_TIMEOUT:-600}
        own=$(sed -n 's/^# timeout: \([0-9]\+\)$/\1/p' "$t" | head -n1)
        [ -n "$own" ] && [ "$own" -gt "$bound" ] && bound=$own
        if timeout --kill-after=10 "$bound" bash "$t" </dev/null; then
            passed=$((passed + 1))
            printf '==> %s: ok (%ds)\n' "$name" $((SECONDS - start))
        else
            rc=$?
            failed=$((failed + 1))
            failed_tests+=("$name")
            printf '==> %s: FAILED, exit %d (%ds)\n' "$name" "$rc" $((SECONDS - start))
        fi
    done
fi

printf '\n'
[ ${#failed_steps[@]} -eq 0 ] || printf 'failed steps: %s\n' "${failed_steps[*]}"
[ ${#failed_tests[@]} -eq 0 ] || printf 'failed shell tests: %s\n' "${failed_tests[*]}"
if [ "$cargo_skipped" -gt 0 ]; then
    printf 'skipped cargo tests:\n'
    sort -u "$BERTH_SKIP_LOG" | sed 's/^/  /'
fi
printf 'cargo test: %d passed, %d failed, %d ignored, %d skipped; shell tests: %d passed, %d failed\n' \
    "$cargo_passed" "$cargo_failed" "$cargo_ignored" "$cargo_skipped" "$passed" "$failed"
printf '%d passed, %d failed, %d skipped\n' "$((cargo_passed + passed))" "$((cargo_failed + failed))" \
    "$((cargo_ignored + cargo_skipped))"
[ ${#failed_steps[@]} -eq 0 ] && [ "$failed" -eq 0 ]
