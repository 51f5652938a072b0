#!/usr/bin/env bash
# order.sh — write crates/berth/symbol-order.txt: the functions the runtime commands run, in the
# order they first run, which the linker puts first in `berth`'s text (crates/berth/build.rs).
# The kernel maps text in 64 KiB fault-around windows, so code the hot path runs, spread over
# the binary, makes nearly all of it resident; packed together it takes a few windows
# (bench/README.md, "Session 6: memory"). Never part of the tests; run it again when the
# figures of bench/rss.sh drift (names that no longer exist are skipped by the linker).
#
# Usage: bench/order.sh          (as root)
# Env:   N  cycles of create, state, start, delete, run, run -d, exec, list (default 2)
#
# How: link berth with a link map (the address of every function), put a uprobe on every
# function entry of a copy of it (one tracefs instance of its own), run the commands, and list
# the functions that were hit, by the time of their first hit.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
N=${N:-2}
[ "$(id -u)" -eq 0 ] || { echo "order: run as root" >&2; exit 1; }
tracing=/sys/kernel/tracing
[ -w "$tracing/uprobe_events" ] || { echo "order: no uprobes in $tracing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-order.XXXXXX)
group=berthord$$
inst=$tracing/instances/berth-order-$$
cleanup() {
    local id
    for id in $("$tmp/berth" --root "$tmp/root" list -q 2>/dev/null); do
        "$tmp/berth" --root "$tmp/root" delete --force "$id" >/dev/null 2>&1 || true
    done
    # Every step goes on when one fails: the probes and the tempdir must go.
    [ ! -d "$inst" ] || { echo 0 > "$inst/events/$group/enable" 2>/dev/null; rmdir "$inst"; } || true
    # Remove only this run's probes, one write each (a probe still busy goes on a later pass).
    for _ in 1 2 3; do
        grep -o "^p:$group/[^ ]*" "$tracing/uprobe_events" 2>/dev/null | sed 's/^p:/-:/' |
            while read -r probe; do echo "$probe" >> "$tracing/uprobe_events" 2>/dev/null || true; done ||
            true # no probe left: grep fails, which must not end the cleanup (set -e) before rm
    done
    [ ! -d "$inst" ] || rmdir "$inst" || true
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The release binary, as `cargo build --release` of the workspace links it (its features, so
# its symbol names: `cargo build -p berth` or `cargo rustc -p berth` unify fewer features and
# hash some crates' names differently), plus a link map, which crates/berth/build.rs adds when
# BERTH_LINK_MAP names a file (the next cargo build links it again without).
(cd "$repo" && BERTH_LINK_MAP=$tmp/map cargo build --release -q)
cp "$BERTH" "$tmp/berth"

# Every input section of .text: its address and the name the ordering file takes.
text_vaddr_off=$(readelf -lW "$tmp/berth" | awk '$1 == "LOAD" && / R E / { print $3, $2; exit }')
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
    ' "$tmp/map" > "$tmp/functions"
echo "order: $(wc -l < "$tmp/functions") functions" >&2

n=0
while read -r offset name; do
    echo "p:$group/f$n $tmp/berth:0x$offset"
    echo "$name" >> "$tmp/names"
    n=$((n + 1))
done < "$tmp/functions" >> "$tracing/uprobe_events"
mkdir "$inst"
# Room for every hit: a full ring buffer would overwrite the first ones.
echo 65536 > "$inst/buffer_size_kb"
echo 1 > "$inst/events/$group/enable"

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/b" /bin/true
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/bs" sleep 1000
rt() { "$tmp/berth" --root "$tmp/root" "$@" </dev/null >/dev/null; }
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
echo 0 > "$inst/events/$group/enable"

grep -q "entries-in-buffer/entries-written: \([0-9]*\)/\1 " "$inst/trace" ||
    { echo "order: the trace buffer overflowed; the ordering would be incomplete" >&2; exit 1; }
# The trace lists hits in time order: each function at its first hit.
grep -oE ' f[0-9]+: ' "$inst/trace" | tr -dc '0-9\n' |
    awk 'NR == FNR { name[FNR - 1] = $0; next } !($1 in seen) { seen[$1]; print name[$1] }' \
        "$tmp/names" - > "$repo/crates/berth/symbol-order.txt"
echo "order: $(wc -l < "$repo/crates/berth/symbol-order.txt") functions ran; crates/berth/symbol-order.txt written" >&2
