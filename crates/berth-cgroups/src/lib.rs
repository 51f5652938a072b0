//! cgroup management for berth: one [`Manager`] over the three host layouts (v1, v2, hybrid).
//!
//! This crate owns everything under the cgroup mount points: detecting the layout from
//! mountinfo, creating and removing a container's cgroup directories, moving processes in,
//! applying `LinuxResources`, freezing, and reading the process list and statistics.
//! The cgroup mount root and the mountinfo file are parameters, so unit tests run on
//! fixture trees in a tempdir without root. It must not touch namespaces or processes
//! beyond writing pids into cgroup files.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

/// Errors name the failing step and carry the path involved.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup: {step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cgroup: {0}")]
    Invalid(String),
    #[error("cgroup: {0} is not supported on this host")]
    Unsupported(String),
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
    /// Removes the container's directories (not pre-existing parents), retrying while
    /// exiting processes still hold them. Removing an already-removed cgroup is Ok.
    fn destroy(&self) -> Result<()>;
    fn paths(&self) -> &CgroupPaths;
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

/// Resolves a container's cgroupsPath (absolute, relative, or empty for the default
/// `<own cgroup>/<id>`) on this host and returns its manager.
pub fn manager_for(_host: &Host, _cgroups_path: Option<&Path>, _id: &str) -> Result<Box<dyn Manager>> {
    Err(CgroupError::Unsupported("cgroups (not yet implemented)".into()))
}

/// Reopens the manager of an existing container from its persisted paths.
pub fn manager_from_paths(_paths: CgroupPaths) -> Box<dyn Manager> {
    unimplemented!("filled in by the cgroups work")
}
