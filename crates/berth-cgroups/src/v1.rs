//! cgroup v1 control-file writes, one function per controller, in runc's order.
//!
//! Also serves the few files whose names and formats are the same in v2 (cpuset.cpus,
//! cpuset.mems, pids.max, rdma.max). Owns nothing but the files of the directory it is
//! given.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxRdma};

use crate::{fs, CgroupError, FreezerState, Result};

/// A new v1 cpuset cgroup starts with empty cpus/mems, which makes joining it fail with
/// ENOSPC; copy them down from the nearest ancestor that has them, as runc does.
///
/// Below an ancestor that balances load (`cpuset.sched_load_balance` 1, the default), the
/// new cpusets' own flag is cleared first: the kernel builds scheduler domains from the
/// topmost balancing cpusets and never looks below them, so the flag there changes no
/// scheduling, but while it is set every write of cpuset.cpus and the cgroup's removal
/// rebuild the host's scheduler domains (0.39 -> 0.22 ms of CPU per create+delete of a
/// cpuset here, bench/README.md session 6).
pub(crate) fn inherit_cpuset(dir: &Path) -> Result<()> {
    let mut empty = Vec::new();
    let mut balanced = false;
    for d in dir.ancestors() {
        if !fs::exists(d, "cpuset.cpus") {
            break;
        }
        let cpus = fs::read(d, "cpuset.cpus")?;
        let mems = fs::read(d, "cpuset.mems")?;
        if !cpus.trim().is_empty() && !mems.trim().is_empty() {
            balanced = fs::read(d, "cpuset.sched_load_balance").is_ok_and(|v| v.trim() == "1");
            break;
        }
        empty.push(d.to_path_buf());
    }
    for d in empty.iter().rev() {
        if balanced {
            fs::write(d, "cpuset.sched_load_balance", "0")?;
        }
        let Some(parent) = d.parent() else { continue };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if fs::read(d, file)?.trim().is_empty() {
                let v = fs::read(parent, file)?;
                fs::write(d, file, v.trim())?;
            }
        }
    }
    Ok(())
}

pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    if m.check_before_update() == Some(true) && limit > 0 {
        check_usage_below(dir, "memory.usage_in_bytes", limit)?;
    }
    // Unlimited memory with swap unspecified means both unlimited.
    if limit == -1 && swap == 0 && fs::exists(dir, "memory.memsw.limit_in_bytes") {
        swap = -1;
    }
    // The kernel refuses memory > memsw at every moment, so the order of the two writes
    // depends on whether the limits grow or shrink.
    let swap_first = limit != 0 && swap != 0 && {
        let cur = fs::read_u64(dir, "memory.limit_in_bytes")?;
        swap == -1 || u64::try_from(swap).is_ok_and(|s| cur < s)
    };
    if swap_first {
        write_swap(dir, swap)?;
        write_memory_limit(dir, limit)?;
    } else {
        write_memory_limit(dir, limit)?;
        write_swap(dir, swap)?;
    }
    if let Some(v) = m.reservation() {
        fs::write(dir, "memory.soft_limit_in_bytes", &v.to_string())?;
    }
    if let Some(v) = m.kernel() {
        // Deprecated by the kernel (accepted and ignored since 6.x), kept for older kernels.
        fs::write(dir, "memory.kmem.limit_in_bytes", &v.to_string())?;
    }
    if let Some(v) = m.kernel_tcp() {
        fs::write(dir, "memory.kmem.tcp.limit_in_bytes", &v.to_string())?;
    }
    if let Some(v) = m.swappiness() {
        if v > 100 {
            return Err(CgroupError::Invalid(format!(
                "memory.swappiness {v} is outside 0..=100"
            )));
        }
        fs::write(dir, "memory.swappiness", &v.to_string())?;
    }
    if let Some(v) = m.use_hierarchy() {
        fs::write(dir, "memory.use_hierarchy", if v { "1" } else { "0" })?;
    }
    if m.disable_oom_killer() == Some(true) {
        fs::write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

/// checkBeforeUpdate: refuse a limit below what the cgroup already uses.
pub(crate) fn check_usage_below(dir: &Path, usage_file: &str, limit: i64) -> Result<()> {
    let usage = fs::read_u64(dir, usage_file)?;
    if u64::try_from(limit).is_ok_and(|l| l < usage) {
        return Err(CgroupError::Invalid(format!(
            "rejecting memory limit {limit} below current usage {usage} ({})",
            dir.join(usage_file).display()
        )));
    }
    Ok(())
}

fn write_memory_limit(dir: &Path, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    match fs::try_write(dir, "memory.limit_in_bytes", &limit.to_string()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let usage = fs::read_u64(dir, "memory.usage_in_bytes").unwrap_or(0);
            let peak = fs::read_u64(dir, "memory.max_usage_in_bytes").unwrap_or(0);
            Err(CgroupError::Invalid(format!(
                "unable to set memory limit to {limit} in {} (current usage: {usage}, peak usage: {peak})",
                dir.display()
            )))
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let memsw = fs::read_u64(dir, "memory.memsw.limit_in_bytes").unwrap_or(0);
            Err(CgroupError::Invalid(format!(
                "unable to set memory limit to {limit} in {}: above the memory+swap limit {memsw} \
                 (give memory.swap too)",
                dir.display()
            )))
        }
        Err(e) => Err(fs::io_err("write memory.limit_in_bytes", dir, e)),
    }
}

fn write_swap(dir: &Path, swap: i64) -> Result<()> {
    if swap == 0 {
        return Ok(());
    }
    fs::write(dir, "memory.memsw.limit_in_bytes", &swap.to_string())
}

pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares() {
        if shares != 0 {
            fs::write(dir, "cpu.shares", &shares.to_string())?;
            let got = fs::read_u64(dir, "cpu.shares")?;
            if got < shares {
                return Err(CgroupError::Invalid(format!(
                    "cpu.shares {shares}: the maximum allowed cpu-shares is {got}"
                )));
            } else if got > shares {
                return Err(CgroupError::Invalid(format!(
                    "cpu.shares {shares}: the minimum allowed cpu-shares is {got}"
                )));
            }
        }
    }
    let quota = c.quota().unwrap_or(0);
    let mut period_pending = None;
    if let Some(period) = c.period().filter(|p| *p != 0) {
        // Shrinking the period can exceed the parent's quota ratio until the quota is
        // lowered too: retry it after the quota, as runc does.
        match fs::try_write(dir, "cpu.cfs_period_us", &period.to_string()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && quota != 0 => {
                period_pending = Some(period)
            }
            Err(e) => return Err(fs::io_err("write cpu.cfs_period_us", dir, e)),
        }
    }
    if quota != 0 {
        fs::write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(p) = period_pending {
            fs::write(dir, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    if let Some(b) = c.burst() {
        fs::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(idle) = c.idle() {
        fs::write(dir, "cpu.idle", &idle.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        fs::write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        fs::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    Ok(())
}

pub(crate) fn cpuset(dir: &Path, cpus: Option<&str>, mems: Option<&str>) -> Result<()> {
    if let Some(c) = cpus.filter(|c| !c.is_empty()) {
        fs::write(dir, "cpuset.cpus", c)?;
    }
    if let Some(m) = mems.filter(|m| !m.is_empty()) {
        fs::write(dir, "cpuset.mems", m)?;
    }
    Ok(())
}

/// pids.max: a negative limit is unlimited.
pub(crate) fn pids(dir: &Path, limit: i64) -> Result<()> {
    let v = if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    };
    fs::write(dir, "pids.max", &v)
}

/// hugetlb.<size>.limit_in_bytes, and the reservation limit where the kernel has one.
pub(crate) fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let size = l.page_size();
        check_page_size(size)?;
        let v = l.limit().to_string();
        fs::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &v)?;
        let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
        if fs::exists(dir, &rsvd) {
            fs::write(dir, &rsvd, &v)?;
        }
    }
    Ok(())
}

/// Page sizes name files ("2MB", "1GB"): refuse anything that could leave the directory.
pub(crate) fn check_page_size(size: &str) -> Result<()> {
    if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CgroupError::Invalid(format!(
            "hugepage pageSize {size:?} is not like \"2MB\""
        )));
    }
    Ok(())
}

/// rdma.max lines: "<device> hca_handle=N hca_object=N" (same format on v1 and v2).
pub(crate) fn rdma(dir: &Path, limits: &HashMap<String, LinuxRdma>) -> Result<()> {
    let mut names: Vec<&String> = limits.keys().collect();
    names.sort();
    for name in names {
        let l = &limits[name];
        let mut line = name.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > name.len() {
            fs::write(dir, "rdma.max", &line)?;
        }
    }
    Ok(())
}

/// Freezes or thaws, polling freezer.state until the kernel reports the target state.
/// A freeze can stall in FREEZING behind a task in an uninterruptible sleep; a brief
/// thaw-and-refreeze now and then unsticks it (runc does the same).
pub(crate) fn freeze(dir: &Path, state: FreezerState, patience: Duration) -> Result<()> {
    let deadline = Instant::now() + patience;
    if state == FreezerState::Thawed {
        fs::write(dir, "freezer.state", "THAWED")?;
        loop {
            if fs::read(dir, "freezer.state")?.trim() == "THAWED" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(CgroupError::Invalid(format!(
                    "{} did not thaw",
                    dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut attempt = 0u32;
    loop {
        if attempt % 50 == 49 {
            fs::write(dir, "freezer.state", "THAWED")?;
            std::thread::sleep(Duration::from_millis(10));
        }
        fs::write(dir, "freezer.state", "FROZEN")?;
        if attempt % 25 == 24 {
            std::thread::sleep(Duration::from_millis(10));
        }
        match fs::read(dir, "freezer.state")?.trim() {
            "FROZEN" => return Ok(()),
            _ if Instant::now() >= deadline => {
                // Leave the cgroup usable rather than half-frozen.
                let _ = fs::write(dir, "freezer.state", "THAWED");
                return Err(CgroupError::Invalid(format!(
                    "{} did not freeze within {} ms",
                    dir.display(),
                    patience.as_millis()
                )));
            }
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
        attempt += 1;
    }
}

/// FREEZING is transient; wait it out so callers see a settled state.
pub(crate) fn freezer_state(dir: &Path, patience: Duration) -> Result<FreezerState> {
    let deadline = Instant::now() + patience;
    loop {
        match fs::read(dir, "freezer.state")?.trim() {
            "THAWED" => return Ok(FreezerState::Thawed),
            "FROZEN" => return Ok(FreezerState::Frozen),
            other if Instant::now() >= deadline => {
                return Err(CgroupError::Invalid(format!(
                    "{}: freezer.state stuck at {other:?}",
                    dir.display()
                )))
            }
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxMemoryBuilder;

    fn files(dir: &Path, names: &[(&str, &str)]) {
        for (n, v) in names {
            std::fs::write(dir.join(n), v).unwrap();
        }
    }

    fn get(dir: &Path, n: &str) -> String {
        std::fs::read_to_string(dir.join(n)).unwrap()
    }

    #[test]
    fn memory_shrinks_swap_after_limit_and_grows_it_before() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        files(
            d,
            &[
                ("memory.limit_in_bytes", "1000"),
                ("memory.memsw.limit_in_bytes", "1000"),
                ("memory.usage_in_bytes", "500"),
                ("memory.swappiness", ""),
                ("memory.oom_control", ""),
                ("memory.soft_limit_in_bytes", ""),
            ],
        );
        let m = LinuxMemoryBuilder::default()
            .limit(2000)
            .swap(4000)
            .reservation(100)
            .swappiness(10u64)
            .disable_oom_killer(true)
            .build()
            .unwrap();
        memory(d, &m).unwrap();
        assert_eq!(get(d, "memory.limit_in_bytes"), "2000");
        assert_eq!(get(d, "memory.memsw.limit_in_bytes"), "4000");
        assert_eq!(get(d, "memory.soft_limit_in_bytes"), "100");
        assert_eq!(get(d, "memory.swappiness"), "10");
        assert_eq!(get(d, "memory.oom_control"), "1");

        let too_small = LinuxMemoryBuilder::default()
            .limit(100)
            .check_before_update(true)
            .build()
            .unwrap();
        let err = memory(d, &too_small).unwrap_err();
        assert!(err.to_string().contains("below current usage 500"), "{err}");
        assert_eq!(get(d, "memory.limit_in_bytes"), "2000");

        let unlimited = LinuxMemoryBuilder::default().limit(-1).build().unwrap();
        memory(d, &unlimited).unwrap();
        assert_eq!(get(d, "memory.memsw.limit_in_bytes"), "-1");
        assert!(memory(
            d,
            &LinuxMemoryBuilder::default()
                .swappiness(101u64)
                .build()
                .unwrap()
        )
        .is_err());
    }

    #[test]
    fn cpuset_is_inherited_top_down() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        files(
            root,
            &[
                ("cpuset.cpus", "0-1\n"),
                ("cpuset.mems", "0\n"),
                ("cpuset.sched_load_balance", "1\n"),
            ],
        );
        let a = root.join("a");
        let b = a.join("b");
        std::fs::create_dir_all(&b).unwrap();
        for d in [&a, &b] {
            files(
                d,
                &[
                    ("cpuset.cpus", ""),
                    ("cpuset.mems", ""),
                    ("cpuset.sched_load_balance", "1"),
                ],
            );
        }
        inherit_cpuset(&b).unwrap();
        assert_eq!(get(&b, "cpuset.cpus"), "0-1");
        assert_eq!(get(&a, "cpuset.mems"), "0");
        // Below a balancing ancestor the new cpusets stop asking for their own domains.
        assert_eq!(get(&a, "cpuset.sched_load_balance"), "0");
        assert_eq!(get(&b, "cpuset.sched_load_balance"), "0");
    }
}
