#!/usr/bin/env bash
# make-debian-image.sh — a realistic image for bench/image.sh: a Debian bookworm root of a few
# hundred MB from Debian's archive, in three layers, as an OCI image layout; optionally pushed to
# a registry. Bench only: never run by the tests or CI.
#
# Usage: bench/make-debian-image.sh [DEST]     (as root)
#   Builds (or reuses) the OCI layout $CACHE/debian-oci, tag "bench", and prints its path.
#   With DEST (e.g. 127.0.0.1:5000/bench/debian:bookworm) pushes it there with skopeo over plain
#   HTTP (--dest-tls-verify=false).
# Env:  CACHE   cache directory (default /var/cache/berth-bench): the debootstrap trees and the
#               OCI layout are kept there, so reruns take seconds
#       MIRROR  (default http://deb.debian.org/debian)   SUITE (default bookworm)
#
# Layers:
#   1. base      debootstrap --variant=minbase
#   2. packages  the same plus PACKAGES below (python3, perl, git, gcc, curl, ...): the files
#                added or changed relative to the base, as umoci repack computes them
#   3. slimming  /usr/share/doc, /usr/share/man, /usr/share/info and most locales removed, so the
#                layer carries whiteouts (and one opaque directory, /var/cache/apt)
# Needs: debootstrap, umoci, skopeo, rsync (apt-get install -y debootstrap umoci skopeo rsync).
set -euo pipefail

CACHE=${CACHE:-/var/cache/berth-bench}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
PACKAGES=python3,perl,git,curl,ca-certificates,gcc,libc6-dev,make,procps,iproute2,less,xz-utils,vim-tiny
# Bump when the recipe changes: a cached layout from another recipe is rebuilt.
RECIPE=2

[ "$(id -u)" -eq 0 ] || { echo "make-debian-image: run as root" >&2; exit 1; }
for tool in debootstrap umoci skopeo rsync; do
    command -v "$tool" >/dev/null || { echo "make-debian-image: $tool missing (apt-get install -y $tool)" >&2; exit 1; }
done
mkdir -p "$CACHE"
layout=$CACHE/debian-oci
stamp="$RECIPE $SUITE $MIRROR $PACKAGES"

# debootstrap_cached DIR ARGS...: a debootstrap tree made once and kept.
debootstrap_cached() {
    local dir=$1; shift
    [ -e "$dir/.berth-bench-done" ] && return 0
    rm -rf --one-file-system -- "$dir"
    echo "make-debian-image: debootstrap $* -> $dir" >&2
    mkdir -p "$CACHE/debs"
    debootstrap --cache-dir="$CACHE/debs" "$@" "$SUITE" "$dir" "$MIRROR" >"$dir.log" 2>&1 \
        || { tail -n 20 "$dir.log" >&2; echo "make-debian-image: debootstrap failed (log $dir.log)" >&2; exit 1; }
    # apt's downloaded lists and archives are not part of the image.
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*_*
    touch "$dir/.berth-bench-done"
}

if [ "$(cat "$layout/.berth-bench-recipe" 2>/dev/null)" != "$stamp" ]; then
    debootstrap_cached "$CACHE/rootfs-base" --variant=minbase
    debootstrap_cached "$CACHE/rootfs-full" --variant=minbase --include="$PACKAGES"

    work=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf --one-file-system -- "$work"' EXIT
    rm -rf --one-file-system -- "$layout"
    umoci init --layout "$work/oci"
    umoci new --image "$work/oci:bench"
    # umoci repack diffs the bundle against the image it was unpacked from, so each layer
    # starts from a fresh unpack of the image so far.
    unpack() {
        rm -rf --one-file-system -- "$work/bundle"
        umoci unpack --image "$work/oci:bench" "$work/bundle" >/dev/null
    }
    sync_root() { rsync -aHAX --delete --exclude=/.berth-bench-done "$1/" "$work/bundle/rootfs/"; }
    unpack

    echo "make-debian-image: layer 1 (base)" >&2
    sync_root "$CACHE/rootfs-base"
    umoci repack --image "$work/oci:bench" --history.created_by "debootstrap --variant=minbase $SUITE" "$work/bundle"

    echo "make-debian-image: layer 2 (packages)" >&2
    unpack
    sync_root "$CACHE/rootfs-full"
    umoci repack --image "$work/oci:bench" --history.created_by "debootstrap --include=$PACKAGES" "$work/bundle"

    echo "make-debian-image: layer 3 (deletions: whiteouts)" >&2
    unpack
    r=$work/bundle/rootfs
    rm -rf "$r/usr/share/doc" "$r/usr/share/man" "$r/usr/share/info"
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' ! -name locale.alias -exec rm -rf {} +
    # Emptied and refilled: umoci writes an opaque whiteout for a directory replaced this way.
    rm -rf "$r/var/cache/apt" && mkdir -p "$r/var/cache/apt" && echo bench > "$r/var/cache/apt/.keep"
    umoci repack --image "$work/oci:bench" --history.created_by "rm -rf /usr/share/doc /usr/share/man ..." "$work/bundle"

    umoci config --image "$work/oci:bench" --config.cmd /bin/bash --config.workingdir / \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.env LANG=C.UTF-8
    umoci gc --layout "$work/oci"
    rm -rf --one-file-system -- "$work/bundle"
    mv "$work/oci" "$layout"
    echo "$stamp" > "$layout/.berth-bench-recipe"
fi

if [ -n "${1:-}" ]; then
    skopeo copy --quiet --dest-tls-verify=false "oci:$layout:bench" "docker://$1"
fi
echo "$layout"
