//! cgroup v2 (unified) control-file writes, with runc's v1→v2 value conversions.
//!
//! Owns nothing but the files of the directory it is given; files shared in name and
//! format with v1 (cpuset, pids, rdma) are written by `v1`.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use crate::convert::{
    blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2, v2_limit,
};
use crate::{fs, v1, CgroupError, FreezerState, Result};

/// memory.max / memory.swap.max / memory.low. swappiness, kernel memory and the OOM-killer
/// switch have no v2 file and are ignored, as runc ignores them there.
pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = memory_swap_to_v2(m.swap().unwrap_or(0), limit)?;
    if m.check_before_update() == Some(true) && limit > 0 {
        v1::check_usage_below(dir, "memory.current", limit)?;
    }
    // swap.max first: it is independent of memory.max, and a failing swap write must not
    // leave a changed memory limit behind.
    if let Some(s) = v2_limit(swap) {
        match fs::try_write(dir, "memory.swap.max", &s) {
            Ok(()) => {}
            // No swap accounting in this kernel: "unlimited" or "none" are already true.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && (s == "max" || s == "0") => {}
            Err(e) => return Err(fs::io_err("write memory.swap.max", dir, e)),
        }
    }
    if let Some(l) = v2_limit(limit) {
        match fs::try_write(dir, "memory.max", &l) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let usage = fs::read_u64(dir, "memory.current").unwrap_or(0);
                return Err(CgroupError::Invalid(format!(
                    "unable to set memory limit to {limit} in {} (current usage: {usage})",
                    dir.display()
                )));
            }
            Err(e) => return Err(fs::io_err("write memory.max", dir, e)),
        }
    }
    if let Some(r) = m.reservation().and_then(v2_limit) {
        fs::write(dir, "memory.low", &r)?;
    }
    Ok(())
}

pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|r| r != 0) || c.realtime_period().is_some_and(|p| p != 0) {
        return Err(CgroupError::Unsupported(
            "cpu.realtimeRuntime/realtimePeriod on cgroup v2".into(),
        ));
    }
    if let Some(idle) = c.idle() {
        fs::write(dir, "cpu.idle", &idle.to_string())?;
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        fs::write(dir, "cpu.weight", &cpu_shares_to_weight(shares).to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            v.push_str(&format!(" {period}"));
        }
        fs::write(dir, "cpu.max", &v)?;
    }
    if let Some(b) = c.burst() {
        fs::write(dir, "cpu.max.burst", &b.to_string())?;
    }
    Ok(())
}

/// io.weight (or io.bfq.weight, which takes blkio's scale) and io.max throttles.
pub(crate) fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = fs::exists(dir, "io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            fs::write(dir, "io.bfq.weight", &w.to_string())?;
        } else {
            fs::write(
                dir,
                "io.weight",
                &blkio_weight_to_io_weight(u64::from(w)).to_string(),
            )?;
        }
    }
    if b.leaf_weight().is_some_and(|w| w != 0) {
        return Err(CgroupError::Unsupported(
            "blockIO.leafWeight on cgroup v2".into(),
        ));
    }
    for wd in b.weight_device().iter().flatten() {
        if wd.leaf_weight().is_some() {
            return Err(CgroupError::Unsupported(
                "blockIO.weightDevice leafWeight on cgroup v2".into(),
            ));
        }
        if let Some(w) = wd.weight() {
            let (file, v) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                ("io.weight", blkio_weight_to_io_weight(u64::from(w)))
            };
            fs::write(dir, file, &format!("{}:{} {v}", wd.major(), wd.minor()))?;
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, devs) in throttles {
        for t in devs.iter().flatten() {
            // 0 means "no limit" in the OCI config, "max" in io.max.
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            fs::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let size = l.page_size();
        v1::check_page_size(size)?;
        let v = v2_limit(l.limit()).unwrap_or_else(|| "0".into());
        fs::write(dir, &format!("hugetlb.{size}.max"), &v)?;
        let rsvd = format!("hugetlb.{size}.rsvd.max");
        if fs::exists(dir, &rsvd) {
            fs::write(dir, &rsvd, &v)?;
        }
    }
    Ok(())
}

/// Raw `unified` key/values, each written as a file of the container's own directory and
/// checked as runc checks them: a plain `CONTROLLER.PARAMETER` file name (no '/', no
/// leading '.', so never "..") whose controller is enabled there (`cgroup.*` always is).
/// Written after every other resource, so a key overrides the value a field set.
pub(crate) fn unified(dir: &Path, kv: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = kv.keys().collect();
    keys.sort();
    let enabled = fs::read(dir, "cgroup.controllers").unwrap_or_default();
    for k in keys {
        if k.contains('/') || k.starts_with('.') {
            return Err(CgroupError::Invalid(format!(
                "unified key {k:?} must be a file name of the container's cgroup (no '/' or \"..\")"
            )));
        }
        let Some((controller, _)) = k.split_once('.') else {
            return Err(CgroupError::Invalid(format!(
                "unified key {k:?} must be in the form CONTROLLER.PARAMETER"
            )));
        };
        if controller != "cgroup" && !enabled.split_whitespace().any(|c| c == controller) {
            return Err(CgroupError::Unsupported(format!(
                "unified key {k:?} (controller {controller:?} not enabled in {})",
                dir.display()
            )));
        }
        match fs::try_write(dir, k, &kv[k]) {
            Ok(()) => {}
            Err(e) => {
                return Err(CgroupError::Invalid(format!(
                    "unified key {k:?}: write {:?} to {}: {e}",
                    kv[k],
                    dir.join(k).display()
                )))
            }
        }
    }
    Ok(())
}

/// `cgroup.kill`: SIGKILL to every process in `dir` and its descendants, forks racing the
/// kill included (kernel ≥ 5.14). Ok(false) where the file is missing, for the caller to
/// signal pid by pid instead.
pub(crate) fn kill(dir: &Path) -> Result<bool> {
    match fs::try_write(dir, "cgroup.kill", "1") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(fs::io_err("write cgroup.kill", dir, e)),
    }
}

/// cgroup.freeze, then wait until cgroup.events reports the state reached.
pub(crate) fn freeze(dir: &Path, state: FreezerState, patience: Duration) -> Result<()> {
    let want = if state == FreezerState::Frozen { 1 } else { 0 };
    fs::write(dir, "cgroup.freeze", &want.to_string())?;
    let deadline = Instant::now() + patience;
    loop {
        let events = fs::read_keyed(dir, "cgroup.events")?;
        if fs::keyed_get(&events, "frozen") == Some(want) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            if want == 1 {
                let _ = fs::write(dir, "cgroup.freeze", "0");
            }
            return Err(CgroupError::Invalid(format!(
                "{}: cgroup.events did not report frozen {want} within {} ms",
                dir.display(),
                patience.as_millis()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub(crate) fn freezer_state(dir: &Path) -> Result<FreezerState> {
    Ok(match fs::read(dir, "cgroup.freeze")?.trim() {
        "1" => FreezerState::Frozen,
        _ => FreezerState::Thawed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxThrottleDeviceBuilder,
    };

    fn touch(dir: &Path, names: &[&str]) {
        for n in names {
            std::fs::write(dir.join(n), "").unwrap();
        }
    }

    fn get(dir: &Path, n: &str) -> String {
        std::fs::read_to_string(dir.join(n)).unwrap()
    }

    #[test]
    fn memory_converts_swap_and_limits() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, &["memory.max", "memory.swap.max", "memory.low"]);
        let m = LinuxMemoryBuilder::default()
            .limit(100)
            .swap(300)
            .reservation(50)
            .build()
            .unwrap();
        memory(d, &m).unwrap();
        assert_eq!(get(d, "memory.max"), "100");
        assert_eq!(get(d, "memory.swap.max"), "200");
        assert_eq!(get(d, "memory.low"), "50");
        memory(d, &LinuxMemoryBuilder::default().limit(-1).build().unwrap()).unwrap();
        assert_eq!(get(d, "memory.max"), "max");
        assert_eq!(get(d, "memory.swap.max"), "max");
    }

    #[test]
    fn cpu_weight_and_max() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, &["cpu.weight", "cpu.max", "cpu.idle"]);
        let c = LinuxCpuBuilder::default()
            .shares(1024u64)
            .quota(50000)
            .period(100000u64)
            .build()
            .unwrap();
        cpu(d, &c).unwrap();
        assert_eq!(get(d, "cpu.weight"), "39");
        assert_eq!(get(d, "cpu.max"), "50000 100000");
        cpu(d, &LinuxCpuBuilder::default().quota(-1).build().unwrap()).unwrap();
        assert_eq!(get(d, "cpu.max"), "max");
        let rt = LinuxCpuBuilder::default()
            .realtime_runtime(1000)
            .build()
            .unwrap();
        assert!(matches!(cpu(d, &rt), Err(CgroupError::Unsupported(_))));
    }

    #[test]
    fn io_weight_and_throttle() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, &["io.weight", "io.max"]);
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .throttle_read_bps_device(vec![LinuxThrottleDeviceBuilder::default()
                .major(8)
                .minor(0)
                .rate(1048576u64)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        io(d, &b).unwrap();
        assert_eq!(get(d, "io.weight"), "4950");
        assert_eq!(get(d, "io.max"), "8:0 rbps=1048576");
    }

    #[test]
    fn unified_writes_keys_of_enabled_controllers_only() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, &["memory.high", "memory.min", "cgroup.max.depth"]);
        std::fs::write(d.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        let kv = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        unified(
            d,
            &kv(&[
                ("memory.high", "4096"),
                ("memory.min", "1024"),
                ("cgroup.max.depth", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(get(d, "memory.high"), "4096");
        assert_eq!(get(d, "memory.min"), "1024");
        assert_eq!(get(d, "cgroup.max.depth"), "2");
        for bad in ["../memory.high", "..", "a/b", "nodot"] {
            let err = unified(d, &kv(&[(bad, "1")])).unwrap_err();
            assert!(matches!(err, CgroupError::Invalid(_)), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        // hugetlb is not enabled: refused, naming the key, before any write.
        let err = unified(d, &kv(&[("hugetlb.2MB.max", "0")])).unwrap_err();
        assert!(matches!(err, CgroupError::Unsupported(_)), "{err}");
        assert!(err.to_string().contains("\"hugetlb.2MB.max\""), "{err}");
        // Enabled controller, no such file: the write fails, naming the key.
        let err = unified(d, &kv(&[("memory.nope", "1")])).unwrap_err();
        assert!(err.to_string().contains("\"memory.nope\""), "{err}");
    }

    #[test]
    fn kill_writes_cgroup_kill_or_reports_its_absence() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert!(
            !kill(d).unwrap(),
            "no cgroup.kill: the caller signals pid by pid"
        );
        touch(d, &["cgroup.kill"]);
        assert!(kill(d).unwrap());
        assert_eq!(get(d, "cgroup.kill"), "1");
    }

    #[test]
    fn hugetlb_sets_the_reservation_limit_where_present() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(
            d,
            &["hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max"],
        );
        let l = |size: &str, limit: u64| {
            oci_spec::runtime::LinuxHugepageLimitBuilder::default()
                .page_size(size)
                .limit(limit as i64)
                .build()
                .unwrap()
        };
        hugetlb(d, &[l("2MB", 4 << 20), l("1GB", 1 << 30)]).unwrap();
        assert_eq!(get(d, "hugetlb.2MB.max"), "4194304");
        assert_eq!(get(d, "hugetlb.2MB.rsvd.max"), "4194304");
        assert_eq!(get(d, "hugetlb.1GB.max"), "1073741824");
        assert!(!d.join("hugetlb.1GB.rsvd.max").exists());
    }

    #[test]
    fn cpu_idle_is_written() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        touch(d, &["cpu.idle", "cpu.weight"]);
        cpu(
            d,
            &LinuxCpuBuilder::default()
                .idle(1i64)
                .shares(2u64)
                .build()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(get(d, "cpu.idle"), "1");
        assert_eq!(get(d, "cpu.weight"), "1");
    }
}
