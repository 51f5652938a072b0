#!/usr/bin/env bash
# make-rootfs.sh DEST — build a minimal busybox root filesystem in DEST.
#
# The tree comes only from this machine: Debian's busybox-static (/bin/busybox) plus a few
# hand-written files in etc/. Nothing is fetched from a registry. Layout:
#   bin/busybox and one symlink per applet (`busybox --list`); sbin, usr/bin, usr/sbin -> bin
#   etc/passwd, etc/group (root, nobody, and user "berth" uid/gid 1000), etc/hostname, etc/hosts
#   tmp (1777), root, home/berth, proc, sys, dev (empty mount points)
#
# Idempotent and fast: a stamp file records which busybox and which version of this script built
# the tree; when it matches, the script exits at once. Otherwise the tree is built in a temporary
# directory beside DEST and renamed into place, so a half-built tree is never seen; a flock on
# DEST's parent directory serialises concurrent builds.
#
# Env: BUSYBOX (default /bin/busybox). If it is missing and we are root, busybox-static is
# installed with apt-get.
set -euo pipefail

LAYOUT_VERSION=1

usage() { echo "usage: $0 DEST" >&2; exit 2; }
[ $# -eq 1 ] || usage
dest=$1
busybox=${BUSYBOX:-/bin/busybox}

if [ ! -x "$busybox" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "make-rootfs: $busybox missing, installing busybox-static" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >&2
    fi
    [ -x "$busybox" ] || { echo "make-rootfs: $busybox not found (install busybox-static)" >&2; exit 1; }
fi
# First line of the help text names the busybox version ("BusyBox v1.35.0 (Debian ...)").
help=$(LC_ALL=C "$busybox" --help 2>&1 || true)
version=${help%%$'\n'*}
case $version in
    BusyBox*) ;;
    *) echo "make-rootfs: $busybox does not look like busybox: $version" >&2; exit 1 ;;
esac

# Identity of what we would build: busybox bytes (size + mtime is enough and costs no read)
# plus the layout version.
stamp="layout=$LAYOUT_VERSION busybox=$(stat -Lc '%s:%Y' "$busybox") $version"
fresh() { [ -f "$dest/.berth-rootfs" ] && [ "$(cat "$dest/.berth-rootfs")" = "$stamp" ]; }
fresh && exit 0

# Concurrent callers (parallel tests) on one DEST: one builds, the others wait, then find it fresh.
parent=$(dirname -- "$dest")
mkdir -p -- "$parent"
# The lock is DEST's parent directory itself, so no lock file is left behind.
exec 9<"$parent"
flock 9
fresh && exit 0
tmp=$(mktemp -d "$parent/.rootfs.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

mkdir -p "$tmp"/{bin,etc,proc,sys,dev,root,home/berth,usr,run,var/tmp}
mkdir -m 1777 "$tmp/tmp"
chmod 1777 "$tmp/var/tmp"
chmod 700 "$tmp/root"
cp -- "$busybox" "$tmp/bin/busybox"
chmod 755 "$tmp/bin/busybox"
ln -s bin "$tmp/sbin"
ln -s ../bin "$tmp/usr/bin"
ln -s ../bin "$tmp/usr/sbin"

# One symlink per applet; `busybox --list` prints bare names.
(
    cd "$tmp/bin"
    while IFS= read -r applet; do
        [ -n "$applet" ] && [ "$applet" != busybox ] && ln -s busybox "$applet"
    done < <("$busybox" --list)
)

cat > "$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
berth:x:1000:1000:berth:/home/berth:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$tmp/etc/group" <<'GROUP'
root:x:0:
berth:x:1000:
nogroup:x:65534:
GROUP
echo berth > "$tmp/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$tmp/etc/hosts"
: > "$tmp/etc/resolv.conf"
chown 1000:1000 "$tmp/home/berth" 2>/dev/null || true
printf '%s\n' "$stamp" > "$tmp/.berth-rootfs"

# Replace an older tree, if any, only once the new one is complete.
if [ -e "$dest" ]; then
    old="$parent/.rootfs-old.$$"
    mv -- "$dest" "$old"
    mv -- "$tmp" "$dest"
    rm -rf -- "$old"
else
    mv -- "$tmp" "$dest"
fi
chmod 755 "$dest"
trap - EXIT
