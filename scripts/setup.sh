#!/usr/bin/env bash
# setup.sh [--deps-only] — prepare a Debian machine (as root) to build, test and run berth.
#
# 1. installs the Debian packages listed in scripts/debian-packages (apt-get update + install,
#    skipped when all are already installed);
# 2. checks the Rust toolchain (rustup's cargo in ~/.cargo/bin, with rustfmt and clippy);
# 3. unless --deps-only: `cargo build --release` -> target/x86_64-unknown-linux-gnu/release/berth
#    berth-people (the people face, which berth executes), berth-monitor (the kept containers'
#    monitor, which berth-people starts) and berth-init (`run --init`'s PID 1); install the four
#    side by side.
# Safe to run again: each step is a no-op when already done.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
build=1
case ${1:-} in
    --deps-only) build=0 ;;
    "") ;;
    *) echo "usage: $0 [--deps-only]" >&2; exit 2 ;;
esac

log() { printf '==> %s\n' "$*" >&2; }

mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/debian-packages")
missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "setup: run as root to install: ${missing[*]}" >&2; exit 1; }
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    log "Debian packages: all ${#packages[@]} installed"
fi

# rustup installs cargo into ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
# shellcheck source=scripts/env.sh
. "$here/env.sh"
if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found. berth needs Rust >= 1.85 from rustup (Debian 12's cargo is too old);" >&2
    echo "       install rustup, then run this script again." >&2
    exit 1
fi
for tool in fmt clippy; do
    cargo "$tool" --version >/dev/null 2>&1 ||
        { echo "setup: cargo $tool missing: rustup component add ${tool/fmt/rustfmt}" >&2; exit 1; }
done
log "Rust: $(cargo --version)"

if [ "$build" -eq 1 ]; then
    log "cargo build --release"
    (cd "$repo" && cargo build --release)
    log "built $repo/target/x86_64-unknown-linux-gnu/release/berth (and berth-people, berth-monitor, berth-init beside it)"
fi
