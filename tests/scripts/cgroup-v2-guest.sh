#!/usr/bin/env bash
# The cgroup tests again on a pure cgroup v2 kernel: this host is a v1/v2 hybrid, so qemu
# boots Debian's kernel with cgroup_no_v1=all and runs berth-cgroups' tests inside.
set -euo pipefail
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/env.sh"
cd "$repo"
exec sh crates/berth-cgroups/ci/v2-guest.sh
