# shellcheck shell=bash
# Sourced by the scripts: puts rustup's cargo on PATH and sets BERTH to the runtime under test.
# BERTH may be set by the caller to any runc-compatible binary (e.g. BERTH=runc).
_berth_repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# rustup installs into ~/.cargo and ~/.rustup; a non-login shell (CI) may lack them on PATH, or
# run with a HOME other than root's.
if ! command -v cargo >/dev/null 2>&1; then
    for _home in "${HOME:-/root}" /root; do
        if [ -x "$_home/.cargo/bin/cargo" ]; then
            PATH="$_home/.cargo/bin:$PATH"
            [ -n "${RUSTUP_HOME:-}" ] || [ ! -d "$_home/.rustup" ] || export RUSTUP_HOME="$_home/.rustup"
            break
        fi
    done
    unset _home
fi
export PATH
export BERTH="${BERTH:-${CARGO_TARGET_DIR:-$_berth_repo/target}/x86_64-unknown-linux-gnu/release/berth}"
unset _berth_repo
# A bare name (BERTH=runc) is looked up on PATH, so later `-x "$BERTH"` checks hold.
case $BERTH in
    */*) ;;
    *) BERTH=$(command -v "$BERTH" || echo "$BERTH") ;;
esac
