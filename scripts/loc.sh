#!/bin/bash
# Prints the largest Rust files by code lines: lines that are neither blank nor a `//`
# comment (`///` and `//!` docs included). Unit tests count where a file holds them.
# Usage: scripts/loc.sh [N] [DIR...]   (default: 20 files under crates/)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
shift || true
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(crates)
find "${dirs[@]}" -name '*.rs' -not -path '*/target/*' -print0 |
    xargs -0 awk '
        FNR == 1 { if (f) print code, total, f; f = FILENAME; code = 0; total = 0 }
        { total++ }
        !/^[[:space:]]*$/ && !/^[[:space:]]*\/\// { code++ }
        END { if (f) print code, total, f }' |
    sort -rn | head -n "$n" | awk 'BEGIN { printf "%6s %6s  %s\n", "code", "lines", "file" }
        { printf "%6d %6d  %s\n", $1, $2, $3 }'
