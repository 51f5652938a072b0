#!/usr/bin/env bash
# rss.sh — where the resident pages of `berth create` are. Never part of the tests.
#
# Usage: bench/rss.sh          (as root)
# Env:   BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth), CRUN (default crun)
#        N     creates for the peak figure (default 10; the median is printed)
#
# Prints three tables:
#   1. peak RSS of one `create` of /bin/true (GNU time's %M, as bench.sh), berth and crun, and
#      the size(1) of berth;
#   2. berth's Rss at its createRuntime hook (the container is set up, berth waits on the
#      handshake: the peak is near), from /proc/$PPID/smaps, split into text, rodata, data+bss,
#      heap, stack and the rest, with VmHWM at that moment;
#   3. berth's page faults per phase, from `perf trace -F all` of one create: the exe guard's
#      first image; start-up (execveat to the guard's access check); the command line (clap,
#      up to the backstop's access check); config parse and setup (up to clone3); after clone3
#      (handshake, state, exit). Each split by what faulted: the binary's file pages (text and
#      rodata: one fault maps a 64 KiB fault-around window), anonymous pages (data, bss, heap,
#      mmap), the stack.
# crun 1.8 runs in a private mount namespace without /sys/fs/cgroup/unified, as in bench.sh.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=bench/runtimes.sh
. "$repo/bench/runtimes.sh"
N=${N:-10}
CRUN=${CRUN:-crun}
[ "$(id -u)" -eq 0 ] || { echo "rss: run as root" >&2; exit 1; }
for t in perf jq /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "rss: $t missing (scripts/debian-packages)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/berth-rss.XXXXXX)
cleanup() {
    delete_all berth "$BERTH" "$tmp/root-berth"
    delete_all crun "$CRUN" "$tmp/root-crun"
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/b" /bin/true
# The same bundle with a createRuntime hook that copies its parent's (berth's) smaps.
mkdir -p "$tmp/bh"
jq --arg out "$tmp" '.hooks.createRuntime = [{path: "/bin/sh",
    args: ["sh", "-c", "cat /proc/$PPID/smaps > \($out)/smaps; cat /proc/$PPID/status > \($out)/status"]}]' \
    "$tmp/b/config.json" > "$tmp/bh/config.json"

median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1024 }'; }
peak() { # peak NAME: median %M of N creates of runtime NAME (binary rt), in MiB
    local name=$1 i
    for ((i = 0; i < N; i++)); do
        in_ns "$name" /usr/bin/time -f %M -o "$tmp/m" "${rt[@]}" --root "$tmp/root-$name" create --bundle "$tmp/b" "rss-$$-$i" \
            </dev/null >/dev/null
        tail -n 1 "$tmp/m"
        in_ns "$name" "${rt[@]}" --root "$tmp/root-$name" delete --force "rss-$$-$i" >/dev/null
    done | median
}
rt=("$BERTH"); berth_peak=$(peak berth)
rt=("$CRUN"); crun_peak=$(peak crun)

echo "## 1. Peak RSS of create (median of $N), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| | berth | crun | berth/crun |"
echo "| --- | --- | --- | --- |"
echo "| peak RSS (MiB) | $berth_peak | $crun_peak | $(awk -v a="$berth_peak" -v b="$crun_peak" 'BEGIN { printf "%.2f", a / b }') |"
echo
size "$BERTH" | awk 'NR == 2 { printf "berth: text %d, data %d, bss %d bytes; ", $1, $2, $3 }'
echo "file $(stat -c %s "$BERTH") bytes"
echo

"$BERTH" --root "$tmp/root-berth" create --bundle "$tmp/bh" "rss-$$-hook" </dev/null >/dev/null
"$BERTH" --root "$tmp/root-berth" delete --force "rss-$$-hook" >/dev/null
echo "## 2. berth's Rss at the createRuntime hook (KiB)"
echo
# A static non-PIE binary: its file maps (r-x text, r-- rodata, rw- data), then the anonymous
# bss right after them, [heap], [stack], and anonymous mmaps (large allocations, alt stacks).
awk '
    /^[0-9a-f]+-[0-9a-f]+ / {
        perms = $2; path = $6
        if (path == "[heap]") kind = "heap"
        else if (path == "[stack]") kind = "stack"
        else if (path ~ /^\[/) kind = "kernel (vdso, vvar)"
        else if (path != "") {
            kind = perms ~ /x/ ? "text" : perms ~ /w/ ? "data+bss" : "rodata"
            next_is_bss = perms ~ /w/; cur = kind; next
        } else kind = next_is_bss ? "data+bss" : "anonymous mmap"
        next_is_bss = 0; cur = kind; next
    }
    /^Rss:/ { rss[cur] += $2; total += $2 }
    END {
        print "| text | rodata | data+bss | heap | stack | anonymous mmap | kernel | total |"
        print "| --- | --- | --- | --- | --- | --- | --- | --- |"
        printf "| %d | %d | %d | %d | %d | %d | %d | %d |\n", rss["text"], rss["rodata"], rss["data+bss"],
            rss["heap"], rss["stack"], rss["anonymous mmap"], rss["kernel (vdso, vvar)"], total
    }' "$tmp/smaps"
echo
grep -E '^(VmHWM|VmRSS|RssAnon|RssFile)' "$tmp/status" | tr -s ' \t' ' ' | paste -sd ';' | sed 's/;/; /g'
echo

echo "## 3. berth's page faults per phase (one create under perf trace -F all)"
echo
perf trace -F all -e 'execveat,access,clone3' -o "$tmp/trace" -- \
    "$BERTH" --root "$tmp/root-berth" create --bundle "$tmp/b" "rss-$$-trace" </dev/null >/dev/null
"$BERTH" --root "$tmp/root-berth" delete --force "rss-$$-trace" >/dev/null
# perf prints a syscall when it returns (the execveat that succeeds, never): phases are told
# apart by the start time of the marker syscalls, read in a first pass. The first line's pid is
# berth's; the container's init (after clone3) is another pid.
awk '
    !match($0, /\/[0-9]+ /) { next }
    { p = substr($0, RSTART + 1, RLENGTH - 2) }
    pid == "" { pid = p }
    p != pid { if (FNR == NR && $0 ~ /fault/) child++; next }
    FNR == NR {
        if ($0 ~ /execveat\(/) exec_at = $1
        else if ($0 ~ /access\(.*EROFS/) ro[++nro] = $1
        else if ($0 ~ /clone3\(/ && clone_at == "") clone_at = $1
        next
    }
    /fault/ {
        t0 = $1 + 0
        phase = t0 < exec_at ? 0 : t0 < ro[1] ? 1 : t0 < ro[2] ? 2 : t0 < clone_at ? 3 : 4
        k = $0 ~ /=> \[stack\]/ ? "stack" : $0 ~ /=> (\/\/anon|\[heap\]|0x)/ ? "anon" : $0 ~ /=> \// ? "file" : "other"
        n[phase, k]++; t[phase]++
    }
    END {
        name[0] = "exe guard (first image)"; name[1] = "start-up"; name[2] = "command line (clap)"
        name[3] = "config and setup, to clone3"; name[4] = "after clone3 (handshake, state, exit)"
        print "| phase | file (text, rodata, data) | anonymous (bss, heap, mmap) | stack | all |"
        print "| --- | --- | --- | --- | --- |"
        for (i = 0; i <= 4; i++) {
            printf "| %s | %d | %d | %d | %d |\n", name[i], n[i, "file"], n[i, "anon"], n[i, "stack"], t[i]
            all += t[i]
        }
        printf "| total | | | | %d |\n\n(the container init, a copy-on-write child: %d faults)\n", all, child
    }' "$tmp/trace" "$tmp/trace"
