# work.sh — sourced (not run) by the seed tests: removing a test's work directory.

# remove_work DIR: removes DIR once berth's detached removers are done with it. A released root
# is moved into its store's trash still mounted, and its remover unmounts it after the command
# (berth-image store/trash.rs): up to 5 s for those, then anything still mounted under DIR is
# detached, so that nothing is removed through a mount and nothing stays mounted.
remove_work() {
    local dir=$1 m
    for _ in $(seq 50); do
        grep -q " $dir/" /proc/self/mountinfo || break
        sleep 0.1
    done
    awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system -- "$dir"
}
