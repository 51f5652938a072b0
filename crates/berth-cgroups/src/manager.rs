//! The one [`Manager`] implementation, over any mix of v1 hierarchies and a unified one.
//!
//! Owns the container's directories: creating them (with cpuset and subtree_control
//! preparation of parents), joining processes, freezing, listing pids and removing them.
//! Each controller is served by the hierarchy that holds it (v1 first, as on a hybrid host
//! where only leftovers such as hugetlb live in the unified hierarchy); per-controller
//! writes live in `v1` and `v2`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use crate::stats::{self, Stats};
use crate::{
    bpf_devices, fs, v1, v1_blkio, v1_devices, v2, CgroupError, CgroupPaths, FreezerState, Manager,
    Result,
};

/// The extended attribute that marks a cgroup shared (see `Manager::mark_shared`): trusted.*
/// so only root can set or clear it, and cgroupfs (kernfs) stores it in v1 and v2.
const SHARED_XATTR: &str = "trusted.berth.shared";

/// How long destroy waits for exiting processes to leave before giving up.
const DESTROY_PATIENCE: Duration = Duration::from_millis(2000);
/// How long a freeze may stay in FREEZING / wait for cgroup.events before it fails.
const FREEZE_PATIENCE: Duration = Duration::from_secs(5);

pub(crate) struct FsManager {
    paths: CgroupPaths,
}

/// Where one controller's files are.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl FsManager {
    pub(crate) fn new(paths: CgroupPaths) -> Self {
        FsManager { paths }
    }

    fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.paths.dir_for(controller)
    }

    fn unified(&self) -> Option<&Path> {
        self.paths.unified_dir()
    }

    /// The hierarchy serving `controller`, if any.
    pub(crate) fn target(&self, controller: &str) -> Option<Target<'_>> {
        if let Some(d) = self.v1_dir(controller) {
            return Some(Target::V1(d));
        }
        let u = self.unified()?;
        let offered = std::fs::read_to_string(u.join("cgroup.controllers")).ok()?;
        offered
            .split_whitespace()
            .any(|c| c == controller)
            .then_some(Target::V2(u))
    }

    fn require(&self, controller: &str, what: &str) -> Result<Target<'_>> {
        self.target(controller).ok_or_else(|| {
            CgroupError::Unsupported(format!(
                "{what} (no {controller} controller for {})",
                self.leaf_display()
            ))
        })
    }

    fn leaf_display(&self) -> String {
        self.paths
            .dirs
            .first()
            .map(|(_, d)| d.display().to_string())
            .unwrap_or_default()
    }

    /// The hierarchy whose cgroup.procs lists the container's processes: pids or freezer
    /// on v1 (runc's choice too), else the unified one.
    fn procs_dir(&self) -> Option<&Path> {
        self.v1_dir("pids")
            .or_else(|| self.v1_dir("freezer"))
            .or_else(|| {
                self.paths
                    .dirs
                    .iter()
                    .find(|(k, _)| !k.is_empty())
                    .map(|(_, d)| d.as_path())
            })
            .or_else(|| self.unified())
    }

    fn created_top(&self, key: &str) -> Option<&Path> {
        self.paths
            .created
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, d)| d.as_path())
    }
}

impl Manager for FsManager {
    fn create(&self) -> Result<()> {
        for (key, dir) in &self.paths.dirs {
            create_dir_racing_removal(dir)?;
            if key.is_empty() {
                // After mkdir, so new intermediate directories get controllers too; the
                // leaf's cgroup.controllers follows its parent's subtree_control live.
                enable_subtree_controllers(dir)?;
            }
            if key.split(',').any(|c| c == "cpuset") {
                v1::inherit_cpuset(dir)?;
            }
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        for (_, dir) in &self.paths.dirs {
            fs::write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            if memory_is_set(m) {
                match self.require("memory", "memory limits")? {
                    Target::V1(d) => v1::memory(d, m)?,
                    Target::V2(d) => v2::memory(d, m)?,
                }
            }
        }
        if let Some(c) = r.cpu() {
            if cpu_is_set(c) {
                match self.require("cpu", "cpu limits")? {
                    Target::V1(d) => v1::cpu(d, c)?,
                    Target::V2(d) => v2::cpu(d, c)?,
                }
            }
            if c.cpus().is_some() || c.mems().is_some() {
                match self.require("cpuset", "cpus/mems")? {
                    Target::V1(d) | Target::V2(d) => {
                        v1::cpuset(d, c.cpus().as_deref(), c.mems().as_deref())?
                    }
                }
            }
        }
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                match self.require("pids", "pids limit")? {
                    Target::V1(d) | Target::V2(d) => v1::pids(d, p.limit())?,
                }
            }
        }
        if let Some(b) = r.block_io() {
            if v1_blkio::is_set(b) {
                match self.target("blkio").or_else(|| self.target("io")) {
                    Some(Target::V1(d)) => v1_blkio::apply(d, b)?,
                    Some(Target::V2(d)) => v2::io(d, b)?,
                    None => {
                        return Err(CgroupError::Unsupported(format!(
                            "blockIO limits (no blkio/io controller for {})",
                            self.leaf_display()
                        )))
                    }
                }
            }
        }
        if let Some(h) = r.hugepage_limits() {
            if !h.is_empty() {
                match self.require("hugetlb", "hugepage limits")? {
                    Target::V1(d) => v1::hugetlb(d, h)?,
                    Target::V2(d) => v2::hugetlb(d, h)?,
                }
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                let Some(d) = self.v1_dir("net_cls") else {
                    return Err(CgroupError::Unsupported(
                        "network.classID (no v1 net_cls controller mounted)".into(),
                    ));
                };
                fs::write(d, "net_cls.classid", &id.to_string())?;
            }
            if let Some(prios) = n.priorities() {
                if !prios.is_empty() {
                    let Some(d) = self.v1_dir("net_prio") else {
                        return Err(CgroupError::Unsupported(
                            "network.priorities (no v1 net_prio controller mounted)".into(),
                        ));
                    };
                    for p in prios {
                        fs::write(
                            d,
                            "net_prio.ifpriomap",
                            &format!("{} {}", p.name(), p.priority()),
                        )?;
                    }
                }
            }
        }
        if let Some(devs) = r.devices() {
            if !devs.is_empty() {
                match (self.v1_dir("devices"), self.unified()) {
                    (Some(d), _) => v1_devices::devices(d, devs)?,
                    (None, Some(u)) => bpf_devices::apply(u, devs)?,
                    (None, None) => {
                        return Err(CgroupError::Unsupported(
                            "device rules (no devices controller and no cgroup v2)".into(),
                        ))
                    }
                }
            }
        }
        if let Some(rdma) = r.rdma() {
            if !rdma.is_empty() {
                match self.require("rdma", "rdma limits")? {
                    Target::V1(d) | Target::V2(d) => v1::rdma(d, rdma)?,
                }
            }
        }
        if let Some(u) = r.unified() {
            if !u.is_empty() {
                let Some(d) = self.unified() else {
                    return Err(CgroupError::Unsupported(
                        "unified resources on a host without cgroup v2".into(),
                    ));
                };
                v2::unified(d, u)?;
            }
        }
        Ok(())
    }

    fn freeze(&self, state: FreezerState) -> Result<()> {
        if let Some(d) = self.v1_dir("freezer") {
            return v1::freeze(d, state, FREEZE_PATIENCE);
        }
        if let Some(d) = self.unified() {
            return v2::freeze(d, state, FREEZE_PATIENCE);
        }
        Err(CgroupError::Unsupported(
            "freezing (no freezer controller and no cgroup v2)".into(),
        ))
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        if let Some(d) = self.v1_dir("freezer") {
            return v1::freezer_state(d, FREEZE_PATIENCE);
        }
        if let Some(d) = self.unified() {
            return v2::freezer_state(d);
        }
        Err(CgroupError::Unsupported(
            "freezing (no freezer controller and no cgroup v2)".into(),
        ))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let mut all = Vec::new();
        for d in fs::subtree_leaf_first(dir)? {
            match fs::read_procs(&d) {
                Ok(p) => all.extend(p),
                // A sub-cgroup removed while we walk, or the cgroup already destroyed.
                Err(CgroupError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    fn mark_shared(&self) -> Result<()> {
        for (_, dir) in &self.paths.dirs {
            crate::sys::set_xattr(dir, SHARED_XATTR, b"1")
                .map_err(|e| fs::io_err("mark shared", dir, e))?;
        }
        Ok(())
    }

    fn is_marked_shared(&self) -> bool {
        self.paths
            .dirs
            .iter()
            .any(|(_, dir)| crate::sys::has_xattr(dir, SHARED_XATTR).unwrap_or(false))
    }

    fn destroy(&self) -> Result<()> {
        let deadline = Instant::now() + DESTROY_PATIENCE;
        for (key, dir) in &self.paths.dirs {
            // A directory that existed before the container is someone else's: it stays.
            let Some(top) = self.created_top(key) else {
                continue;
            };
            remove_tree(dir, deadline)?;
            remove_created_parents(dir, top);
        }
        Ok(())
    }

    fn paths(&self) -> &CgroupPaths {
        &self.paths
    }

    fn stats(&self) -> Result<Stats> {
        stats::collect(self)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        match self.target("memory") {
            Some(Target::V1(d)) => stats::v1_oom_kills(d),
            Some(Target::V2(d)) => stats::v2_oom_kills(d),
            None => Err(CgroupError::Unsupported(format!(
                "OOM counting (no memory controller for {})",
                self.leaf_display()
            ))),
        }
    }
}

/// Whether any field asks for something: clients fill in no-op values (docker sends
/// `disableOOMKiller: false`, `shares: 0`, `blockIO.weight: 0`), which must not require
/// a controller the host lacks.
fn memory_is_set(m: &LinuxMemory) -> bool {
    let nonzero = |v: Option<i64>| v.is_some_and(|v| v != 0);
    nonzero(m.limit())
        || nonzero(m.reservation())
        || nonzero(m.swap())
        || nonzero(m.kernel())
        || nonzero(m.kernel_tcp())
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.use_hierarchy().is_some()
}

fn cpu_is_set(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|v| v != 0)
        || c.quota().is_some_and(|v| v != 0)
        || c.period().is_some_and(|v| v != 0)
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_runtime().is_some_and(|v| v != 0)
        || c.realtime_period().is_some_and(|v| v != 0)
}

/// mkdir -p that tolerates a parent vanishing under it: another container sharing the parent
/// (e.g. /docker) may be deleting it, removing the parent it created, between our check and
/// our mkdir. Trying again recreates the parent.
fn create_dir_racing_removal(dir: &Path) -> Result<()> {
    let mut attempts = 0;
    loop {
        match std::fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 5 => attempts += 1,
            Err(e) => return Err(fs::io_err("create cgroup", dir, e)),
        }
    }
}

/// Enables, in every ancestor of `dir` inside the unified hierarchy, each controller the
/// ancestor offers, so `dir` gets its control files. One controller at a time: an
/// ancestor with processes of its own refuses domain controllers (EBUSY), which only
/// means `dir` lacks them; apply reports that when a limit needs one.
fn enable_subtree_controllers(dir: &Path) -> Result<()> {
    let mut ancestors: Vec<PathBuf> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| a.join("cgroup.controllers").exists())
        .map(Path::to_path_buf)
        .collect();
    ancestors.reverse();
    for a in ancestors {
        let offered = fs::read(&a, "cgroup.controllers")?;
        let enabled = fs::read(&a, "cgroup.subtree_control")?;
        for c in offered.split_whitespace() {
            if !enabled.split_whitespace().any(|e| e == c) {
                // Failure is tolerated; see the function comment.
                let _ = fs::try_write(&a, "cgroup.subtree_control", &format!("+{c}"));
            }
        }
    }
    Ok(())
}

/// Removes `dir` and every cgroup below it, leaf first. EBUSY (processes still exiting)
/// is retried with backoff until `deadline`.
fn remove_tree(dir: &Path, deadline: Instant) -> Result<()> {
    // The common case, a cgroup without children: one rmdir instead of listing it first
    // (5 syscalls per hierarchy). EBUSY means children or processes: the walk tells which.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let started = Instant::now();
    let mut backoff = Duration::from_millis(5);
    loop {
        let mut busy = None;
        for d in fs::subtree_leaf_first(dir)? {
            match std::fs::remove_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    busy = Some(d);
                    break;
                }
                Err(e) => return Err(fs::io_err("remove cgroup", d, e)),
            }
        }
        let Some(busy) = busy else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            let pids = fs::read_procs(&busy).unwrap_or_default();
            return Err(CgroupError::Busy {
                path: busy,
                pids,
                waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        std::thread::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())));
        backoff = (backoff * 2).min(Duration::from_millis(200));
    }
}

/// Removes the now-empty parents of `dir` that our create made, up to `top`. A parent
/// shared with another container is not empty and stays (ENOTEMPTY/EBUSY stop the walk).
fn remove_created_parents(dir: &Path, top: &Path) {
    if dir == top || !dir.starts_with(top) {
        return;
    }
    for parent in dir.ancestors().skip(1) {
        if std::fs::remove_dir(parent).is_err() && parent.exists() {
            return;
        }
        if parent == top {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LayoutKind;

    fn fixture(dirs: &[(&str, &Path)]) -> FsManager {
        FsManager::new(CgroupPaths {
            layout: LayoutKind::Hybrid,
            dirs: dirs
                .iter()
                .map(|(k, d)| (k.to_string(), d.to_path_buf()))
                .collect(),
            created: Vec::new(),
            systemd_unit: None,
        })
    }

    fn touch(dir: &Path, files: &[&str]) {
        std::fs::create_dir_all(dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
    }

    fn get(dir: &Path, f: &str) -> String {
        std::fs::read_to_string(dir.join(f)).unwrap()
    }

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_controller_goes_to_the_hierarchy_holding_it() {
        let t = tempfile::tempdir().unwrap();
        let net = t.path().join("net/c");
        let pids = t.path().join("pids/c");
        let uni = t.path().join("unified/c");
        touch(&net, &["net_cls.classid", "net_prio.ifpriomap"]);
        touch(&pids, &["pids.max"]);
        touch(
            &uni,
            &["hugetlb.2MB.max", "rdma.max", "hugetlb.2MB.rsvd.max"],
        );
        std::fs::write(uni.join("cgroup.controllers"), "hugetlb rdma\n").unwrap();
        let m = fixture(&[("net_cls,net_prio", &net), ("pids", &pids), ("", &uni)]);
        m.apply(&res(
            r#"{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]},
                "pids":{"limit":-1},
                "hugepageLimits":[{"pageSize":"2MB","limit":2097152}],
                "rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10}},
                "unified":{"hugetlb.2MB.rsvd.max":"4096"}}"#,
        ))
        .unwrap();
        assert_eq!(get(&net, "net_cls.classid"), "1048577");
        assert_eq!(get(&net, "net_prio.ifpriomap"), "eth0 5");
        assert_eq!(get(&pids, "pids.max"), "max");
        assert_eq!(get(&uni, "hugetlb.2MB.max"), "2097152");
        assert_eq!(get(&uni, "rdma.max"), "mlx5_1 hca_handle=3 hca_object=10");
        assert_eq!(get(&uni, "hugetlb.2MB.rsvd.max"), "4096");
        // No memory controller anywhere: a memory limit is refused, an empty one is not.
        let err = m.apply(&res(r#"{"memory":{"limit":1000}}"#)).unwrap_err();
        assert!(matches!(err, CgroupError::Unsupported(_)), "{err}");
        m.apply(&res(r#"{"memory":{}}"#)).unwrap();
    }

    #[test]
    fn destroy_removes_created_dirs_and_keeps_existing_parents() {
        let t = tempfile::tempdir().unwrap();
        let existing = t.path().join("mem/docker");
        std::fs::create_dir_all(&existing).unwrap();
        let leaf_a = t.path().join("mem/docker/a/ctr");
        let leaf_b = t.path().join("cpu/docker/ctr");
        let m = FsManager::new(CgroupPaths {
            layout: LayoutKind::V1,
            dirs: vec![
                ("memory".into(), leaf_a.clone()),
                ("cpu".into(), leaf_b.clone()),
            ],
            created: vec![
                ("memory".into(), t.path().join("mem/docker/a")),
                ("cpu".into(), t.path().join("cpu/docker")),
            ],
            systemd_unit: None,
        });
        m.create().unwrap();
        // A sub-cgroup the container made itself goes too.
        std::fs::create_dir_all(leaf_a.join("inner/deeper")).unwrap();
        m.destroy().unwrap();
        assert!(!t.path().join("mem/docker/a").exists());
        assert!(existing.is_dir(), "pre-existing parent kept");
        assert!(!t.path().join("cpu/docker").exists());
        assert!(t.path().join("cpu").is_dir());
        m.destroy().unwrap();
    }

    #[test]
    fn destroy_keeps_a_cgroup_it_did_not_create() {
        let t = tempfile::tempdir().unwrap();
        let leaf = t.path().join("mem/shared");
        std::fs::create_dir_all(&leaf).unwrap();
        // Resolved while the leaf existed: nothing recorded as created.
        let m = fixture(&[("memory", &leaf)]);
        m.create().unwrap();
        m.destroy().unwrap();
        assert!(leaf.is_dir(), "a pre-existing cgroup was removed");
    }
}
