#!/usr/bin/env bash
# bench/net.sh — container networking, side by side in one run (never part of the tests):
#   TCP throughput (iperf3) between two containers over a berth bridge, over the berth tap
#   switch, and over the host's loopback for reference; round-trip latency (ping) over each;
#   and the time a bridged network adds to a container start: `berth run --rm IMAGE true` with
#   `--net bridge` against `--net none`, and the same for podman 4.3 with runc
#   (`podman run --rm --runtime runc --network bridge|none`, CNI plugins from Debian). The start
#   samples are interleaved (berth none, berth bridge, podman none, podman bridge, repeat) so
#   that load from other work on the machine falls on all four alike.
# iperf3 and ping run from the host inside each container's network namespace with
# `berth join --net`, so the busybox image needs no iperf3 of its own.
# Env: BERTH, SECS (iperf3 seconds per run, default 5), ROUNDS (alternating bridge/switch iperf3
# runs, median reported, default 3), N (runs for the start-cost medians, 20), PODMAN=0 to leave
# podman out.
# Needs root, iperf3, jq, busybox-static, iputils-ping; for podman: podman, runc,
# containernetworking-plugins, iptables. Traffic stays on this machine.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=scripts/podman-private.sh
. "$repo/scripts/podman-private.sh"
SECS=${SECS:-5}
N=${N:-20}
PODMAN=${PODMAN:-1}
ROUNDS=${ROUNDS:-3}
[ "$(id -u)" -eq 0 ] || { echo "net.sh: run as root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "net.sh: iperf3 missing (apt-get install iperf3)" >&2; exit 1; }
if [ "$PODMAN" = 1 ]; then
    for tool in podman runc iptables; do
        command -v "$tool" >/dev/null ||
            { echo "net.sh: $tool missing (apt-get install podman runc iptables, or PODMAN=0)" >&2; exit 1; }
    done
    [ -x /usr/lib/cni/bridge ] ||
        { echo "net.sh: CNI plugins missing (apt-get install containernetworking-plugins)" >&2; exit 1; }
fi

tmp=$(mktemp -d /tmp/berth-netbench.XXXXXX)
b() { "$BERTH" --root "$tmp/state" --image-root "$tmp/images" "$@"; }
# podman with private state (as tests/scripts/podman.sh), its CNI bridge network and runc.
pod_image=localhost/berth-netbench:busybox
pod_flags=(--root "$tmp/pod/root" --runroot "$tmp/pod/runroot" --tmpdir "$tmp/pod/tmp"
           --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
           --network-config-dir "$tmp/pod/cni" --runtime runc)
pod() { CONTAINERS_CONF=$tmp/containers.conf command podman "${pod_flags[@]}" "$@"; }
# What podman creates outside the tempdir, so cleanup removes only what this run made.
podman_private_record
switch_pid=
cleanup() {
    set +e
    for id in $(b list -q 2>/dev/null); do b delete --force "$id" >/dev/null 2>&1; done
    b network rm nb >/dev/null 2>&1
    [ -z "$switch_pid" ] || kill "$switch_pid" 2>/dev/null
    pkill -P $$ iperf3 2>/dev/null
    if [ "$PODMAN" = 1 ]; then
        pod rm --all --force --time 0 >/dev/null 2>&1
        podman_private_restore "$tmp"
    fi
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .
b image import "$tmp/busybox.tar" busybox >/dev/null
b network create --subnet 10.231.77.0/24 nb >/dev/null
if [ "$PODMAN" = 1 ]; then
    # podman's default nofile/nproc limits exceed this host's hard RLIMIT_NOFILE (20000).
    printf '%s\n' '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' \
        '[network]' 'network_backend = "cni"' > "$tmp/containers.conf"
    tar --numeric-owner --exclude=./.berth-rootfs -C "$tmp/rootfs" -cf "$tmp/pod.tar" .
    pod import "$tmp/pod.tar" "$pod_image" >/dev/null 2>&1
fi

# gbit SERVER_IP CLIENT_ID SERVER_ID: iperf3 client in CLIENT's namespace, server in SERVER's.
gbit() {
    local ip=$1 client=$2 server=$3
    b join --net "$server" -- "$(command -v iperf3)" -s -1 -B "$ip" >/dev/null 2>&1 &
    local spid=$!
    sleep 0.5
    b join --net "$client" -- "$(command -v iperf3)" -c "$ip" -t "$SECS" -J 2>/dev/null |
        jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100'
    wait "$spid" || true
}
rtt_ms() {
    b join --net "$1" -- "$(command -v ping)" -q -c 50 -i 0.01 "$2" 2>/dev/null |
        awk -F/ '/^rtt/ { print $5 }'
}

b run -d --name s1 --net bridge:nb --ip 10.231.77.10 busybox sleep 1000 >/dev/null
b run -d --name c1 --net bridge:nb --ip 10.231.77.11 busybox sleep 1000 >/dev/null
b switch --socket "$tmp/sw.sock" >/dev/null 2>&1 &
switch_pid=$!
for _ in $(seq 50); do [ -S "$tmp/sw.sock" ] && break; sleep 0.1; done
b run -d --name s2 --net "switch:$tmp/sw.sock" --ip 10.231.78.10/24 busybox sleep 1000 >/dev/null
b run -d --name c2 --net "switch:$tmp/sw.sock" --ip 10.231.78.11/24 busybox sleep 1000 >/dev/null
# ROUNDS alternating bridge and switch runs; the medians are reported.
bg=(); sg=()
for ((r = 0; r < ROUNDS; r++)); do
    bg+=("$(gbit 10.231.77.10 c1 s1)")
    sg+=("$(gbit 10.231.78.10 c2 s2)")
done
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
bridge_gbit=$(med "${bg[@]}")
switch_gbit=$(med "${sg[@]}")
bridge_rtt=$(rtt_ms c1 10.231.77.10)
switch_rtt=$(rtt_ms c2 10.231.78.10)

iperf3 -s -1 -B 127.0.0.1 >/dev/null 2>&1 &
lo_server=$!
sleep 0.5
lo_gbit=$(iperf3 -c 127.0.0.1 -t "$SECS" -J | jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100')
wait "$lo_server" || true
lo_rtt=$(ping -q -c 50 -i 0.01 127.0.0.1 | awk -F/ '/^rtt/ { print $5 }')

# The cost of a bridged start: medians of N `run --rm ... true` with and without a bridge,
# berth and podman+runc interleaved; one warm-up round first (podman creates its bridge then).
s_bn=(); s_bb=(); s_pn=(); s_pb=()
for ((i = -1; i < N; i++)); do
    t0=${EPOCHREALTIME/./}; b run --rm --net none busybox true >/dev/null; t_bn=$((${EPOCHREALTIME/./} - t0))
    t0=${EPOCHREALTIME/./}; b run --rm --net bridge:nb busybox true >/dev/null; t_bb=$((${EPOCHREALTIME/./} - t0))
    if [ "$PODMAN" = 1 ]; then
        t0=${EPOCHREALTIME/./}; pod run --rm --network none "$pod_image" true >/dev/null; t_pn=$((${EPOCHREALTIME/./} - t0))
        t0=${EPOCHREALTIME/./}; pod run --rm --network bridge "$pod_image" true >/dev/null; t_pb=$((${EPOCHREALTIME/./} - t0))
    fi
    [ "$i" -ge 0 ] || continue
    s_bn+=("$t_bn"); s_bb+=("$t_bb")
    [ "$PODMAN" != 1 ] || { s_pn+=("$t_pn"); s_pb+=("$t_pb"); }
done
median_ms() {
    printf '%s\n' "$@" | sort -n |
        awk '$1 != "" { v[++n] = $1 } END { if (n) printf "%.2f", v[int((n + 1) / 2)] / 1000; else printf "0" }'
}
none_ms=$(median_ms "${s_bn[@]}")
bridge_ms=$(median_ms "${s_bb[@]}")
pnone_ms=$(median_ms "${s_pn[@]}")
pbridge_ms=$(median_ms "${s_pb[@]}")

printf '\n%-34s %10s %10s\n' "path" "Gbit/s" "rtt (ms)"
printf '%-34s %10s %10s\n' "container-container, bridge" "$bridge_gbit" "$bridge_rtt"
printf '%-34s %10s %10s\n' "container-container, tap switch" "$switch_gbit" "$switch_rtt"
printf '%-34s %10s %10s\n' "host loopback (reference)" "$lo_gbit" "$lo_rtt"
awk -v s="$switch_gbit" -v b="$bridge_gbit" 'BEGIN { if (b > 0) printf "switch/bridge throughput ratio: %.2f\n", s / b }'
printf '\n%-40s %10s %8s %7s\n' "run --rm busybox true, median of $N (ms)" "net none" "bridge" "added"
printf '%-40s %10.2f %8.2f %7.2f\n' "berth" "$none_ms" "$bridge_ms" "$(awk -v n="$none_ms" -v b="$bridge_ms" 'BEGIN { print b - n }')"
if [ "$PODMAN" = 1 ]; then
    printf '%-40s %10.2f %8.2f %7.2f\n' "podman 4.3 + runc" "$pnone_ms" "$pbridge_ms" "$(awk -v n="$pnone_ms" -v b="$pbridge_ms" 'BEGIN { print b - n }')"
    awk -v bn="$none_ms" -v bb="$bridge_ms" -v pn="$pnone_ms" -v pb="$pbridge_ms" 'BEGIN {
        if (pb - pn > 0) printf "time added by a bridge, berth/podman+runc: %.2f\n", (bb - bn) / (pb - pn)
        if (pb > 0) printf "bridged start, berth/podman+runc: %.2f\n", bb / pb }'
fi
