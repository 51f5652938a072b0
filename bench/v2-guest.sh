#!/usr/bin/env bash
# v2-guest.sh — bench/bench.sh (berth vs runc vs crun) on a pure cgroup v2 node: inside the
# node guest of scripts/node-guest.sh (Debian bookworm, systemd as PID 1, cgroup2 only, Debian's
# runc 1.1.5 and crun 1.8.1). Never part of the tests.
#
# Usage: bench/v2-guest.sh        (as root; the release build of berth must exist)
# Env:   N, ROUNDS   passed to bench.sh (defaults 10 and 2: under TCG each runtime call is
#                    several times slower than on the host, and the whole run should stay
#                    under ~10 minutes; ratios are what count, not absolute times)
#        BERTH       the berth binary (default: the repo's release build)
#
# The payload (a second disk in the guest) holds berth, bench.sh with the scripts it sources,
# Docker's seccomp profile (the fixture bench.sh reads) and this host's GNU time (the guest
# image has none; same Debian release, same libc), copied to the guest's throw-away /usr/bin.
# On pure v2 bench.sh runs crun directly (no private mount namespace: there is no hybrid
# /sys/fs/cgroup/unified to hide), and berth clones its init straight into its cgroup.
set -euo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
. "$repo/scripts/env.sh"
[ "$(id -u)" -eq 0 ] || { echo "v2-guest: run as root" >&2; exit 1; }
[ -x "$BERTH" ] || { echo "v2-guest: $BERTH is not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "v2-guest: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

payload=$(mktemp -d /tmp/berth-v2bench.XXXXXX)
trap 'rm -rf --one-file-system -- "$payload"' EXIT
mkdir -p "$payload/bin" "$payload/repo/bench" "$payload/repo/scripts" \
    "$payload/repo/crates/berth/tests/fixtures/client-configs"
cp "$BERTH" "$payload/bin/berth"
cp /usr/bin/time "$payload/bin/time"
cp "$here/bench.sh" "$payload/repo/bench/"
cp "$repo/scripts/env.sh" "$repo/scripts/make-rootfs.sh" "$repo/scripts/make-bundle.sh" "$payload/repo/scripts/"
cp "$repo/crates/berth/tests/fixtures/client-configs/docker-config.json" \
    "$payload/repo/crates/berth/tests/fixtures/client-configs/"

N=${N:-10} ROUNDS=${ROUNDS:-2}
echo "v2-guest: host load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
BERTH_GUEST_TIMEOUT=${BERTH_GUEST_TIMEOUT:-900} "$repo/scripts/node-guest.sh" run "$payload" \
    "cp /payload/bin/time /usr/bin/time && echo \"guest: \$(uname -r), \$(stat -fc %T /sys/fs/cgroup), \$(nproc) cpus, load \$(cut -d' ' -f1-3 /proc/loadavg)\" && \
     N=$N ROUNDS=$ROUNDS BERTH=/payload/bin/berth bash /payload/repo/bench/bench.sh; rc=\$?; \
     echo \"guest: load after \$(cut -d' ' -f1-3 /proc/loadavg)\"; exit \$rc"
echo "v2-guest: host load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
