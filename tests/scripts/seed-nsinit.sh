#!/usr/bin/env bash
# Seed 003 (libcontainer's nsinit, 2014): its sample container.json expressed with berth's
# image-form flags, no config.json written by hand, then `nsinit exec` twice:
#   hostname "koye", tty, environment         ->  --name/--hostname koye, -e ...
#   namespaces NEWIPC NEWNS NEWPID NEWUTS NEWNET ->  the image form's own (each one new)
#   capabilities [SETPCAP ... NET_ADMIN]      ->  libcontainer *dropped* the listed ones from
#                                                 the full set: --cap-add ALL --cap-drop each
#   networks veth, bridge docker0, 172.17.0.100/16 via 172.17.42.1, mtu 1500
#                                             ->  network create --bridge --subnet --gateway
#                                                 --mtu, run --net NAME --ip (172.30/16 here:
#                                                 172.17/16 is docker0's on a host with Docker)
#   cgroups memory 5248000                    ->  --memory 5248000
#   the pid file .nspid in the directory      ->  --pid-file DIR/.nspid
#   `nsinit exec CMD` again joins the live container -> berth exec koye CMD
# Each mapping is asserted from inside. berth only (people face); needs root, busybox-static.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=tests/scripts/lib/work.sh
. "$here/lib/work.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root"
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"

work=$(mktemp -d /tmp/berth-seed-nsinit.XXXXXX)
b() { "$BERTH" --root "$work/state" --image-root "$work/images" "$@"; }
id=koye-$$
net=nsinit$$
trap 'b delete --force "$id" >/dev/null 2>&1; b network rm "$net" >/dev/null 2>&1; remove_work "$work"' EXIT
b image ls >/dev/null 2>&1 || { echo "skipped: $BERTH has no people face (image commands)"; exit 0; }

"$repo/scripts/make-rootfs.sh" "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
b image import "$work/busybox.tar" busybox >/dev/null
b network create --bridge "bs$$" --subnet 172.30.0.0/16 --gateway 172.30.42.1 --mtu 1500 "$net" >/dev/null

drop=(SETPCAP SYS_MODULE SYS_RAWIO SYS_PACCT SYS_ADMIN SYS_NICE SYS_RESOURCE SYS_TIME
      SYS_TTY_CONFIG MKNOD AUDIT_WRITE AUDIT_CONTROL MAC_OVERRIDE MAC_ADMIN NET_ADMIN)
flags=(--name "$id" --hostname koye -e HOME=/ -e container=docker -e TERM=xterm-256color
       --cap-add ALL --net "$net" --ip 172.30.0.100 --memory 5248000 --pid-file "$work/.nspid")
for c in "${drop[@]}"; do flags+=(--cap-drop "$c"); done
b run -d "${flags[@]}" busybox sleep 1000 >/dev/null
pid=$(cat "$work/.nspid")
[ -d "/proc/$pid" ] || fail ".nspid names no live process"

# The second `nsinit exec`: a new process joins every namespace of the live container.
inside=$(b exec "$id" sh -c 'hostname; echo "container=$container"; grep CapBnd /proc/self/status
    ip -o -4 addr show eth0; ip route | grep "^default"; cat /sys/class/net/eth0/mtu; ps -o pid,args | wc -l')
got() { sed -n "$1p" <<<"$inside"; }
[ "$(got 1)" = koye ] || fail "hostname: $inside"
[ "$(got 2)" = container=docker ] || fail "environment: $inside"
bnd=$((16#$(got 3 | awk '{print $2}')))
for bit in 8 16 17 20 21 23 24 25 26 27 29 30 32 33 12; do   # the dropped ones
    [ $(( bnd >> bit & 1 )) -eq 0 ] || fail "capability $bit not dropped: $(got 3)"
done
[ $(( bnd >> 2 & 1 )) -eq 1 ] || fail "DAC_READ_SEARCH (not listed) is missing: $(got 3)"
grep -q "inet 172.30.0.100/16" <<<"$(got 4)" || fail "address: $inside"
grep -q "default via 172.30.42.1 dev eth0" <<<"$(got 5)" || fail "route: $inside"
[ "$(got 6)" = 1500 ] || fail "mtu: $inside"
# PID namespace: sleep, the exec'd sh, ps, wc and the header.
[ "$(got 7)" -le 5 ] || fail "more processes than the container's own: $inside"
# IPC, mount, UTS and network namespaces differ from the host's.
for ns in ipc mnt uts net pid; do
    [ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "$ns namespace is the host's"
done
# The memory limit (cgroup v1 memory controller here; v2 elsewhere), rounded down to pages.
cg=$(awk -F: '$2 == "memory" || $2 == "" {print $3; exit}' "/proc/$pid/cgroup")
lim=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$cg/memory.max")
[ "$lim" -le 5248000 ] && [ "$lim" -gt 5200000 ] || fail "memory limit $lim"
b delete --force "$id"
echo "seed-nsinit: container.json's hostname, env, namespaces, dropped caps, veth network, memory and .nspid as flags"
