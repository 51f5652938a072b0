#!/bin/sh
# Runs berth-cgroups' tests (unit + root integration) inside a pure cgroup v2 kernel:
# qemu (TCG) boots the Debian kernel with cgroup_no_v1=all and a busybox initramfs that
# carries the test binaries and their shared libraries.
# Needs (Debian): qemu-system-x86 linux-image-amd64 busybox-static cpio jq.
# With a built berth ($BERTH, default target/x86_64-unknown-linux-gnu/release/berth) it also runs containers with
# limits, pause/resume and delete on the v2 kernel.
# Usage, from the workspace root: crates/berth-cgroups/ci/v2-guest.sh [test filter...]
set -eu

kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] || { echo "v2-guest: no /boot/vmlinuz-* (apt-get install linux-image-amd64)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "v2-guest: qemu-system-x86_64 missing" >&2; exit 1; }

bins=$(cargo test -p berth-cgroups --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p')
[ -n "$bins" ] || { echo "v2-guest: no test binaries built" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/t" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
n=0
for b in $bins; do
    n=$((n + 1))
    cp "$b" "$root/t/$n-$(basename "$b")"
    # Shared libraries at their host paths, so the dynamic loader finds them.
    for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
done

# The runtime itself on v2: berth (if built) with a busybox bundle whose config sets limits
# (--no-pivot: the guest root is the initramfs, where pivot_root is not possible).
berth=${BERTH:-target/x86_64-unknown-linux-gnu/release/berth}
if [ -x "$berth" ]; then
    cp "$berth" "$root/bin/berth"
    for lib in $(ldd "$berth" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    mkdir -p "$root/b/rootfs"
    cp -a "$root/bin" "$root/b/rootfs/bin"
    rm -f "$root/b/rootfs/bin/berth"
    mkdir -p "$root/b/rootfs/proc" "$root/b/rootfs/sys" "$root/b/rootfs/dev" "$root/b/rootfs/tmp"
    "$berth" spec --bundle "$root/b"
    mkdir -p "$root/b1" "$root/b2"
    # Limits through the config: memory 64 MiB, pids 32, under an absolute cgroupsPath.
    jq '.process.terminal = false | .root.path = "/b/rootfs"
        | .process.args = ["sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"]
        | .linux.cgroupsPath = "/berth-v2/c1"
        | .linux.resources.memory = {limit: 67108864} | .linux.resources.pids = {limit: 32}' \
        "$root/b/config.json" > "$root/b1/config.json"
    jq '.process.args = ["sleep", "100"] | .linux.cgroupsPath = "/berth-v2/c2"' \
        "$root/b1/config.json" > "$root/b2/config.json"
    # What a Kubernetes node needs of cgroup v2 (v2-node.sh): QoS files, unified keys,
    # cgroup.kill, OOM events by notification, CLONE_INTO_CGROUP.
    sh "$(dirname -- "$0")/v2-node.sh" prepare "$root"
    cp "$(dirname -- "$0")/v2-node.sh" "$root/bin/v2-node.sh"
fi

filter="$*"
cat > "$root/init" <<EOF
#!/bin/busybox sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /tmp
export PATH=/bin TMPDIR=/tmp RUST_BACKTRACE=1 BERTH_EXPECT_LAYOUT=V2
echo "cgroup2 controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"
rc=0
for t in /t/*; do
    echo "=== \$t"
    \$t --test-threads=1 $filter || rc=1
done
if [ -x /bin/berth ]; then
    echo "=== berth on cgroup v2"
    out=\$(/bin/berth --root /tmp/berth run --no-pivot --bundle /b1 c1 2>&1)
    echo "\$out"
    case "\$out" in *67108864*32*) echo "berth v2 limits: ok" ;; *) echo "berth v2 limits: FAILED"; rc=1 ;; esac
    [ ! -e /sys/fs/cgroup/berth-v2/c1 ] || { echo "berth v2: cgroup left behind"; rc=1; }
    /bin/berth --root /tmp/berth run -d --no-pivot --bundle /b2 c2 && /bin/berth --root /tmp/berth pause c2 &&
        /bin/berth --root /tmp/berth state c2 | grep -q '"paused"' &&
        /bin/berth --root /tmp/berth resume c2 &&
        /bin/berth --root /tmp/berth state c2 | grep -q '"running"' &&
        /bin/berth --root /tmp/berth delete --force c2 && echo "berth v2 pause/resume/delete: ok" ||
        { echo "berth v2 pause/resume/delete: FAILED"; rc=1; }
    echo "=== berth as a Kubernetes node uses cgroup v2"
    sh /bin/v2-node.sh check || rc=1
fi
echo "BERTH-V2-GUEST-RC=\$rc"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

log=$work/console.log
# TCG: KVM on this kind of machine (nested) hangs the guest before its kernel prints.
start=$(date +%s)
timeout 900 qemu-system-x86_64 -accel tcg -m 1536 -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet loglevel=3" </dev/null | tee "$log"
echo "v2-guest: $(( $(date +%s) - start )) s in the guest"
grep -q 'BERTH-V2-GUEST-RC=0' "$log"
