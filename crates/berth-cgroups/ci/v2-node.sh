#!/bin/sh
# cgroup v2 as a Kubernetes node uses it (issue 14 §3), checked with real berth containers on
# the pure v2 kernel of v2-guest.sh. Two modes:
#   v2-node.sh prepare ROOT   on the host (needs jq): bundles under ROOT/n/, from ROOT/b1/config.json
#   v2-node.sh check          in the guest (busybox sh): runs them, prints "node-v2 NAME: ok",
#                             "FAILED: why" or "skipped: why"; exits non-zero on any failure
# Each check reads what the kernel shows (cgroup files from inside or outside, /proc/PID/cgroup,
# processes left) and berth's --debug step log where the path taken is the point.
set -u

prepare() {
    root=$1
    base=$root/b1/config.json
    mib=1048576
    mk() { # name jq-filter
        mkdir -p "$root/n/$1"
        jq --arg name "$1" ".linux.cgroupsPath = \"/berth-node/\" + \$name | $2" "$base" \
            > "$root/n/$1/config.json"
    }
    # Memory QoS: reservation -> memory.low, swap (memory+swap) -> swap.max = swap - limit,
    # unified keys for memory.min/high, shares -> cpu.weight (runc 1.1.5: 512 -> 20).
    mk qos ".process.args = [\"sh\", \"-c\", \"cd /sys/fs/cgroup && for f in memory.max memory.low memory.min memory.high memory.swap.max cpu.weight pids.max; do echo \$f=\$(cat \$f); done\"]
        | .linux.resources = {memory: {limit: $((64 * mib)), reservation: $((8 * mib)), swap: $((96 * mib))},
                              cpu: {shares: 512}, pids: {limit: 32},
                              unified: {\"memory.min\": \"$((4 * mib))\", \"memory.high\": \"$((48 * mib))\"}}"
    mk huge ".process.args = [\"sh\", \"-c\", \"cd /sys/fs/cgroup && for f in hugetlb.2MB.max hugetlb.2MB.rsvd.max; do echo \$f=\$(cat \$f); done\"]
        | .linux.resources = {hugepageLimits: [{pageSize: \"2MB\", limit: $((4 * mib))}]}"
    mk badkey '.process.args = ["true"] | .linux.resources = {unified: {"../memory.max": "1"}}'
    mk badctl '.process.args = ["true"] | .linux.resources = {unified: {"nosuch.max": "1"}}'
    # No pid namespace: delete must find every process through the cgroup. They ignore
    # SIGTERM and keep forking.
    mk kill '.process.args = ["sh", "-c", "trap \"\" TERM; for i in 1 2 3 4 5 6 7 8; do sleep 1001 & done; while :; do sleep 1003 & sleep 1; done"]
        | .linux.namespaces |= map(select(.type != "pid")) | .linux.resources = {pids: {limit: 64}}'
    # 16 MiB and no swap: `tail /dev/zero` (started once the watch is up) is OOM-killed; the
    # shell lives on.
    mk oom ".process.args = [\"sh\", \"-c\", \"while [ ! -e /tmp/oom-go ]; do sleep 1; done; tail /dev/zero; exec sleep 1000\"]
        | .linux.resources = {memory: {limit: $((16 * mib)), swap: $((16 * mib))}}"
    mk exec '.process.args = ["sleep", "1000"] | .linux.resources = {cpu: {idle: 1}}'
}

B="/bin/berth --root /tmp/berth-node"
rc=0 bad=0
ok() { echo "node-v2 $1: ok"; }
fail() { echo "node-v2 $1: FAILED: $2"; rc=1; bad=1; }
skip() { echo "node-v2 $1: skipped: $2"; }
# until SECONDS COMMAND...: runs COMMAND each second until it succeeds (bounded, no timing claim).
until_ok() {
    n=$1; shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 1; n=$((n - 1))
    done
    return 1
}
gone() { [ ! -e "/sys/fs/cgroup/berth-node/$1" ]; }
want() { # check-name output expected-line...
    name=$1 out=$2; shift 2
    for line in "$@"; do
        printf '%s\n' "$out" | grep -qx "$line" || { fail "$name" "no line '$line' in: $out"; return; }
    done
    ok "$name"
}

check_qos() {
    out=$($B run --no-pivot --bundle /n/qos node-qos 2>&1)
    want "memory.low/min/high, swap.max, unified, cpu.weight" "$out" \
        memory.max=67108864 memory.low=8388608 memory.min=4194304 memory.high=50331648 \
        memory.swap.max=33554432 cpu.weight=20 pids.max=32
    gone qos || fail "qos cgroup removed" "/sys/fs/cgroup/berth-node/qos left"
}

check_hugetlb() {
    if ! grep -qw hugetlb /sys/fs/cgroup/cgroup.controllers || [ ! -d /sys/kernel/mm/hugepages/hugepages-2048kB ]; then
        skip hugetlb "no hugetlb controller or 2 MB pages in this kernel"
        return
    fi
    out=$($B run --no-pivot --bundle /n/huge node-huge 2>&1)
    if printf '%s\n' "$out" | grep -q '^hugetlb.2MB.rsvd.max=.'; then
        want "hugetlb.2MB.max and .rsvd.max" "$out" hugetlb.2MB.max=4194304 hugetlb.2MB.rsvd.max=4194304
    else
        want "hugetlb.2MB.max (no .rsvd.max in this kernel)" "$out" hugetlb.2MB.max=4194304
    fi
}

check_rdma() {
    if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
        skip rdma.max "no RDMA device in the guest (the write is unit-tested)"
    fi
}

check_unified_errors() {
    for c in "badkey ../memory.max" "badctl nosuch.max"; do
        set -- $c
        if out=$($B run --no-pivot --bundle "/n/$1" "node-$1" 2>&1); then
            fail "unified $2 refused" "run succeeded: $out"
        elif ! printf '%s' "$out" | grep -qF "\"$2\""; then
            fail "unified $2 refused" "error does not name the key: $out"
        elif ! gone "$1" || $B state "node-$1" >/dev/null 2>&1; then
            fail "unified $2 refused" "cgroup or state left behind"
        else
            ok "unified $2 refused, naming the key ($out)"
        fi
    done
}

check_kill() {
    name="delete kills a TERM-ignoring, forking container through cgroup.kill"
    $B run -d --no-pivot --bundle /n/kill node-kill >/dev/null 2>&1 || { fail "$name" "run -d failed"; return; }
    eight() { [ "$(ps | grep -c '[s]leep 1001')" -ge 8 ]; }
    until_ok 60 eight || fail "$name" "the container's 8 sleeps did not start"
    $B --debug --log /tmp/node-kill.log delete --force node-kill || fail "$name" "delete failed"
    left=$(ps | grep '[s]leep 100[13]')
    if [ -n "$left" ]; then
        fail "$name" "processes left: $left"
    elif ! gone kill; then
        fail "$name" "cgroup left: $(cat /sys/fs/cgroup/berth-node/kill/cgroup.procs)"
    elif ! grep -q 'cgroup.kill' /tmp/node-kill.log; then
        fail "$name" "delete did not use cgroup.kill: $(cat /tmp/node-kill.log)"
    else
        ok "$name"
    fi
}

check_oom_events() {
    name="events reports the OOM kill from a memory.events notification" bad=0
    rm -f /b/rootfs/tmp/oom-go
    $B run -d --no-pivot --bundle /n/oom node-oom >/dev/null 2>&1 || { fail "$name" "run -d failed"; return; }
    # An interval of an hour: only a notification can bring the oom event in time.
    $B events --interval 1h node-oom > /tmp/node-events 2>&1 &
    ev=$!
    has_line() { [ -s /tmp/node-events ]; }
    until_ok 60 has_line || fail "$name" "no first stats line"
    touch /b/rootfs/tmp/oom-go
    has_oom() { grep -q '"type":"oom"' /tmp/node-events; }
    until_ok 120 has_oom || fail "$name" "no oom event after the kill: $(cat /sys/fs/cgroup/berth-node/oom/memory.events)"
    $B delete --force node-oom || fail "$name" "delete failed"
    ended() { ! kill -0 "$ev" 2>/dev/null; }
    until_ok 60 ended || { kill "$ev"; fail "$name" "events did not end with the container"; }
    wait "$ev" || fail "$name" "events exited non-zero: $(cat /tmp/node-events)"
    ooms=$(grep -c '"type":"oom"' /tmp/node-events)
    [ "$ooms" = 1 ] || fail "$name" "$ooms oom events: $(cat /tmp/node-events)"
    grep -q '"type":"memory-pressure".*"max":[1-9]' /tmp/node-events ||
        fail "memory-pressure event" "none with max > 0: $(grep -v '"stats"' /tmp/node-events)"
    [ "$bad" = 0 ] && ok "$name; memory-pressure too"
}

check_exec_cgroup() {
    name="create and exec clone into the container's cgroup (CLONE_INTO_CGROUP)" bad=0
    $B --debug --log /tmp/node-create.log run -d --no-pivot --bundle /n/exec node-exec >/dev/null 2>&1 ||
        { fail "$name" "run -d failed"; return; }
    [ "$(cat /sys/fs/cgroup/berth-node/exec/cpu.idle)" = 1 ] && ok "cpu.idle (read outside)" ||
        fail "cpu.idle" "cpu.idle is $(cat /sys/fs/cgroup/berth-node/exec/cpu.idle)"
    $B --debug --log /tmp/node-exec.log exec -d --pid-file /tmp/node-exec.pid node-exec sleep 999 ||
        fail "$name" "exec failed"
    init=$($B state node-exec | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    for p in "$init" "$(cat /tmp/node-exec.pid)"; do
        cg=$(cat "/proc/$p/cgroup")
        [ "$cg" = "0::/berth-node/exec" ] || fail "$name" "pid $p is in $cg"
    done
    grep -q 'exec: clone the process' /tmp/node-exec.log || fail "$name" "no exec steps logged"
    if grep -q 'into the cgroup' /tmp/node-create.log /tmp/node-exec.log; then
        fail "$name" "a cgroup.procs write was still needed: $(grep 'into the cgroup' /tmp/node-*.log)"
    fi
    $B delete --force node-exec || fail "$name" "delete failed"
    gone exec || fail "$name" "cgroup left"
    [ "$bad" = 0 ] && ok "$name"
}

case ${1:-} in
prepare) prepare "$2" ;;
check)
    check_qos
    check_hugetlb
    check_rdma
    check_unified_errors
    check_kill
    check_oom_events
    check_exec_cgroup
    exit $rc
    ;;
*) echo "usage: $0 prepare ROOT | check" >&2; exit 2 ;;
esac
