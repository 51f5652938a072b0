#!/usr/bin/env bash
# breakdown.sh — where the time of create, start, exec and delete goes. Never part of the tests.
#
# Usage: bench/breakdown.sh          (as root)
# Env:   BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth), CRUN (default crun)
#        N     samples (default 20)
#        T     traced cycles per runtime (default 3; the median of each group is printed)
#
# Prints three tables:
#   1. the floor: bash fork+exec of /bin/true, and of `berth --version` (process start alone);
#   2. berth's own step timings (`--debug`), median per step over N create/start/exec/delete
#      cycles, beside the median wall time of each command (what is not in a step is process
#      start, the exe guard's re-exec, the command line, exit);
#   3. `strace -f -T` of T create+start+exec+delete cycles per runtime: the time spent inside the
#      kernel (strace's -T) summed per group of syscalls, median over the T cycles, with the
#      number of calls: the kernel's share and where it goes.
#      strace slows every syscall down: compare groups, not totals with table 2.
# crun 1.8 runs in a private mount namespace without /sys/fs/cgroup/unified, as in bench.sh.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=bench/runtimes.sh
. "$repo/bench/runtimes.sh"
N=${N:-20}
T=${T:-3}
CRUN=${CRUN:-crun}
[ "$(id -u)" -eq 0 ] || { echo "breakdown: run as root" >&2; exit 1; }
command -v strace >/dev/null || { echo "breakdown: strace missing (apt-get install strace)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-breakdown.XXXXXX)
cleanup() {
    delete_all berth "$BERTH" "$tmp/root-berth"
    delete_all crun "$CRUN" "$tmp/root-crun"
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/bundle-true" /bin/true
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/bundle-sleep" sleep 1000

# Timestamps: ${EPOCHREALTIME/./} (µs), read in place; a $(…) around it would fork a subshell
# inside every sample (~0.8 ms of fork and exit here, more beside a busy core).
# median of the numbers on stdin, in ms with 2 decimals (input in µs)
median_ms() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print "n/a"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
timed() { local t0; t0=${EPOCHREALTIME/./}; "$@" </dev/null >/dev/null; echo $((${EPOCHREALTIME/./} - t0)); }

echo "breakdown: N=$N, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- 1. the floor ------------------------------------------------------------------------------
for ((i = 0; i < N; i++)); do timed /bin/true >> "$tmp/floor.true"; done
for ((i = 0; i < N; i++)); do timed "$BERTH" --version >> "$tmp/floor.version"; done
printf '\n%-52s %8s\n' "floor (median of $N, ms)" wall
printf '%-52s %8s\n' "fork+exec of /bin/true from bash" "$(median_ms < "$tmp/floor.true")"
printf '%-52s %8s\n' "berth --version (start, parse, exit)" "$(median_ms < "$tmp/floor.version")"

# --- 2. berth's steps --------------------------------------------------------------------------
B=("$BERTH" --root "$tmp/root-berth" --debug --log "$tmp/steps.log")
for ((i = 0; i < N; i++)); do
    timed "${B[@]}" create --bundle "$tmp/bundle-true" "bd$$-$i" >> "$tmp/cmd.create"
    timed "${B[@]}" start "bd$$-$i" >> "$tmp/cmd.start"
    timed "${B[@]}" delete --force "bd$$-$i" >> "$tmp/cmd.delete"
done
"$BERTH" --root "$tmp/root-berth" run --detach --bundle "$tmp/bundle-sleep" "bd$$-x" </dev/null >/dev/null
for ((i = 0; i < N; i++)); do timed "${B[@]}" exec "bd$$-x" /bin/true >> "$tmp/cmd.exec"; done
"$BERTH" --root "$tmp/root-berth" delete --force "bd$$-x" >/dev/null
for ((i = 0; i < N; i++)); do timed "${B[@]}" run --bundle "$tmp/bundle-true" "bdr$$-$i" >> "$tmp/cmd.run"; done
# msg="create: clone the init: 1.177527ms" -> "create: clone the init<TAB>µs"
perl -ne 'next unless /msg="(.*): ([0-9.]+)(ns|µs|ms|s)"/;
    my %f = (ns => 0.001, "µs" => 1, ms => 1000, s => 1e6);
    printf "%s\t%.3f\n", $1, $2 * $f{$3}' "$tmp/steps.log" > "$tmp/steps.tsv"
printf '\n%-60s %8s\n' "berth --debug steps (median of $N, ms)" median
for cmd in create start exec delete run; do
    printf '%-60s %8s\n' "$cmd: the whole command (wall, from bash)" "$(median_ms < "$tmp/cmd.$cmd")"
    [ "$cmd" = run ] && continue
    cut -f1 "$tmp/steps.tsv" | grep "^$cmd: \|^kill: " | awk '!seen[$0]++' | while read -r name; do
        case $cmd:$name in delete:kill:*|*:"$cmd: "*) ;; *) continue ;; esac
        printf '%-60s %8s\n' "  ${name#"$cmd: "}" \
            "$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$tmp/steps.tsv" | median_ms)"
    done
done

# --- 3. the kernel's share, per group of syscalls ------------------------------------------------
# One traced create, start, exec and delete per runtime; strace -f follows the init and the
# re-executions. -y names the files, so cgroup and state writes are told apart.
trace() {
    local name=$1 root=$2 k=$3; shift 3
    local rt=("$@" --root "$root") out=$tmp/strace.$name id=bt$$-$k
    strace -f -T -y -qq -o "$out.create.$k" "${rt[@]}" create --bundle "$tmp/bundle-sleep" "$id" </dev/null >/dev/null &
    local pid=$!
    # The traced init waits for start: strace ends when it has executed.
    # (grep without -q: the runtime must not write into a closed pipe.)
    while ! "${rt[@]}" state "$id" 2>/dev/null | grep '"created"' >/dev/null; do sleep 0.05; done
    strace -f -T -y -qq -o "$out.start.$k" "${rt[@]}" start "$id" </dev/null >/dev/null
    strace -f -T -y -qq -o "$out.exec.$k" "${rt[@]}" exec "$id" /bin/true </dev/null >/dev/null
    strace -f -T -y -qq -o "$out.delete.$k" "${rt[@]}" delete --force "$id" </dev/null >/dev/null
    wait "$pid"
}
export tmp
for ((k = 0; k < T; k++)); do
    trace berth "$tmp/root-berth" "$k" "$BERTH"
    in_ns crun bash -c "$(declare -f trace); trace crun '$tmp/root-crun' $k '$CRUN'"
done

classify() {
    perl -e '
    my ($statedir) = @ARGV; my %sum; my %n; my $total = 0;
    while (<STDIN>) {
        my ($call) = /^\d+\s+(?:<\.\.\. )?(\w+)/ or next;
        my ($t) = /<([0-9.]+)>$/ or next;
        my $g;
        if (($call =~ /^(recvfrom|recvmsg|accept4?|poll|ppoll|wait4|waitid|read)$/ || /exec\.fifo/)
            && $t > 0.0005 && !/cgroup/) { $g = "waiting for the other process (not kernel work)" }
        elsif ($call =~ /^clone3?$|^unshare$|^setns$/) { $g = "clone/unshare/setns (namespaces)" }
        elsif (/\/sys\/fs\/cgroup/ && $call =~ /^write/ && /cgroup\.procs|tasks/) { $g = "cgroup join (cgroup.procs write)" }
        elsif (/\/sys\/fs\/cgroup/ || $call =~ /^(mkdir|rmdir)/ && /cgroup/) { $g = "cgroup create/limits/remove" }
        elsif ($call eq "pivot_root") { $g = "pivot_root" }
        elsif ($call =~ /^(mount|umount2|open_tree|move_mount|mount_setattr|fsopen|fsconfig|fsmount|fspick)$/) { $g = "mounts (mount API, incl. exe guard)" }
        elsif ($call =~ /^(mknodat?|symlinkat?)$/) { $g = "device nodes and links" }
        elsif ($call eq "seccomp" || /PR_SET_SECCOMP/) { $g = "seccomp" }
        elsif ($call =~ /^(capset|capget|setres[ug]id|setgroups|set[ug]id)$/ || /PR_CAP|PR_SET_KEEPCAPS/) { $g = "capabilities and ids" }
        elsif ($call =~ /^execve/) { $g = "execve (exe guard re-exec and the program)" }
        elsif (index($_, $statedir) >= 0) { $g = "state dir (files, renames, sockets)" }
        elsif ($call =~ /^(mmap|munmap|mprotect|brk|madvise)$/) { $g = "memory (mmap, brk)" }
        else { $g = "other" }
        $sum{$g} += $t; $n{$g}++;
        $total += $t unless $g =~ /^waiting/;
    }
    for my $g (sort { $sum{$b} <=> $sum{$a} } keys %sum) {
        printf "%s\t%d\t%.2f\n", $g, $n{$g}, $sum{$g} * 1000;
    }
    printf "kernel total (without waits)\t-\t%.2f\n", $total * 1000;
    ' "$1"
}
# median per group over the T cycles: "SUM (CALLS)"
med_group() {
    local g=$1; shift
    cat "$@" | awk -F'\t' -v g="$g" '$1 == g { print $3 "\t" $2 }' | sort -n |
        awk -F'\t' '{ v[NR] = $1; c[NR] = $2 } END { if (NR) printf "%.2f (%s)", v[int((NR + 1) / 2)], c[int((NR + 1) / 2)] }'
}
for op in create start exec delete; do
    printf '\n%-52s %14s %14s\n' "strace -f -T: $op, ms in syscalls (calls)" berth crun
    for ((k = 0; k < T; k++)); do
        classify "$tmp/root-berth" < "$tmp/strace.berth.$op.$k" > "$tmp/k.berth.$k"
        classify "$tmp/root-crun" < "$tmp/strace.crun.$op.$k" > "$tmp/k.crun.$k"
    done
    cut -f1 "$tmp"/k.berth.* "$tmp"/k.crun.* | grep -v '^kernel total' | awk '!seen[$0]++' |
        sort | while read -r g; do
        printf '%-52s %14s %14s\n' "$g" "$(med_group "$g" "$tmp"/k.berth.*)" "$(med_group "$g" "$tmp"/k.crun.*)"
    done
    g="kernel total (without waits)"
    printf '%-52s %14s %14s\n' "$g" "$(med_group "$g" "$tmp"/k.berth.*)" "$(med_group "$g" "$tmp"/k.crun.*)"
done
