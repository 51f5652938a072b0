#!/usr/bin/env bash
# Seed 001 (the course's container runtime over overlayfs) walked through with berth, in the
# seed's own command shapes as closely as berth's forms allow:
#   mount -t overlay … lowerdir=lower,upperdir=upper   ->  berth run --rootfs lower --upper upper
#   docker export > alpine.tar; tar -xf … -C images/alpine   (the image: busybox, built here)
#   ./container c1 alpine echo hello world               ->  berth run --name c1 images/alpine echo hello world
#   ./container my-container alpine ps -A                ->  … images/alpine ps -A
#   ./container c2 alpine sh; echo foo > foo.txt         ->  … -i images/alpine sh (stdin piped)
#   docker export; image from the tar                    ->  berth image import alpine.tar alpine
# Each step asserts what the seed says should be seen. Self-contained: the image is the host's
# busybox (scripts/make-rootfs.sh); no registry, no network (--net none). About 2 s.
# Needs root, busybox-static. Env: BERTH.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=tests/scripts/lib/work.sh
. "$here/lib/work.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root"
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"
"$BERTH" image --help >/dev/null 2>&1 || skip "$BERTH has no people face (image commands)"

work=$(mktemp -d /tmp/berth-seed-course.XXXXXX)
cleanup() {
    for id in seed-c1 seed-c2 seed-c3 seed-ps seed-ovl; do
        "$BERTH" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
    done
    remove_work "$work"
}
trap cleanup EXIT
cd "$work"
b() { "$BERTH" --root "$work/state" --image-root "$work/store" "$@"; }
tree_sum() { (cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | sort | md5sum); }

# "Testing Overlay FS": lower holds foo; writes land in upper, lower stays as it was.
mkdir lower
bash "$repo/scripts/make-rootfs.sh" "$work/lower" >/dev/null
echo "this is in lower" > lower/foo
before=$(tree_sum lower)
out=$(b run --name seed-ovl --net none --rootfs lower --upper upper sh -c 'cat /foo; echo bar > /bar')
[ "$out" = "this is in lower" ] || fail "overlay: read '$out' from lower/foo"
[ "$(cat upper/bar)" = "bar" ] || fail "overlay: bar not in upper: $(ls -A upper)"
[ ! -e lower/bar ] && [ "$(tree_sum lower)" = "$before" ] || fail "overlay: lower was written"
# Kept after it exits (Docker's habit); `rm` removes it and the work dir, never upper.
b rm seed-ovl >/dev/null
[ ! -e .upper.work ] && [ -e upper/bar ] || fail "overlay: after rm, work dir left or upper gone"

# "Creating an image directory": a flat rootfs tar (docker export's form), extracted.
tar -C lower --exclude=./foo -cf alpine.tar .
mkdir -p images/alpine
tar -xf alpine.tar -C images/alpine
image_before=$(tree_sum images/alpine)

# "./container c1 alpine echo hello world"
out=$(b run --name seed-c1 --net none images/alpine echo hello world)
[ "$out" = "hello world" ] || fail "c1: '$out'"

# "check process isolation": ps -A sees only the container's own process, as PID 1.
out=$(b run --name seed-ps --net none images/alpine ps -A)
procs=$(printf '%s\n' "$out" | awk 'NR > 1' | wc -l)
first=$(printf '%s\n' "$out" | awk 'NR == 2 { print $1 }')
[ "$procs" -eq 1 ] && [ "$first" = 1 ] || fail "ps -A in the container: $out"

# "check filesystem isolation": a shell writes foo.txt; neither the image dir nor the next
# container sees it.
out=$(printf 'echo foo > foo.txt\ncat foo.txt\n' | b run -i --name seed-c2 --net none -w / images/alpine sh)
[ "$out" = "foo" ] || fail "c2 shell: '$out'"
[ ! -e images/alpine/foo.txt ] || fail "foo.txt reached the image directory"
out=$(b run --name seed-c3 --net none ./images/alpine sh -c 'ls /foo.txt 2>/dev/null || echo absent')
[ "$out" = "absent" ] || fail "foo.txt seen by another container: '$out'"
[ "$(tree_sum images/alpine)" = "$image_before" ] || fail "the image directory was modified"

# "Testing with other images": the same tar as a stored image, run by name.
b image import alpine.tar alpine >/dev/null
out=$(b run --rm --net none alpine cat /etc/hostname)
[ -n "$out" ] || fail "imported image: no /etc/hostname"

b rm seed-c1 seed-ps seed-c2 seed-c3 >/dev/null
left=$(b list -q; b ps -a -q)
[ -z "$left" ] || fail "containers left behind: $left"
echo "seed-course: overlay, images/NAME, process and filesystem isolation, import: ok"
