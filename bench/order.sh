#!/usr/bin/env bash
# order.sh — write each executable's symbol order: the functions it runs, in the order they
# first run, which the linker puts first in its text (crates/berth/build.rs, the build script
# of both): crates/berth/symbol-order.txt (the runtime commands) and
# crates/berth-people/symbol-order.txt (berth-people's start and the container lifecycle:
# stop, ps, run first). The kernel maps text in 64 KiB fault-around windows, so code the hot
# path runs, spread over the binary, makes nearly all of it resident; packed together it takes
# a few windows (bench/README.md, "Session 6: memory", "Session 7: stop"). Never part of the
# tests; run it again when the figures of bench/rss.sh or bench/stop.sh drift (names that no
# longer exist are skipped by the linker).
#
# Usage: bench/order.sh [berth] [berth-people]    (as root; no argument: both)
# Env:   N  cycles of the workload (default 2): for berth create, state, start, delete, run,
#           run -d, exec, list; for berth-people (through berth, as users reach it) stop,
#           ps -a, run --rm, inspect, logs, rm -f of image-form containers
#
# How: link both with a link map (the address of every function), put a uprobe on every
# function entry of a copy of the executable (one tracefs instance of its own), run the
# workload, and list the functions that were hit, by the time of their first hit.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
N=${N:-2}
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(berth berth-people)
for bin in "${bins[@]}"; do
    case $bin in berth | berth-people) ;; *) echo "order: no symbol order for $bin" >&2; exit 2 ;; esac
done
[ "$(id -u)" -eq 0 ] || { echo "order: run as root" >&2; exit 1; }
tracing=/sys/kernel/tracing
[ -w "$tracing/uprobe_events" ] || { echo "order: no uprobes in $tracing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-order.XXXXXX)
group=
inst=$tracing/instances/berth-order-$$
rt() { "$tmp/berth" --root "$tmp/root" --image-root "$tmp/img" "$@" </dev/null >/dev/null; }
# One executable's probes and tracefs instance; every step goes on when one fails.
unprobe() {
    [ -n "$group" ] || return 0
    [ ! -d "$inst" ] || { echo 0 > "$inst/events/$group/enable" 2>/dev/null; rmdir "$inst"; } || true
    # Remove only this run's probes, one write each (a probe still busy goes on a later pass).
    for _ in 1 2 3; do
        grep -o "^p:$group/[^ ]*" "$tracing/uprobe_events" 2>/dev/null | sed 's/^p:/-:/' |
            while read -r probe; do echo "$probe" >> "$tracing/uprobe_events" 2>/dev/null || true; done ||
            true # no probe left: grep fails, which must not end the cleanup (set -e) before rm
    done
    [ ! -d "$inst" ] || rmdir "$inst" || true
    group=
}
cleanup() {
    local id
    for id in $(rt list -q 2>/dev/null; rt ps -a -q 2>/dev/null); do
        rt rm -f "$id" 2>/dev/null || rt delete --force "$id" 2>/dev/null || true
    done
    unprobe
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The release binaries, as `cargo build --release` of the workspace links them (its features,
# so its symbol names: `cargo build -p berth` or `cargo rustc -p berth` unify fewer features
# and hash some crates' names differently), plus link maps, which crates/berth/build.rs adds
# when BERTH_LINK_MAP_DIR names a directory (the next cargo build links them again without).
(cd "$repo" && BERTH_LINK_MAP_DIR=$tmp cargo build --release -q)
release=$(dirname -- "$BERTH")
# berth finds berth-people beside it, berth-people berth-monitor.
cp "$release/berth" "$release/berth-people" "$release/berth-monitor" "$tmp/"

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/b" /bin/true
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/bs" sleep 1000
tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
rt image import "$tmp/rootfs.tar" bb:latest

# The workloads, each run N times with the probes on.
workload_berth() {
    local i
    for ((i = 0; i < N; i++)); do
        rt create --bundle "$tmp/b" "o$$-$i"
        rt state "o$$-$i"
        rt start "o$$-$i"
        rt delete --force "o$$-$i"
        rt run --bundle "$tmp/b" "r$$-$i"
        rt run --detach --bundle "$tmp/bs" "e$$-$i"
        rt exec "e$$-$i" /bin/true
        rt list
        rt delete --force "e$$-$i"
    done
}
# stop first. The containers it stops are started before the probes are on: the monitor's
# spawn from a probed berth-people fails (ENOENT from the spawn, on this 6.18 kernel), so `run -d`
# and `start` are left out of the order.
prepare_berth-people() {
    local i
    for ((i = 0; i < N; i++)); do rt run -d --name "p$$-$i" --net none bb sleep 1000; done
}
workload_berth-people() {
    local i
    for ((i = 0; i < N; i++)); do
        rt stop -t 0 "p$$-$i"
        rt ps -a
        rt run --rm --net none bb true
        rt inspect "p$$-$i"
        rt logs "p$$-$i"
        rt rm -f "p$$-$i"
    done
}
prepare_berth() { :; }

# One executable: its functions probed while its workload runs, then its order file.
order_of() {
    local bin=$1 n offset name order
    "prepare_$bin"
    # Every input section of .text: its address and the name the ordering file takes.
    text_vaddr_off=$(readelf -lW "$tmp/$bin" | awk '$1 == "LOAD" && / R E / { print $3, $2; exit }')
    awk -v seg="$text_vaddr_off" '
        function hex(x, i, n) {
            n = 0; x = tolower(x); sub(/^0x/, "", x)
            for (i = 1; i <= length(x); i++) n = n * 16 + index("0123456789abcdef", substr(x, i, 1)) - 1
            return n
        }
        BEGIN { split(seg, s, " "); vaddr = hex(s[1]); off = hex(s[2]) }
        function entry(addr, name) { if (!(addr in seen)) { seen[addr]; printf "%x %s\n", addr - vaddr + off, name } }
        NF == 5 && $5 ~ /^\./ { intext = ($5 == ".text"); next }
        !intext { next }
        # An input section starts at a function entry: probe there. A Rust function has a
        # section of its own, .text.<mangled name>; a C object goes by its first symbol.
        /:\(\.text/ {
            sec = $0; sub(/.*:\(\.text\.?/, "", sec); sub(/\)$/, "", sec)
            sub(/^(unlikely|hot|startup|exit)\./, "", sec)
            start = hex($1)
            if (sec ~ /^(_R|_ZN)/) entry(start, sec); else pending = 1
            next
        }
        pending && NF >= 5 && hex($1) == start {
            name = $0; for (i = 0; i < 4; i++) sub(/^ *[^ ]+ +/, "", name); entry(start, name); pending = 0
        }
        ' "$tmp/$bin.map" > "$tmp/functions"
    echo "order: $bin: $(wc -l < "$tmp/functions") functions" >&2

    group=berthord_${bin//-/_}_$$
    : > "$tmp/names"
    n=0
    while read -r offset name; do
        echo "p:$group/f$n $tmp/$bin:0x$offset"
        echo "$name" >> "$tmp/names"
        n=$((n + 1))
    done < "$tmp/functions" >> "$tracing/uprobe_events"
    mkdir "$inst"
    # Room for every hit: a full ring buffer would overwrite the first ones.
    echo 65536 > "$inst/buffer_size_kb"
    echo 1 > "$inst/events/$group/enable"
    "workload_$bin"
    echo 0 > "$inst/events/$group/enable"

    grep -q "entries-in-buffer/entries-written: \([0-9]*\)/\1 " "$inst/trace" ||
        { echo "order: $bin: the trace buffer overflowed; the ordering would be incomplete" >&2; exit 1; }
    # The trace lists hits in time order: each function at its first hit.
    order=$repo/crates/$bin/symbol-order.txt
    grep -oE ' f[0-9]+: ' "$inst/trace" | tr -dc '0-9\n' |
        awk 'NR == FNR { name[FNR - 1] = $0; next } !($1 in seen) { seen[$1]; print name[$1] }' \
            "$tmp/names" - > "$order"
    echo "order: $bin: $(wc -l < "$order") functions ran; ${order#"$repo/"} written" >&2
    unprobe
}

for bin in "${bins[@]}"; do order_of "$bin"; done
