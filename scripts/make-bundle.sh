#!/usr/bin/env bash
# make-bundle.sh DIR [ARGS...] — write an OCI bundle in DIR that runs ARGS (default: sh).
#
# config.json comes from the runtime's own `spec` command (runc's default config, or berth's),
# patched with jq: process.terminal=false (so it runs without a console socket), process.args from
# the command line, root.path pointing at the busybox rootfs.
#
# Env:
#   BERTH   runtime binary whose `spec` writes the default config
#           (default: <repo>/target/x86_64-unknown-linux-gnu/release/berth; any runc-compatible runtime works, e.g. runc)
#   ROOTFS  use this existing rootfs (absolute path, shared, not copied) instead of building
#           DIR/rootfs with make-rootfs.sh
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"

[ $# -ge 1 ] || { echo "usage: $0 DIR [ARGS...]" >&2; exit 2; }
dir=$1; shift
[ $# -gt 0 ] || set -- sh

command -v jq >/dev/null || { echo "make-bundle: jq not found (apt-get install jq)" >&2; exit 1; }
[ -x "$BERTH" ] || command -v "$BERTH" >/dev/null ||
    { echo "make-bundle: runtime $BERTH not found (build berth or set BERTH=/path/to/runtime)" >&2; exit 1; }

mkdir -p -- "$dir"
dir=$(cd -- "$dir" && pwd)

if [ -n "${ROOTFS:-}" ]; then
    [ -d "$ROOTFS/bin" ] || { echo "make-bundle: ROOTFS=$ROOTFS has no bin/" >&2; exit 1; }
    rootfs=$(cd -- "$ROOTFS" && pwd)
else
    "$here/make-rootfs.sh" "$dir/rootfs"
    rootfs=rootfs
fi

# `spec` refuses to overwrite an existing config.json.
rm -f -- "$dir/config.json"
"$BERTH" spec --bundle "$dir" || { echo "make-bundle: $BERTH spec --bundle $dir failed" >&2; exit 1; }
[ -s "$dir/config.json" ] || { echo "make-bundle: $BERTH spec wrote no $dir/config.json" >&2; exit 1; }

args_json=$(jq -cn '$ARGS.positional' --args -- "$@")
jq --argjson args "$args_json" --arg root "$rootfs" \
    '.process.terminal = false | .process.args = $args | .root.path = $root' \
    "$dir/config.json" > "$dir/config.json.tmp"
mv -- "$dir/config.json.tmp" "$dir/config.json"
