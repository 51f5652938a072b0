#!/usr/bin/env bash
# The systemd cgroup driver on a node-like host: scripts/node-guest.sh boots Debian with systemd
# as PID 1 on pure cgroup v2 and runs tests/scripts/node/systemd-cgroup.sh there with this
# berth (directly, then as containerd 1.6's runtime with SystemdCgroup = true); in the same
# boot, first, tests/scripts/node/cri.sh: the CRI test (crates/berth-cri-test) with the systemd
# driver, berth and runc; last, tests/scripts/node/criu.sh: checkpoint and restore with CRIU
# (which fails its kernel check on this host). All run; any failing fails.
# Cost: the first run on a machine builds the cached image (about 1 min with a warm network);
# each run boots the guest under TCG (this host's /dev/kvm is PVM, see scripts/node-guest.sh).
# Under TCG on a loaded 2-core machine the whole boot took over 600 s (load ~6): its bound is
# scripts/test.sh's default raised to
# timeout: 1200
set -euo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/env.sh"

for tool in qemu-system-x86_64 qemu-img mmdebstrap; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool missing (scripts/debian-packages)"; exit 0; }
done
[ -x "$BERTH" ] || { echo "node-guest: $BERTH is not built" >&2; exit 1; }

payload=$(mktemp -d)
trap 'rm -rf "$payload"' EXIT
mkdir -p "$payload/bin"
cp "$BERTH" "$payload/bin/berth"
# --systemd-cgroup commands run in berth-people (the systemd driver's D-Bus client is linked
# there only), installed next to berth.
cp "$(dirname -- "$BERTH")/berth-people" "$payload/bin/berth-people"
"$repo/scripts/make-rootfs.sh" "$payload/rootfs" >/dev/null
cp "$here/node/systemd-cgroup.sh" "$here/node/cri.sh" "$here/node/criu.sh" "$payload/"
# The CRI test's binary (static; cargo test --workspace has built it) without its debug info,
# and make-rootfs.sh for its image.
cri=$(cd "$repo" && cargo test -q -p berth-cri-test --test cri --no-run --message-format=json |
    jq -r 'select(.reason == "compiler-artifact" and .target.name == "cri") | .executable')
[ -x "$cri" ] || { echo "node-guest: building the CRI test failed" >&2; exit 1; }
strip -o "$payload/bin/cri-test" "$cri"
mkdir -p "$payload/repo/scripts"
cp "$repo/scripts/make-rootfs.sh" "$payload/repo/scripts/"
BERTH_GUEST_TIMEOUT=${BERTH_GUEST_TIMEOUT:-1140} "$repo/scripts/node-guest.sh" run "$payload" \
    'bash cri.sh; cri=$?; bash systemd-cgroup.sh; sd=$?; bash criu.sh && [ $cri = 0 ] && [ $sd = 0 ]'
