#!/usr/bin/env bash
# Runs INSIDE the node guest (scripts/node-guest.sh; systemd is PID 1 on pure cgroup v2), from
# the payload dir: berth and the CRI test binary (crates/berth-cri-test, static) in /payload/bin,
# scripts/make-rootfs.sh under /payload/repo. The CRI pod lifecycle through containerd 1.6 with
# the systemd cgroup driver (SystemdCgroup = true, a .slice parent), berth then runc (the oracle).
set -euo pipefail
cd /payload
export BERTH_CRI_SYSTEMD_CGROUP=1 BERTH_CRI_REPO=/payload/repo
echo "== CRI test (systemd cgroup driver): berth, then runc"
# Both tests, one after the other: cri_pod_lifecycle_berth (BERTH) and ..._runc_oracle (runc on PATH).
rc=0
out=$(BERTH=/payload/bin/berth cri-test --nocapture --test-threads=1 2>&1) || rc=1
echo "$out"
# The test prints "skipped: ..." and passes when a tool is missing: that is a failure here.
if grep -q 'skipped:' <<<"$out"; then echo "FAIL: the CRI test skipped in the guest"; rc=1; fi
[ $rc = 0 ] || { echo "FAIL: the CRI test"; exit 1; }
echo "ok: CRI pod lifecycle with the systemd driver, berth and runc"
