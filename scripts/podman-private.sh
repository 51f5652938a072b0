# podman-private.sh — sourced (not run) by scripts that drive Debian's podman 4.3 with private
# state under a tempdir: tests/scripts/podman.sh, bench/net.sh, bench/image.sh.
#
# podman keeps some things outside its --root/--runroot whatever its flags say: a libpod_parent
# cgroup in every hierarchy, the CNI bridge cni-podman0 with its iptables chains, /var/lib/cni,
# and conmon processes that outlive podman by design. These two functions let a script leave the
# host as it found it:
#   podman_private_record            before podman first runs: remember which of those exist
#   podman_private_restore TMP       on exit: kill the conmons naming TMP on their command line,
#                                    unmount what is mounted under TMP, and remove only what
#                                    this run created
# They use the globals podman_private_cgroups and podman_private_had_{bridge,chains,cni_dir}.

podman_private_record() {
    local d
    podman_private_cgroups=()
    for d in /sys/fs/cgroup/*/; do
        [ -e "$d/cgroup.procs" ] && [ ! -e "$d/libpod_parent" ] && podman_private_cgroups+=("$d/libpod_parent")
    done
    podman_private_had_bridge=0; ip link show cni-podman0 >/dev/null 2>&1 && podman_private_had_bridge=1
    podman_private_had_chains=0; iptables -S CNI-FORWARD >/dev/null 2>&1 && podman_private_had_chains=1
    podman_private_had_cni_dir=0; [ -e /var/lib/cni ] && podman_private_had_cni_dir=1
    return 0
}

podman_private_restore() {
    local tmp=$1 pid m d
    for pid in $(grep -l -F -- "$tmp/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
        [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
    done
    findmnt -rn -o TARGET | grep -F -- "$tmp/" | sort -r | while read -r m; do umount -l "$m"; done
    for d in "${podman_private_cgroups[@]}"; do
        [ -d "$d" ] || continue
        find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
        rmdir "$d" 2>/dev/null
    done
    [ "$podman_private_had_bridge" -eq 1 ] || ip link del cni-podman0 2>/dev/null
    if [ "$podman_private_had_chains" -eq 0 ] && iptables -S CNI-FORWARD >/dev/null 2>&1; then
        iptables -D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD 2>/dev/null
        iptables -F CNI-FORWARD; iptables -X CNI-FORWARD
        iptables -F CNI-ADMIN 2>/dev/null; iptables -X CNI-ADMIN 2>/dev/null
    fi
    [ "$podman_private_had_cni_dir" -eq 1 ] || rm -rf -- /var/lib/cni
    return 0
}
