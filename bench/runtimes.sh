# runtimes.sh — sourced by the bench scripts: how each runtime is called and cleaned up.

# in_ns NAME CMD...: runs CMD as runtime NAME needs it. crun 1.8 refuses this host's hybrid
# cgroup2 mount, so crun runs in a private mount namespace without /sys/fs/cgroup/unified.
in_ns() {
    local n=$1; shift
    if [ "$n" = crun ] && mountpoint -q /sys/fs/cgroup/unified; then
        unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh "$@"
    else
        "$@"
    fi
}

# delete_all NAME BIN ROOT: `delete --force` of every container runtime NAME (binary BIN)
# lists under ROOT, for the scripts' cleanup on exit.
delete_all() {
    local n=$1 bin=$2 root=$3 id
    [ -d "$root" ] || return 0
    for id in $(in_ns "$n" "$bin" --root "$root" list -q 2>/dev/null); do
        in_ns "$n" "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
}
