#!/usr/bin/env bash
# bench/net.sh — container networking, side by side in one run (never part of the tests):
#   TCP throughput (iperf3) between two containers over a berth bridge, over the berth tap
#   switch, and over the host's loopback for reference; round-trip latency (ping) over each;
#   and the time `--net bridge` adds to `berth run --rm IMAGE true` (against `--net none`).
# iperf3 and ping run from the host inside each container's network namespace with
# `berth join --net`, so the busybox image needs no iperf3 of its own.
# Env: BERTH, SECS (iperf3 seconds per run, default 5), N (runs for the start-cost median, 20).
# Needs root, iperf3, busybox-static, iputils-ping. Traffic stays on this machine.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
SECS=${SECS:-5}
N=${N:-20}
[ "$(id -u)" -eq 0 ] || { echo "net.sh: run as root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "net.sh: iperf3 missing (apt-get install iperf3)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-netbench.XXXXXX)
b() { "$BERTH" --root "$tmp/state" --image-root "$tmp/images" "$@"; }
switch_pid=
cleanup() {
    for id in $(b list -q 2>/dev/null); do b delete --force "$id" >/dev/null 2>&1 || true; done
    b network rm nb >/dev/null 2>&1 || true
    [ -z "$switch_pid" ] || kill "$switch_pid" 2>/dev/null || true
    pkill -P $$ iperf3 2>/dev/null || true
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
tar -C "$tmp/rootfs" -cf "$tmp/busybox.tar" .
b image import "$tmp/busybox.tar" busybox >/dev/null
b network create --subnet 10.231.77.0/24 nb >/dev/null

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
bridge_gbit=$(gbit 10.231.77.10 c1 s1)
bridge_rtt=$(rtt_ms c1 10.231.77.10)

b switch --socket "$tmp/sw.sock" >/dev/null 2>&1 &
switch_pid=$!
for _ in $(seq 50); do [ -S "$tmp/sw.sock" ] && break; sleep 0.1; done
b run -d --name s2 --net "switch:$tmp/sw.sock" --ip 10.231.78.10/24 busybox sleep 1000 >/dev/null
b run -d --name c2 --net "switch:$tmp/sw.sock" --ip 10.231.78.11/24 busybox sleep 1000 >/dev/null
switch_gbit=$(gbit 10.231.78.10 c2 s2)
switch_rtt=$(rtt_ms c2 10.231.78.10)

iperf3 -s -1 -B 127.0.0.1 >/dev/null 2>&1 &
lo_server=$!
sleep 0.5
lo_gbit=$(iperf3 -c 127.0.0.1 -t "$SECS" -J | jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100')
wait "$lo_server" || true
lo_rtt=$(ping -q -c 50 -i 0.01 127.0.0.1 | awk -F/ '/^rtt/ { print $5 }')

# The cost of a bridged start: medians of N `run --rm` with and without --net bridge.
median_ms() {
    local net=$1 i t0 s=()
    for ((i = 0; i < N; i++)); do
        t0=${EPOCHREALTIME/./}
        b run --rm --net "$net" busybox true >/dev/null
        s+=($(( (${EPOCHREALTIME/./} - t0) )))
    done
    printf '%s\n' "${s[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1000 }'
}
none_ms=$(median_ms none)
bridge_ms=$(median_ms bridge:nb)

printf '\n%-34s %10s %10s\n' "path" "Gbit/s" "rtt (ms)"
printf '%-34s %10s %10s\n' "container-container, bridge" "$bridge_gbit" "$bridge_rtt"
printf '%-34s %10s %10s\n' "container-container, tap switch" "$switch_gbit" "$switch_rtt"
printf '%-34s %10s %10s\n' "host loopback (reference)" "$lo_gbit" "$lo_rtt"
awk -v s="$switch_gbit" -v b="$bridge_gbit" 'BEGIN { if (b > 0) printf "switch/bridge throughput ratio: %.2f\n", s / b }'
printf 'berth run --rm busybox true: --net none %s ms, --net bridge %s ms (median of %d)\n' \
    "$none_ms" "$bridge_ms" "$N"
