#!/usr/bin/env bash
# bench/names.sh — name lookup on a berth user network (never part of the tests): inside a
# busybox container, N `ping -c1` to a second container by name against N by address; the
# difference per ping is the name lookup (glibc reading the /etc/hosts berth keeps).
# Env: BERTH, N (pings per form, default 500). Needs root and busybox-static.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
N=${N:-500}
[ "$(id -u)" -eq 0 ] || { echo "names.sh: run as root" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-namebench.XXXXXX)
b() { "$BERTH" --root "$tmp/state" --image-root "$tmp/images" "$@"; }
cleanup() {
    set +e
    b delete --force nbench-a >/dev/null 2>&1
    b delete --force nbench-b >/dev/null 2>&1
    b network rm nbench >/dev/null 2>&1
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .
b image import "$tmp/busybox.tar" busybox >/dev/null
b network create --subnet 10.231.78.0/24 --bridge bnbench nbench >/dev/null
b run -d --name nbench-a --net nbench busybox sleep 1000 >/dev/null
b run -d --name nbench-b --net nbench busybox sleep 1000 >/dev/null
ip=$(b exec nbench-a sh -c 'grep "nbench-b" /etc/hosts' | cut -f1)
# loop TARGET: wall time of one exec running N pings (the exec's own cost is in both forms).
loop() {
    local s e
    s=$(date +%s%N)
    b exec nbench-a sh -c "i=0; while [ \$i -lt $N ]; do ping -c1 -q -W1 $1 >/dev/null; i=\$((i+1)); done"
    e=$(date +%s%N)
    echo $(( (e - s) / N / 1000 ))
}
for round in 1 2 3; do
    byip=$(loop "$ip")
    byname=$(loop nbench-b)
    echo "per ping: by address ${byip} us, by name ${byname} us; lookup $((byname - byip)) us"
done
