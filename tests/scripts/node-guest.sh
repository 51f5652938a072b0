#!/usr/bin/env bash
# The systemd cgroup driver on a node-like host: scripts/node-guest.sh boots Debian with systemd
# as PID 1 on pure cgroup v2 and runs tests/scripts/node/systemd-cgroup.sh there with this
# berth (directly, then as containerd 1.6's runtime with SystemdCgroup = true).
# Cost: the first run on a machine builds the cached image (about 1 min with a warm network);
# each run boots the guest under TCG (this host's /dev/kvm is PVM, see scripts/node-guest.sh).
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
cp "$here/node/systemd-cgroup.sh" "$payload/"
BERTH_GUEST_TIMEOUT=${BERTH_GUEST_TIMEOUT:-540} "$repo/scripts/node-guest.sh" run "$payload" bash systemd-cgroup.sh
