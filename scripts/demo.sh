#!/usr/bin/env bash
# demo.sh — run one container with berth from the default busybox rootfs and print from inside it.
#
# The rootfs is built locally from Debian's busybox-static (scripts/make-rootfs.sh, cached in
# <repo>/.test-rootfs); the bundle and the runtime's state live in a temporary directory that is
# removed on exit. Then the same tree, imported as an image, runs through the people face
# (`berth run --rm IMAGE CMD`, on an overlay root, in a temporary image root).
# Env: BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth); DEMO_IMAGE=0 skips
# the image part.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$here/env.sh"
[ -x "$BERTH" ] || { echo "demo: $BERTH not found: run scripts/setup.sh first (or set BERTH)" >&2; exit 1; }

rootfs=$repo/.test-rootfs
"$here/make-rootfs.sh" "$rootfs"

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
id=demo-$$
cleanup() {
    "$BERTH" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf -- "$work"
}
trap cleanup EXIT

# shellcheck disable=SC2016 # expanded inside the container
ROOTFS=$rootfs "$here/make-bundle.sh" "$work/bundle" sh -c '
echo "Hello from inside a berth container!"
echo "  hostname:  $(hostname)"
echo "  my pid:    $$ (pid 1 of a new pid namespace)"
echo "  user:      $(id)"
echo "  kernel:    $(uname -sr)"
'
echo "==> $BERTH run --bundle $work/bundle $id" >&2
"$BERTH" --root "$work/state" run --bundle "$work/bundle" "$id"

[ "${DEMO_IMAGE:-1}" = 0 ] && exit 0
tar -C "$rootfs" -cf "$work/busybox.tar" .
"$BERTH" --image-root "$work/images" image import "$work/busybox.tar" busybox >/dev/null
echo "==> $BERTH run --rm busybox sh -c ...   (image imported from the same tree)" >&2
# shellcheck disable=SC2016 # expanded inside the container
"$BERTH" --root "$work/state" --image-root "$work/images" run --rm --net none busybox \
    sh -c 'echo "Hello from an image: $(hostname) on an overlay root ($(grep " / " /proc/mounts | cut -d" " -f3))"'
