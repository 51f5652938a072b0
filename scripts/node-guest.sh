#!/usr/bin/env bash
# A Kubernetes-node-like test host: qemu boots Debian's kernel (from /boot) into a small Debian
# bookworm root with systemd as PID 1 on pure cgroup v2, dbus, runc, crun and containerd 1.6.
#
#   scripts/node-guest.sh build                 build (or find) the cached base image, print its path
#   scripts/node-guest.sh run DIR CMD...        boot with DIR as /payload, run CMD there (sh -c),
#                                               print its output; exit 0 iff it exited 0
#   scripts/node-guest.sh shell [DIR]           boot to a root shell on this terminal (DIR at /payload)
#
# The base image is built once with mmdebstrap from Debian's packages and cached under
# $BERTH_GUEST_CACHE (default /var/cache/berth/node-guest), keyed by a hash of the package list,
# the build steps and the kernel; downloaded .debs stay in $BERTH_GUEST_CACHE/apt for rebuilds.
# Each boot writes to a throw-away qcow2 overlay, so the base stays clean. The payload is a
# second disk (ext4 made from DIR, /dev/vdb), mounted read-write at /payload with $PATH
# starting at /payload/bin. The command's output comes back on the second serial port, the
# console's (systemd, kernel) goes to $BERTH_GUEST_LOG (default: a temp file, printed on failure).
# Uses /dev/kvm when it works, TCG otherwise. Hard timeout: $BERTH_GUEST_TIMEOUT s (default 900).
set -euo pipefail

cache=${BERTH_GUEST_CACHE:-/var/cache/berth/node-guest}
kver=${BERTH_GUEST_KVER:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -V | tail -n1)}
packages=(systemd systemd-sysv udev dbus kmod procps iproute2 jq busybox-static runc crun containerd
    containernetworking-plugins criu)

die() { echo "node-guest: $*" >&2; exit 1; }

[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] && [ -r "/boot/initrd.img-$kver" ] ||
    die "no readable /boot/vmlinuz-* with its initrd.img (apt-get install linux-image-amd64)"

# The guest's own configuration, installed by mmdebstrap's customize hook ($1 is the root).
configure_root() {
    local r=$1
    echo berth-node >"$r/etc/hostname"
    : >"$r/etc/fstab"
    passwd -R "$r" -d root >/dev/null
    # The root shell on the serial console (`shell`), logged in already.
    mkdir -p "$r/etc/systemd/system/serial-getty@ttyS0.service.d"
    cat >"$r/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
    # The payload runner: /dev/vdb at /payload, its command's output on ttyS1, then power off.
    cat >"$r/usr/local/sbin/berth-guest-run" <<'EOF'
#!/bin/sh
[ -b /dev/vdb ] || exit 0
mkdir -p /payload && mount /dev/vdb /payload || { echo "RESULT fail (mount /dev/vdb)" >/dev/ttyS1; exit 1; }
[ -f /payload/.cmd ] || exit 0
stty -F /dev/ttyS1 raw -echo 2>/dev/null
cd /payload && PATH=/payload/bin:$PATH sh -c "$(cat /payload/.cmd)" </dev/null >/dev/ttyS1 2>&1
rc=$?
[ $rc = 0 ] && echo "RESULT ok" >/dev/ttyS1 || echo "RESULT fail (exit $rc)" >/dev/ttyS1
[ -f /payload/.stay ] || systemctl poweroff --force --force
EOF
    chmod 755 "$r/usr/local/sbin/berth-guest-run"
    cat >"$r/etc/systemd/system/berth-guest-run.service" <<'EOF'
[Unit]
Description=berth test payload
After=multi-user.target dbus.service containerd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-guest-run
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
    ln -sf /etc/systemd/system/berth-guest-run.service "$r/etc/systemd/system/multi-user.target.wants/"
    # containerd is started by the tests that want it, with their own config; no timers.
    rm -f "$r/etc/systemd/system/multi-user.target.wants/containerd.service" \
        "$r/etc/systemd/system/timers.target.wants/"*
    # The kernel's modules (overlay, veth, bridge, netfilter, ...), not its hardware drivers.
    local m=/lib/modules/$kver
    mkdir -p "$r$m"
    (cd "$m" && find . -path ./kernel/drivers -prune -o -path ./kernel/sound -prune \
        -o -path ./kernel/arch/x86/kvm -prune -o -print |
        cpio -pdm --quiet "$r$m")
    (cd "$m" && find kernel/drivers/net -maxdepth 1 -name '*.ko*' -print | cpio -pdm --quiet "$r$m")
    depmod -b "$r" "$kver"
}

build() {
    [ -f "$base" ] && return 0
    command -v mmdebstrap >/dev/null || die "mmdebstrap missing (apt-get install mmdebstrap)"
    command -v qemu-img >/dev/null || die "qemu-img missing (apt-get install qemu-utils)"
    local tmp started
    started=$(date +%s)
    mkdir -p "$cache/apt" "$cache/$key"
    tmp=$(mktemp -d "$cache/$key/build.XXXXXX")
    # shellcheck disable=SC2064 # expand now
    trap "rm -rf '$tmp'" RETURN
    echo "node-guest: building the base image (Debian bookworm, ${packages[*]})" >&2
    mmdebstrap --quiet --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
        --skip=download/empty --skip=essential/unlink \
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
        --setup-hook="sync-in '$cache/apt' /var/cache/apt/archives/" \
        --customize-hook="sync-out /var/cache/apt/archives '$cache/apt'" \
        --customize-hook="'$(realpath "${BASH_SOURCE[0]}")' _configure \"\$1\"" \
        bookworm "$tmp/root" http://deb.debian.org/debian >&2 ||
        die "build: mmdebstrap failed"
    rm -f "$tmp/root/var/cache/apt/archives/"*.deb
    mkfs.ext4 -q -L berth-node -d "$tmp/root" "$tmp/root.img" 2G >/dev/null || die "build: mkfs.ext4 -d failed"
    qemu-img convert -O qcow2 "$tmp/root.img" "$tmp/root.qcow2" || die "build: qemu-img convert failed"
    mv "$tmp/root.qcow2" "$base"
    echo "node-guest: built $base ($(du -h "$base" | cut -f1)) in $(($(date +%s) - started)) s" >&2
}

# KVM when it can run Debian's kernel: not under kvm_pvm (/dev/kvm of a PVM host runs only
# PVM-enabled guest kernels; Debian's hangs silently there), else TCG. BERTH_GUEST_ACCEL overrides.
accel() {
    local a=${BERTH_GUEST_ACCEL:-}
    if [ -z "$a" ]; then
        if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then a=kvm; else a=tcg; fi
    fi
    case $a in
    kvm) echo "-accel kvm -cpu host" ;;
    *) echo "-accel tcg,thread=multi -cpu max" ;;
    esac
}

# boot MODE [DIR]: qemu on a fresh overlay of the base; MODE run or shell.
boot() {
    local mode=$1 dir=${2:-} work rc=0
    work=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now
    trap "rm -rf '$work'" RETURN
    qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$work/overlay.qcow2" ||
        die "boot: qemu-img create overlay failed"
    local args=(-machine q35 $(accel) -m "${BERTH_GUEST_MEM:-2048}" -smp 2
        -no-reboot -nic none
        -kernel "/boot/vmlinuz-$kver" -initrd "/boot/initrd.img-$kver"
        -append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all panic=-1 ${BERTH_GUEST_APPEND:-}"
        -drive "file=$work/overlay.qcow2,format=qcow2,if=virtio")
    if [ -n "$dir" ]; then
        local size
        size=$(( $(du -sm "$dir" | cut -f1) * 2 + 64 ))
        mkfs.ext4 -q -d "$dir" "$work/payload.img" "${size}M" >/dev/null || die "boot: payload image from $dir failed"
        args+=(-drive "file=$work/payload.img,format=raw,if=virtio")
    fi
    if [ "$mode" = shell ]; then
        qemu-system-x86_64 "${args[@]}" -nographic
        return
    fi
    local log=${BERTH_GUEST_LOG:-$work/console.log}
    timeout "${BERTH_GUEST_TIMEOUT:-900}" qemu-system-x86_64 "${args[@]}" -display none \
        -monitor none -serial "file:$log" -serial stdio </dev/null | sed -u 's/\r$//' | tee "$work/out" ||
        rc=$?
    if ! tail -n1 "$work/out" | grep -q '^RESULT ok$'; then
        [ $rc = 124 ] && echo "node-guest: timed out after ${BERTH_GUEST_TIMEOUT:-900} s" >&2
        echo "node-guest: the command failed; the guest console said:" >&2
        tail -n 60 "$log" | tr -d '\r' >&2
        return 1
    fi
}

# The cache key: what goes into the image (packages, configuration, build steps, kernel).
key=$( { echo "${packages[*]} $kver"; declare -f configure_root build; } | sha256sum | cut -c1-16)
base=$cache/$key/root.qcow2

cmd=${1:-}
case $cmd in
_configure) configure_root "$2" ;;
build) build && echo "$base" ;;
run)
    [ $# -ge 3 ] || die "usage: $0 run DIR CMD..."
    dir=$2; shift 2
    [ -d "$dir" ] || die "run: $dir is not a directory"
    build
    printf '%s\n' "$*" >"$dir/.cmd"
    started=$(date +%s)
    boot run "$dir"
    echo "node-guest: boot + command took $(($(date +%s) - started)) s" >&2
    ;;
shell)
    build
    if [ -n "${2:-}" ]; then rm -f "$2/.cmd"; fi
    boot shell "${2:-}"
    ;;
*) die "usage: $0 build | run DIR CMD... | shell [DIR]" ;;
esac
