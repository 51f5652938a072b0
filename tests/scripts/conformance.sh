#!/usr/bin/env bash
# conformance.sh — berth-checker (crates/berth-checker) run as the process of a container, over a
# matrix of configs, against berth and, as oracles, runc and crun. The checker reads the config.json
# the container was started with (bind-mounted read-only at /.berth-checker) and prints TAP, one
# line per field it verified from inside.
#
# Cases: `runc spec`'s and `$BERTH spec`'s defaults; the client fixtures (containerd 1.6 ctr, Docker 20.10, podman 4.3,
# containerd 2.3 Kubernetes sandboxes and containers), adapted to run here; and one variation per
# field. A check berth fails where runc or crun passes fails this test, unless the case is in
# KNOWN_BERTH_GAPS (reported as TODO). A check that every runtime fails, and one an oracle fails
# and berth passes, are listed, not failed (KNOWN_DIFFERENCES explains those seen here; see
# docs/testing.md).
#
# Output: TAP (one line per case, for berth), then a table case × runtime.
# Env: BERTH (runtime under test), RUNC (default runc), CRUN (default crun), ORACLES (default
#      "runc crun"; empty runs berth alone), CHECKER (default target/.../berth-checker),
#      CASES (a regex: only matching cases), FIXTURES (client-configs directory),
#      VERBOSE=1 (print every runtime's TAP), KEEP=1 (keep the bundles and outputs in /tmp).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"

# Cases berth fails today for a reason another branch fixes: case → issue item. They report TODO.
declare -A KNOWN_BERTH_GAPS=(
)
# Where an oracle does not do what the config asks and berth does, as seen on Debian 12's runc
# 1.1.5 and crun 1.8.1: "RUNTIME|CHECK" (a glob) → what happens. Listed in the report, never failed.
declare -A KNOWN_DIFFERENCES=(
    ["*|mount /sys/fs/cgroup option ro"]="on cgroup v1 the tmpfs at /sys/fs/cgroup stays read-write (only the hierarchies below are read-only)"
    ["runc|domainname"]="runc 1.1.5 does not set the NIS domain name"
    ["*|device /dev/ptmx *"]="a /dev/ptmx in linux.devices (containerd's privileged containers) stays the symlink to pts/ptmx"
    ["runc|linux.rootfsPropagation"]="runc 1.1.5 leaves / private for rootfsPropagation shared and unbindable"
    ["crun|linux.rootfsPropagation"]="crun 1.8.1 leaves / private for rootfsPropagation slave"
    ["crun|mount * propagation"]="crun 1.8.1 leaves an rslave bind mount of a shared source private"
    ["crun|mount * option exec"]="crun 1.8.1: a later exec does not cancel an earlier noexec"
    ["crun|user additionalGids"]="crun 1.8.1 passes duplicate additionalGids to setgroups"
    ["runc|root.readonly"]="runc 1.1.5 does not make / read-only without a mount namespace of the container's own"
)
# known_difference RUNTIME CHECK: the KNOWN_DIFFERENCES entry that matches, if any.
known_difference() {
    local k
    for k in "${!KNOWN_DIFFERENCES[@]}"; do
        # shellcheck disable=SC2053 # the key is a glob
        if [[ "$1|$2" == $k ]]; then echo " (${KNOWN_DIFFERENCES[$k]})"; fi
    done
}

CHECKER=${CHECKER:-${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-gnu/release/berth-checker}
ORACLES=${ORACLES-runc crun}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root"
command -v jq >/dev/null || fail "jq not found"
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"
[ -x "$CHECKER" ] || fail "checker $CHECKER not found (cargo build --release, or set CHECKER)"

runtimes=(berth)
declare -A bins=([berth]=$BERTH)
declare -A missing=()
for o in $ORACLES; do
    var=${o^^}
    b=$(command -v "${!var:-$o}" || true)
    runtimes+=("$o")
    if [ -n "$b" ]; then bins[$o]=$b; else missing[$o]=1; fi
done

tmp=$(mktemp -d /tmp/berth-conformance.XXXXXX)
cg=berth-conformance-$$
helper= ns_pid= rootfs= pod_helper= pod_pid=
# Readable by every uid, as user-namespace containers run as unmapped host ids.
chmod 755 "$tmp"
mounted=()
declare -A own_mount_ns=()
# in_ns RT CASE CMD...: runs CMD for runtime RT. crun 1.8 refuses this hybrid host's cgroups, so it
# runs in a mount namespace of its own without /sys/fs/cgroup/unified (as bench/bench.sh does; the
# other mounts keep their propagation, which the propagation cases need); a case in own_mount_ns
# (a container sharing its caller's mount namespace) gets a private one.
in_ns() {
    local rt=$1 case=$2; shift 2
    if [ "${bins[$rt]##*/}" = crun ] && mountpoint -q /sys/fs/cgroup/unified; then
        # shellcheck disable=SC2016 # expanded by the inner shell
        unshare --mount --propagation unchanged sh -c 'mount --make-private /sys/fs/cgroup &&
            mount --make-private /sys/fs/cgroup/unified && umount /sys/fs/cgroup/unified && exec "$@"' sh "$@"
    elif [ -n "${own_mount_ns[$case]:-}" ]; then
        unshare --mount --propagation private "$@"
    else
        "$@"
    fi
}
# Mounts under the rootfs left on the host by containers whose mounts propagate back (rshared).
unmount_leftovers() {
    local m
    # A lazy unmount takes the mounts below with it: a later entry may be gone already.
    for m in $(findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r); do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
    local rt id m
    for rt in "${runtimes[@]}"; do
        [ -d "$tmp/root-$rt" ] && [ -z "${missing[$rt]:-}" ] || continue
        for id in $(in_ns "$rt" - "${bins[$rt]}" --root "$tmp/root-$rt" list -q 2>/dev/null); do
            in_ns "$rt" - "${bins[$rt]}" --root "$tmp/root-$rt" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    # The holder is pid 1 of its namespace: only SIGKILL ends it (unshare, its parent, then exits).
    [ -z "$ns_pid" ] || kill -KILL "$ns_pid" 2>/dev/null || true
    [ -z "$helper" ] || wait "$helper" 2>/dev/null || true
    [ -z "$pod_pid" ] || kill -KILL "$pod_pid" 2>/dev/null || true
    [ -z "$pod_helper" ] || wait "$pod_helper" 2>/dev/null || true
    [ -z "$rootfs" ] || unmount_leftovers 2>/dev/null || true
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
    find /sys/fs/cgroup/*/"$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf --one-file-system -- "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- shared pieces -------------------------------------------------------------------------------
# tmpfs_at DIR [shared]: a small tmpfs of the script's own, unmounted on exit (latest first).
tmpfs_at() {
    mkdir -p "$1"
    mount -t tmpfs -o size=64m,mode=755 conf-tmpfs "$1" || fail "mount a tmpfs at $1"
    mounted=("$1" "${mounted[@]}")
    [ -z "${2:-}" ] || mount --make-shared "$1" || fail "make $1 shared"
}
# The rootfs is on a shared mount of its own, so that rootfsPropagation has a peer group to show.
tmpfs_at "$tmp/shared-root" shared
rootfs=$tmp/shared-root/rootfs
"$repo/scripts/make-rootfs.sh" "$rootfs" >/dev/null
mkdir -p "$rootfs/.berth-checker"

# The namespaces that "joined by path" cases join: a process with its own pid, ipc, uts, network
# and mount namespaces, standing in for a Kubernetes pause container.
unshare --fork --pid --ipc --uts --net --mount --propagation private sleep 1000 2>/dev/null &
helper=$!
for _ in $(seq 100); do
    ns_pid=$(pgrep -P "$helper" sleep || true)
    [ -z "$ns_pid" ] || [ "$(readlink "/proc/$ns_pid/ns/pid")" = "$(readlink /proc/self/ns/pid)" ] || break
    sleep 0.05
done
[ -n "$ns_pid" ] || fail "the namespace holder did not start"

# The user-namespace pods' stand-in (containerd 2.3 pins a pod's user namespace and makes the
# pod's network namespace inside it): a holder whose user namespace maps containerd's range
# (0 → 200000, 65536 ids) and owns its pid, ipc, uts, network and mount namespaces; and a copy
# of the rootfs owned by the pod's root, as containerd idmaps or chowns the image for such pods.
unshare --user --fork --pid --ipc --uts --net --mount --propagation private sleep 1000 2>/dev/null &
pod_helper=$!
for _ in $(seq 100); do
    pod_pid=$(pgrep -P "$pod_helper" sleep || true)
    [ -z "$pod_pid" ] || [ "$(readlink "/proc/$pod_pid/ns/user")" = "$(readlink /proc/self/ns/user)" ] || break
    sleep 0.05
done
[ -n "$pod_pid" ] || fail "the pod's namespace holder did not start"
echo "0 200000 65536" > "/proc/$pod_pid/uid_map" && echo "0 200000 65536" > "/proc/$pod_pid/gid_map" ||
    fail "write the pod holder's id maps"
pod_rootfs=$tmp/shared-root/pod-rootfs
cp -a "$rootfs" "$pod_rootfs" && chown -R -h 200000:200000 "$pod_rootfs" || fail "make the pod's rootfs"

# Sources for bind mounts: a plain directory, one with a tmpfs below it (recursive flags), and a
# shared tmpfs (propagation).
src=$tmp/src
mkdir -p "$src/plain"
echo hi > "$src/plain/file"
tmpfs_at "$src/tree/sub"
tmpfs_at "$src/shared" shared

# The default config is runc's (berth's when runc is not an oracle).
base=$tmp/base.json
spec_rt=${bins[runc]:-$BERTH}
(cd "$tmp" && "$spec_rt" spec && mv config.json "$base") || fail "$spec_rt spec failed"

# adapt CONFIG CASE: a config that runs here. Root is the busybox rootfs, the process is the
# checker (the checker's directory is one more read-only bind mount), hooks are dropped (they name
# the capture host's programs), bind sources that do not exist here are made (a file for a
# file-like destination), the cgroup is this run's.
adapt() {
    local in=$1 case=$2 out=$tmp/cases/$2.json i n dest s
    mkdir -p "$tmp/cases" "$src/$case"
    jq --arg root "$rootfs" --arg cg "/$cg/$case" '
        .root.path = $root
        | .process.args = ["/.berth-checker/berth-checker"] | .process.terminal = false
        | del(.hooks)
        | .linux.cgroupsPath = $cg
        | .mounts += [{destination: "/.berth-checker", type: "bind", source: "CHECKER",
                       options: ["rbind", "ro", "nosuid", "nodev"]}]' "$in" > "$out"
    n=$(jq '.mounts | length' "$out")
    for ((i = 0; i < n; i++)); do
        s=$(jq -r ".mounts[$i] | select(.type == \"bind\" or any(.options[]?; . == \"bind\" or . == \"rbind\")) | .source" "$out")
        [ -n "$s" ] && [ "$s" != CHECKER ] && [ ! -e "$s" ] || continue
        dest=$(jq -r ".mounts[$i].destination" "$out")
        case $dest in
            /etc/* | */.* | */termination-log) : > "$src/$case/$i" ;;
            *) mkdir -p "$src/$case/$i" ;;
        esac
        jq --argjson i "$i" --arg s "$src/$case/$i" '.mounts[$i].source = $s' "$out" > "$out.tmp" && mv "$out.tmp" "$out"
    done
}

# --- the matrix ------------------------------------------------------------------------------
cases=()
declare -A skip_reason=() refuse=() checker_in_rootfs=()
# variant NAME [JQ-ARGS...] JQ: the default config changed by JQ ($src: the bind sources'
# directory, $pid: the namespace holder's pid).
variant() {
    local name=$1; shift
    cases+=("$name")
    jq --arg src "$src" --arg pid "$ns_pid" "$@" "$base" > "$tmp/in.json" || fail "variant $name: jq failed"
    adapt "$tmp/in.json" "$name"
}
# fixture NAME FILE: a client's config as captured (ctr, Docker and podman in the CLI tests'
# fixtures, containerd 2.3's Kubernetes pods in tests/scripts/fixtures/: see its README.md).
fixture() {
    local f d
    cases+=("$1")
    for d in ${FIXTURES:-} "$repo/crates/berth/tests/fixtures/client-configs" "$here/fixtures/client-configs"; do
        [ -f "$d/$2" ] && { f=$d/$2; break; }
    done
    if [ -z "${f:-}" ]; then skip_reason[$1]="fixture $2 not found (set FIXTURES)"; return; fi
    # Namespace paths name the holder's namespaces; a user-namespace pod's, the pod holder's,
    # and its root is the copy owned by the pod's root.
    local pid=$ns_pid pod=
    if jq -e '.linux.namespaces[]? | select(.type == "user")' "$f" >/dev/null; then
        pid=$pod_pid pod=1
    fi
    jq --arg pid "$pid" '.linux.namespaces |= map(if .path
        then .path = "/proc/\($pid)/ns/" + ({network: "net", mount: "mnt"}[.type] // .type) else . end)' \
        "$f" > "$tmp/in.json"
    adapt "$tmp/in.json" "$1"
    if [ -n "$pod" ]; then
        jq --arg r "$pod_rootfs" '.root.path = $r' "$tmp/cases/$1.json" > "$tmp/in.json" &&
            mv "$tmp/in.json" "$tmp/cases/$1.json"
    fi
}

variant default '.'
cases+=(berth-spec)
mkdir -p "$tmp/berth-spec"
(cd "$tmp/berth-spec" && "$BERTH" spec) || fail "$BERTH spec failed"
adapt "$tmp/berth-spec/config.json" berth-spec
variant hostname '.hostname = "conf-host" | .domainname = "conf.example"'
variant user '.process.user = {uid: 1000, gid: 1000, additionalGids: [5, 100]}'
variant user-dup-gids '.process.user = {uid: 1000, gid: 1000, additionalGids: [5, 5, 100, 100]}'
variant umask '.process.user.umask = 63'
variant cwd '.process.cwd = "/tmp"'
variant env '.process.env += ["CONF_A=1", "CONF_B=with space", "CONF_EMPTY="]'
variant rlimits '.process.rlimits = [{type: "RLIMIT_NOFILE", soft: 512, hard: 1024},
    {type: "RLIMIT_NPROC", soft: 100, hard: 200}, {type: "RLIMIT_CORE", soft: 0, hard: 0},
    {type: "RLIMIT_MSGQUEUE", soft: 4096, hard: 8192}]'
variant caps-none '.process.capabilities = {bounding: [], effective: [], permitted: [], inheritable: [], ambient: []}'
variant caps-sets '.process.capabilities = {bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"],
    effective: ["CAP_CHOWN"], permitted: ["CAP_CHOWN", "CAP_KILL"], inheritable: ["CAP_KILL"], ambient: ["CAP_KILL"]}'
variant caps-ambient-user '.process.user = {uid: 1000, gid: 1000}
    | .process.capabilities = ({} | .bounding = ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"] | .effective = .bounding
        | .permitted = .bounding | .inheritable = .bounding | .ambient = .bounding)'
variant nnp-off '.process.noNewPrivileges = false'
variant oom-score-adj '.process.oomScoreAdj = 500'
variant sysctl '.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536",
    "net.ipv4.ping_group_range": "0 2147483647"}'
variant mount-tmpfs '.mounts += [
    {destination: "/conf-a", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "ro", "mode=700"]},
    {destination: "/conf-b", type: "tmpfs", source: "tmpfs", options: ["noatime", "nodiratime", "rw"]},
    {destination: "/conf-c", type: "tmpfs", source: "tmpfs", options: ["strictatime", "noexec", "exec"]}]'
variant mount-bind '.mounts += [
    {destination: "/conf-ro", type: "bind", source: "\($src)/plain", options: ["bind", "ro", "nosuid"]},
    {destination: "/conf-rw", type: "none", source: "\($src)/tree", options: ["rbind", "rw", "noexec", "nodev"]},
    {destination: "/conf-file", type: "bind", source: "\($src)/plain/file", options: ["bind", "ro"]}]'
variant mount-rro '.mounts += [{destination: "/conf-rro", type: "bind", source: "\($src)/tree",
    options: ["rbind", "rro", "rnoexec", "rnosuid"]}]'
variant mount-propagation '.mounts += [
    {destination: "/conf-slave", type: "bind", source: "\($src)/shared", options: ["rbind", "rslave"]},
    {destination: "/conf-private", type: "bind", source: "\($src)/shared", options: ["rbind", "rprivate"]}]'
variant mount-rshared '.linux.rootfsPropagation = "rshared" | .mounts += [
    {destination: "/conf-shared", type: "bind", source: "\($src)/shared", options: ["rbind", "rshared"]}]'
variant rootfs-private '.linux.rootfsPropagation = "private"'
variant rootfs-slave '.linux.rootfsPropagation = "rslave"'
# Nothing can be bind-mounted below an unbindable root: the checker is copied into the rootfs.
variant rootfs-unbindable '.linux.rootfsPropagation = "unbindable" | .mounts |= map(select(.source != "CHECKER"))'
checker_in_rootfs[rootfs-unbindable]=1
variant root-readonly '.root.readonly = true'
variant masked-readonly '.linux.maskedPaths += ["/usr", "/etc/group", "/conf-absent"]
    | .linux.readonlyPaths += ["/home", "/etc/passwd"]'
variant devices '.linux.devices = [
    {path: "/dev/conf-null", type: "c", major: 1, minor: 3, fileMode: 416, uid: 1000, gid: 1000},
    {path: "/dev/conf-loop", type: "b", major: 7, minor: 200, fileMode: 432, uid: 0, gid: 6},
    {path: "/dev/conf-u", type: "u", major: 1, minor: 5}]'
variant device-fifo '.linux.devices = [{path: "/dev/conf-fifo", type: "p", fileMode: 420}]'
variant ns-host 'del(.hostname) | .linux.namespaces |= map(select(.type == "mount"))'
variant ns-new-all '.linux.namespaces += [{type: "cgroup"}]'
variant ns-join '.linux.namespaces |= map(if .type == "network" or .type == "ipc" or .type == "uts" or .type == "pid"
    then .path = "/proc/\($pid)/ns/" + ({network: "net"}[.type] // .type) else . end) | del(.hostname)'
variant ns-user '.linux.namespaces += [{type: "user"}]
    | .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}] | .linux.gidMappings = .linux.uidMappings'
# The caller's mount namespace (a private one the harness makes): /proc is the only mount, and
# there are no masked or read-only paths (runc refuses them without a mount namespace).
variant ns-no-mount '.linux.namespaces |= map(select(.type != "mount")) | .mounts |= map(select(.destination == "/proc"))
    | del(.linux.maskedPaths, .linux.readonlyPaths)'
own_mount_ns[ns-no-mount]=1
variant ns-wrong-type '.linux.namespaces += [{type: "cgroup", path: "/proc/\($pid)/ns/ipc"}]'
refuse[ns-wrong-type]=1
variant cgroup-limits '.linux.namespaces += [{type: "cgroup"}]
    | .linux.resources.memory = {limit: 67108864, reservation: 33554432} | .linux.resources.pids = {limit: 64}
    | .linux.resources.cpu = {shares: 512, quota: 50000, period: 100000, cpus: "0", mems: "0"}'
variant cgroup-limits-host-ns '.linux.resources.memory = {limit: 33554432} | .linux.resources.pids = {limit: -1}
    | .linux.resources.cpu = {shares: 256}'
# This host's blkio hierarchy has throttling but no weight files (no CFQ/BFQ weights).
variant blkio-weight '.linux.resources.blockIO = {weight: 500}'
disk=$(lsblk -dn -o MAJ:MIN,TYPE | awk '$2 == "disk" { print $1; exit }')
variant blkio-throttle --arg disk "${disk:-7:0}" '.linux.resources.blockIO = {throttleReadBpsDevice: [],
    throttleWriteBpsDevice: [{major: ($disk | split(":")[0] | tonumber), minor: ($disk | split(":")[1] | tonumber), rate: 1048576}]}'
# Where AppArmor is enabled the checker reads the label back; elsewhere the config must be refused,
# as runc and crun do (and any SELinux label on a host without SELinux).
variant apparmor '.process.apparmorProfile = "unconfined"'
[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] || refuse[apparmor]=1
variant selinux '.process.selinuxLabel = "system_u:system_r:container_t:s0"'
[ -e /sys/fs/selinux/enforce ] || refuse[selinux]=1
variant seccomp '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{names: ["kexec_load"], action: "SCMP_ACT_ERRNO"}]}'
fixture ctr ctr-config.json
fixture docker docker-config.json
fixture podman podman-config.json
for k in ordinary privileged rro userns userns-hostnet; do
    fixture "k8s-$k-sandbox" "containerd-2.3/$k-sandbox.json"
    fixture "k8s-$k-container" "containerd-2.3/$k-container.json"
done
# --- running ---------------------------------------------------------------------------------
# run_case CASE RT: the case's bundle for RT; output in $tmp/out/CASE.RT.{tap,err,rc}.
run_case() {
    local case=$1 rt=$2 b=$tmp/b/$1.$2 id=conf-$$-$1-$2 p chk
    chk=$b/chk
    [ -z "${checker_in_rootfs[$case]:-}" ] || chk=$rootfs/.berth-checker
    mkdir -p "$b" "$chk" "$tmp/out" "$tmp/root-$rt"
    # crun 1.8.1 knows spec versions up to 1.1: it refuses the ociVersion of newer clients.
    jq --arg chk "$chk" --arg cg "/$cg/$case-$rt" --arg rt "$rt" '.linux.cgroupsPath = $cg
        | .mounts |= map(if .source == "CHECKER" then .source = $chk else . end)
        | if $rt == "crun" and .ociVersion >= "1.2" then .ociVersion = "1.1.0" else . end' \
        "$tmp/cases/$case.json" > "$b/config.json"
    cp "$b/config.json" "$chk/config.json"
    cp "$CHECKER" "$chk/berth-checker"
    # What the checker compares with the host: the inode of every namespace path the config
    # names, the peer group of every shared bind source, and the runtime's caller's namespaces
    # (taken in the same process as the run: a namespace's inode is reused once it is gone).
    {
        for p in $(jq -r '.linux.namespaces[]?.path // empty' "$b/config.json"); do
            echo "nspath $p $(stat -L -c %i "$p" 2>/dev/null || echo none)"
        done
        for p in $(jq -r '.mounts[] | select(.type == "bind" or any(.options[]?; . == "bind" or . == "rbind")) | .source' "$b/config.json"); do
            awk -v p="$p" '$5 == p { for (i = 7; $i != "-"; i++) if ($i ~ /^shared:/) { sub(/^shared:/, "", $i); print "peer", p, $i } }' /proc/self/mountinfo | tail -n 1
        done
    } > "$chk/host"
    local rc=0
    # shellcheck disable=SC2016 # expanded by the inner shell
    in_ns "$rt" "$case" sh -c 'for t in pid net mnt ipc uts user cgroup time; do
            echo "ns $t $(stat -L -c %i /proc/self/ns/$t)"; done >> "$0" && exec "$@"' "$chk/host" \
        timeout --kill-after=5 60 "${bins[$rt]}" --root "$tmp/root-$rt" run --bundle "$b" "$id" \
        </dev/null >"$tmp/out/$case.$rt.tap" 2>"$tmp/out/$case.$rt.err" || rc=$?
    echo "$rc" > "$tmp/out/$case.$rt.rc"
    in_ns "$rt" "$case" "${bins[$rt]}" --root "$tmp/root-$rt" delete --force "$id" >/dev/null 2>&1 || true
    unmount_leftovers
}

# outcome CASE RT: "ok", "skip", "n/a", "refused", "error" or "fail" (then the failing checks
# in $tmp/out/CASE.RT.failed).
outcome() {
    local f=$tmp/out/$1.$2
    [ -z "${missing[$2]:-}" ] || { echo n/a; return; }
    if ! grep -q '^1\.\.' "$f.tap"; then
        if [ "$(cat "$f.rc")" -ne 0 ]; then
            if [ -n "${refuse[$1]:-}" ]; then echo refused; else echo error; fi
        else echo error; fi
        return
    fi
    grep '^not ok' "$f.tap" | sed 's/^not ok [0-9]* - //; s/ # .*//' > "$f.failed" || true
    if [ -n "${refuse[$1]:-}" ]; then echo ran
    elif [ -s "$f.failed" ]; then echo fail
    else echo ok; fi
}

n=0 bad=0
declare -A cell=() every_fails=()
report=()
for case in "${cases[@]}"; do
    if [[ -n "${CASES:-}" && ! $case =~ $CASES ]]; then continue; fi
    n=$((n + 1))
    if [ -n "${skip_reason[$case]:-}" ]; then
        echo "ok $n - $case # SKIP ${skip_reason[$case]}"
        for rt in "${runtimes[@]}"; do cell[$case.$rt]=skip; done
        continue
    fi
    for rt in "${runtimes[@]}"; do
        [ -n "${missing[$rt]:-}" ] || run_case "$case" "$rt"
        cell[$case.$rt]=$(outcome "$case" "$rt")
        [ -z "${VERBOSE:-}" ] || sed "s/^/  $rt: /" "$tmp/out/$case.$rt.tap" "$tmp/out/$case.$rt.err" 2>/dev/null || true
    done
    want=ok; [ -z "${refuse[$case]:-}" ] || want=refused
    got=${cell[$case.berth]}
    if [ "$got" = "$want" ]; then echo "ok $n - $case"; continue; fi
    # What berth gets wrong that an oracle gets right.
    regress=()
    if [ "$got" = fail ]; then
        while IFS= read -r check; do
            local_ok=
            for rt in "${runtimes[@]:1}"; do
                [ "${cell[$case.$rt]}" = ok ] || [ "${cell[$case.$rt]}" = fail ] || continue
                grep -qxF "$check" "$tmp/out/$case.$rt.failed" || local_ok=$rt
            done
            if [ -z "$local_ok" ]; then
                every_fails[$check]+=" $case"
            else
                regress+=("'$check' ($local_ok honours it: $(grep -F -- "- $check #" "$tmp/out/$case.berth.tap" | sed 's/.* # //' | head -1))")
            fi
        done < "$tmp/out/$case.berth.failed"
    else
        # berth refused (or ran) what an oracle ran (or refused).
        for rt in "${runtimes[@]:1}"; do
            c=${cell[$case.$rt]}
            if [ "$c" = "$want" ] || { [ "$want" = ok ] && [ "$c" = fail ]; }; then
                regress+=("berth: $got ($(head -c 300 "$tmp/out/$case.berth.err" | tr '\n' ' ')), $rt: $c")
                break
            fi
        done
        [ ${#regress[@]} -gt 0 ] || report+=("$case: $got on every runtime")
    fi
    # Without an oracle (ORACLES=""), nothing excuses a failure.
    if [ ${#runtimes[@]} -eq 1 ] && [ ${#regress[@]} -eq 0 ]; then
        regress+=("berth: $got, and no oracle ran")
    fi
    if [ ${#regress[@]} -eq 0 ]; then
        echo "ok $n - $case # berth fails only what no oracle honours"
    elif [ -n "${KNOWN_BERTH_GAPS[$case]:-}" ]; then
        echo "not ok $n - $case # TODO ${KNOWN_BERTH_GAPS[$case]}"
    else
        bad=$((bad + 1))
        echo "not ok $n - $case # ${regress[*]}"
    fi
done
echo "1..$n"

# --- the table -------------------------------------------------------------------------------
printf '\n%-28s' case
for rt in "${runtimes[@]}"; do printf ' %-12s' "$rt"; done
printf '\n'
for case in "${cases[@]}"; do
    [ -n "${cell[$case.berth]:-}" ] || continue
    printf '%-28s' "$case"
    for rt in "${runtimes[@]}"; do
        c=${cell[$case.$rt]}
        [ "$c" != fail ] || c="fail($(wc -l < "$tmp/out/$case.$rt.failed"))"
        printf ' %-12s' "$c"
    done
    printf '\n'
done
# What an oracle does not honour, one line per runtime and check.
declare -A oracle_fails=()
for case in "${cases[@]}"; do
    for rt in "${runtimes[@]:1}"; do
        if [ "${cell[$case.$rt]:-}" = error ]; then
            oracle_fails[$rt refuses the config: $(head -n 1 "$tmp/out/$case.$rt.err" | cut -c 1-100)]+=" $case"
        fi
        [ "${cell[$case.$rt]:-}" = fail ] || continue
        while IFS= read -r check; do
            oracle_fails[$rt fails \'$check\'$(known_difference "$rt" "$check")]+=" $case"
        done < "$tmp/out/$case.$rt.failed"
    done
done
for k in "${!oracle_fails[@]}"; do report+=("$k in:${oracle_fails[$k]}"); done
for k in "${!every_fails[@]}"; do report+=("every runtime fails '$k' in:${every_fails[$k]}"); done
if [ ${#report[@]} -gt 0 ]; then
    printf '\nnot counted against berth:\n'
    printf '  %s\n' "${report[@]}" | sort
fi
[ "$bad" -eq 0 ] || fail "$bad case(s) where berth does not honour what runc or crun does"
echo "conformance.sh: ok"
