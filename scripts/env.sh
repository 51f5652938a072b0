# shellcheck shell=bash
# Sourced by the scripts: puts rustup's cargo on PATH and sets BERTH to the runtime under test.
# BERTH may be set by the caller to any runc-compatible binary (e.g. BERTH=$(command -v runc)).
_berth_repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
case ":$PATH:" in
    *":${HOME:-/root}/.cargo/bin:"*) ;;
    *) [ -d "${HOME:-/root}/.cargo/bin" ] && PATH="${HOME:-/root}/.cargo/bin:$PATH" ;;
esac
export PATH
export BERTH="${BERTH:-${CARGO_TARGET_DIR:-$_berth_repo/target}/release/berth}"
unset _berth_repo
# A bare name (BERTH=runc) is looked up on PATH, so later `-x "$BERTH"` checks hold.
case $BERTH in
    */*) ;;
    *) BERTH=$(command -v "$BERTH" || echo "$BERTH") ;;
esac
