//! cgroup management for berth: one [`Manager`] over the three host layouts (v1, v2, hybrid).
//!
//! This crate owns everything under the cgroup mount points: detecting the layout from
//! mountinfo, creating and removing a container's cgroup directories, moving processes in,
//! applying `LinuxResources`, freezing, and reading the process list and statistics.
//! The cgroup mount root and the mountinfo file are parameters, so unit tests run on
//! fixture trees in a tempdir without root. It must not touch namespaces or processes
//! beyond writing pids into cgroup files.
//!
//! Modules: [`layout`] (mountinfo and /proc/self/cgroup, path resolution), [`systemd`]
//! (`slice:prefix:name` translation and the systemd driver: transient scopes over D-Bus), `fs` (file access with error context), `manager`
//! (the one [`Manager`] implementation), `v1` / `v2` (per-controller writes),
//! `v1_blkio` (v1 block I/O: what the host's schedulers expose), `v1_devices` (v1 device
//! lists), `bpf_devices` (v2 device rules as an eBPF program), `sys` (the bpf(2) and xattr
//! wrappers, the only unsafe code), `convert` (v1↔v2 value
//! conversions), [`stats`] (the statistics of `events`), `events` (its lines, and the
//! memory-event watch: inotify on v2).

use std::path::{Path, PathBuf};

use berth_common::io::IoError;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

mod bpf_devices;
mod convert;
mod events;
mod fs;
pub mod layout;
mod manager;
pub mod stats;
mod sys;
pub mod systemd;
mod v1;
mod v1_blkio;
mod v1_devices;
mod v2;

pub use convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2};
pub use events::{Changes, Event, EventData, MemoryEvents, MemoryWatch};
pub use layout::{layout_kind, Layout};
pub use stats::Stats;
pub use systemd::{systemd_running, systemd_to_cgroupfs};

/// Errors name the failing step and carry the path involved.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup: {0}")]
    Io(#[from] IoError),
    #[error("cgroup: {0}")]
    Invalid(String),
    /// A call on systemd's manager failed: the call (with the unit) and systemd's message.
    #[error("cgroup: systemd {call}: {message}")]
    Systemd { call: String, message: String },
    #[error("cgroup: {0} is not supported on this host")]
    Unsupported(String),
    /// The cgroup still holds processes after destroy's retries ran out.
    #[error(
        "cgroup: remove {path}: still in use by pids {pids:?} after retrying for {waited_ms} ms"
    )]
    Busy {
        path: PathBuf,
        pids: Vec<i32>,
        waited_ms: u64,
    },
}

pub type Result<T> = std::result::Result<T, CgroupError>;

/// Which cgroup layout the host mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayoutKind {
    V1,
    V2,
    Hybrid,
}

/// Freezer states as runc names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// The resolved, persisted location of one container's cgroup: enough to reopen the
/// manager in a later berth process (kill, delete, pause) without re-reading the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPaths {
    pub layout: LayoutKind,
    /// Absolute directory per hierarchy: key is the controller list ("memory", "cpu,cpuacct",
    /// "name=systemd") for v1, or "" for the unified (v2) hierarchy.
    pub dirs: Vec<(String, PathBuf)>,
    /// Per hierarchy (same keys as `dirs`), the topmost directory that did not exist when the
    /// path was resolved: `destroy` may remove the parents of the container's directory up to
    /// and including this one, and never anything above it. Absent for a hierarchy whose
    /// directory already existed.
    #[serde(default)]
    pub created: Vec<(String, PathBuf)>,
    /// The transient scope unit systemd manages this cgroup as (`--systemd-cgroup` on a host
    /// where systemd runs): `update` and `delete` go through systemd too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

impl CgroupPaths {
    /// The container's directory in the unified (v2) hierarchy, if the host mounts one
    /// (pure v2, or hybrid): the directory to open for `CLONE_INTO_CGROUP`.
    pub fn unified_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(k, _)| k.is_empty())
            .map(|(_, d)| d.as_path())
    }

    /// The container's only directory on a pure cgroup v2 host, where joining it is all
    /// there is to joining the container's cgroup: the directory to clone into
    /// (`CLONE_INTO_CGROUP`). None on v1 and hybrid hosts, which need the v1 joins too.
    pub fn v2_only_dir(&self) -> Option<&Path> {
        (self.layout == LayoutKind::V2)
            .then(|| self.unified_dir())
            .flatten()
    }

    /// The container's directory in the hierarchy that holds `controller` ("memory",
    /// "freezer", ...), v1 first, then the unified hierarchy.
    pub fn dir_for(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(k, _)| !k.is_empty() && k.split(',').any(|c| c == controller))
            .map(|(_, d)| d.as_path())
    }
}

/// One container's cgroup, in every hierarchy the host mounts.
pub trait Manager {
    /// Creates the directories (parents too) in every hierarchy.
    fn create(&self) -> Result<()>;
    /// Moves `pid` into the cgroup in every hierarchy.
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Applies resource limits (at create, and on `update`).
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    fn freeze(&self, state: FreezerState) -> Result<()>;
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Every pid in the cgroup (read from cgroup.procs).
    fn pids(&self) -> Result<Vec<i32>>;
    /// Marks the cgroup, in every hierarchy, as holding more than one container's processes
    /// (an extended attribute on its directories), so that no berth, whichever container it
    /// acts for, signals everything in it.
    fn mark_shared(&self) -> Result<()>;
    /// Whether some create found this cgroup already holding processes ([`Manager::mark_shared`]).
    fn is_marked_shared(&self) -> bool;
    /// Removes the directories the container's create made (never one that existed
    /// before: it is not the container's), retrying while exiting processes still hold
    /// them. Removing an already-removed cgroup is Ok.
    fn destroy(&self) -> Result<()>;
    fn paths(&self) -> &CgroupPaths;
    /// Statistics in the shape of runc's `events --stats` data.
    fn stats(&self) -> Result<Stats>;
    /// How many times the kernel's OOM killer has killed a process in this cgroup
    /// (v1: memory.oom_control `oom_kill`; v2: memory.events `oom_kill`).
    fn oom_kill_count(&self) -> Result<u64>;
}

/// Where the host's cgroup filesystems are; a parameter for tests.
#[derive(Debug, Clone)]
pub struct Host {
    /// The mountinfo to read, normally /proc/self/mountinfo.
    pub mountinfo: PathBuf,
    /// The cgroup membership file of the calling process, normally /proc/self/cgroup;
    /// relative cgroupsPath values are resolved against it.
    pub self_cgroup: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            mountinfo: "/proc/self/mountinfo".into(),
            self_cgroup: "/proc/self/cgroup".into(),
        }
    }
}

/// Kills every process in the cgroup at once through `cgroup.kill` (SIGKILL; processes
/// forking while it runs are killed too). Only on a pure v2 host, where the unified
/// directory holds all of the container; Ok(false) elsewhere and where the kernel has no
/// cgroup.kill (< 5.14), for the caller to signal pid by pid. Whether everything in the
/// cgroup may be killed is the caller's decision.
pub fn kill_all(paths: &CgroupPaths) -> Result<bool> {
    match paths.v2_only_dir() {
        Some(dir) => v2::kill(dir),
        None => Ok(false),
    }
}

/// Resolves a container's cgroupsPath (absolute, relative, or empty for the default
/// `<own cgroup>/<id>`) on this host and returns its manager.
pub fn manager_for(host: &Host, cgroups_path: Option<&Path>, id: &str) -> Result<Box<dyn Manager>> {
    let layout = Layout::detect(host)?;
    let paths = layout.resolve(host, cgroups_path, id)?;
    Ok(Box::new(manager::FsManager::new(paths)))
}

/// The systemd driver's entry points, set by [`enable_systemd_driver`]. Only the executable
/// that calls it links the driver and its D-Bus client (zbus, ~1 MB of text): `berth`, whose
/// resident memory on every `create` grows with its text, never does and hands
/// `--systemd-cgroup` commands to `berth-people`.
struct SystemdDriver {
    new_scope: fn(&Host, &str, &str) -> Result<Box<dyn Manager>>,
    existing_scope: fn(CgroupPaths) -> Box<dyn Manager>,
}

static SYSTEMD_DRIVER: std::sync::OnceLock<SystemdDriver> = std::sync::OnceLock::new();

/// Makes the systemd cgroup driver available to [`systemd_manager_for`] and
/// [`manager_from_paths`] in this process.
pub fn enable_systemd_driver() {
    let _ = SYSTEMD_DRIVER.set(SystemdDriver {
        new_scope: systemd::new_scope,
        existing_scope: systemd::existing_scope,
    });
}

/// The manager for a systemd-style cgroupsPath (`slice:prefix:name`): a transient scope
/// through systemd when it runs, else the cgroupfs directories systemd would have made.
pub fn systemd_manager_for(host: &Host, given: &str, id: &str) -> Result<Box<dyn Manager>> {
    if systemd_running() {
        let Some(driver) = SYSTEMD_DRIVER.get() else {
            return Err(CgroupError::Unsupported(
                "the systemd cgroup driver in this executable (it runs in berth-people)".into(),
            ));
        };
        return (driver.new_scope)(host, given, id);
    }
    manager_for(host, Some(&systemd_to_cgroupfs(given)?), id)
}

/// Reopens the manager of an existing container from its persisted paths. A systemd scope
/// without the driver in this process (a command given without `--systemd-cgroup`) is
/// handled through its cgroup directory: signals, stats, freezing and removal work, the
/// unit's properties are not updated (pass `--systemd-cgroup` to every command, as with runc).
pub fn manager_from_paths(paths: CgroupPaths) -> Box<dyn Manager> {
    if paths.systemd_unit.is_some() {
        if let Some(driver) = SYSTEMD_DRIVER.get() {
            return (driver.existing_scope)(paths);
        }
    }
    Box::new(manager::FsManager::new(paths))
}
