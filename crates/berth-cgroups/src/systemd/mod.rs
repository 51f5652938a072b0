//! The systemd cgroup driver (`--systemd-cgroup`): each container is a transient scope unit
//! that systemd creates over D-Bus with `Delegate=yes`, the init as its first process and the
//! resource limits as unit properties; everything else (and the same limits again) is written
//! to the delegated cgroup directory by the cgroupfs manager, as runc's systemd driver does.
//!
//! Modules: `path` (`slice:prefix:name` → unit and cgroupfs path, also used without systemd),
//! `dbus` (the manager calls), `props` (resources → unit properties).
//!
//! A scope needs a process to exist, so the unit is started when the init is added
//! ([`Manager::add_process`]); resources applied before that are held until then.

mod dbus;
mod path;
mod props;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use zbus::zvariant::Value;

pub use path::systemd_to_cgroupfs;

use crate::manager::FsManager;
use crate::stats::Stats;
use crate::{CgroupError, CgroupPaths, FreezerState, Host, Layout, LayoutKind, Manager, Result};

/// Whether systemd is the running init (sd_booted(3)'s test).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The manager of a new container's scope for `slice:prefix:name` on a host where systemd
/// runs (pure cgroup v2 only).
pub(crate) fn new_scope(host: &Host, given: &str, id: &str) -> Result<Box<dyn Manager>> {
    let cgroup = systemd_to_cgroupfs(given)?;
    let unit = unit_name(&cgroup)?;
    if !unit.ends_with(".scope") {
        return Err(CgroupError::Unsupported(format!(
            "cgroupsPath {given:?}: a slice as the container's unit with the systemd driver"
        )));
    }
    let layout = Layout::detect(host)?;
    if layout.kind != LayoutKind::V2 {
        return Err(CgroupError::Unsupported(
            "the systemd cgroup driver on a cgroup v1 or hybrid host".into(),
        ));
    }
    let mut paths = layout.resolve(host, Some(&cgroup), id)?;
    // systemd owns the scope and its slices: destroy must never remove them itself.
    paths.created.clear();
    paths.systemd_unit = Some(unit);
    Ok(Box::new(SystemdManager {
        fs: FsManager::new(paths),
        started: Cell::new(false),
        pending: RefCell::new(None),
        description: format!("berth container {id}"),
    }))
}

/// The manager of an existing container's scope (from its state).
pub(crate) fn existing_scope(paths: CgroupPaths) -> Box<dyn Manager> {
    Box::new(SystemdManager {
        fs: FsManager::new(paths),
        started: Cell::new(true),
        pending: RefCell::new(None),
        description: String::new(),
    })
}

fn unit_name(cgroup: &Path) -> Result<String> {
    cgroup
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CgroupError::Invalid(format!("no unit name in {}", cgroup.display())))
}

struct SystemdManager {
    fs: FsManager,
    /// The scope exists (false only in the create that is about to start it).
    started: Cell<bool>,
    /// Resources applied before the scope existed, for its start.
    pending: RefCell<Option<LinuxResources>>,
    description: String,
}

impl SystemdManager {
    fn unit(&self) -> &str {
        self.fs.paths().systemd_unit.as_deref().unwrap_or_default()
    }

    /// The slice the scope goes into: the parent directory's name.
    fn slice(&self) -> Option<String> {
        let dir: &PathBuf = &self.fs.paths().dirs.first()?.1;
        let parent = dir.parent()?.file_name()?.to_string_lossy().into_owned();
        parent.ends_with(".slice").then_some(parent)
    }

    fn start(&self, pid: i32) -> Result<()> {
        let pending = self.pending.borrow_mut().take();
        let mut p: Vec<dbus::Property> = vec![
            ("Description", Value::from(self.description.clone())),
            ("PIDs", Value::from(vec![pid.unsigned_abs()])),
            ("Delegate", Value::from(true)),
            // As runc: no implicit ordering on shutdown.target and friends.
            ("DefaultDependencies", Value::from(false)),
            ("MemoryAccounting", Value::from(true)),
            ("CPUAccounting", Value::from(true)),
            ("IOAccounting", Value::from(true)),
            ("TasksAccounting", Value::from(true)),
        ];
        if let Some(slice) = self.slice() {
            p.push(("Slice", Value::from(slice)));
        }
        if let Some(r) = &pending {
            p.extend(props::resources(r)?);
        }
        dbus::Systemd::connect()?.start_transient_unit(self.unit(), p)?;
        self.started.set(true);
        match &pending {
            Some(r) => self.fs.apply(r),
            None => Ok(()),
        }
    }
}

impl Manager for SystemdManager {
    /// The scope is made when its first process is added.
    fn create(&self) -> Result<()> {
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        if self.started.get() {
            self.fs.add_process(pid)
        } else {
            self.start(pid)
        }
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        if !self.started.get() {
            *self.pending.borrow_mut() = Some(resources.clone());
            return Ok(());
        }
        let p = props::resources(resources)?;
        if !p.is_empty() {
            dbus::Systemd::connect()?.set_unit_properties(self.unit(), p)?;
        }
        self.fs.apply(resources)
    }

    fn freeze(&self, state: FreezerState) -> Result<()> {
        self.fs.freeze(state)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        self.fs.freezer_state()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        if !self.started.get() {
            return Ok(Vec::new());
        }
        self.fs.pids()
    }

    fn mark_shared(&self) -> Result<()> {
        self.fs.mark_shared()
    }

    fn is_marked_shared(&self) -> bool {
        self.fs.is_marked_shared()
    }

    /// StopUnit + ResetFailedUnit: systemd removes the scope's cgroup; then the cgroupfs
    /// manager's destroy finds it gone (or waits for exiting processes).
    fn destroy(&self) -> Result<()> {
        if self.started.get() {
            dbus::Systemd::connect()?.stop_unit(self.unit())?;
        }
        self.fs.destroy()
    }

    fn paths(&self) -> &CgroupPaths {
        self.fs.paths()
    }

    fn stats(&self) -> Result<Stats> {
        self.fs.stats()
    }

    fn oom_kill_count(&self) -> Result<u64> {
        self.fs.oom_kill_count()
    }
}
