//! `update`: change a running container's resource limits in place, and remember them so
//! later reads of the state show what is in force.

use oci_spec::runtime::LinuxResources;

use super::{Error, Result};
use crate::state::{StateRoot, Status};

pub fn update(root: &StateRoot, id: &str, resources: &LinuxResources) -> Result<()> {
    let dir = root.open(id)?;
    let mut state = dir.load()?;
    let status = dir.status(&state);
    if status == Status::Stopped {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status,
            op: "update",
        });
    }
    let paths = state.cgroup.clone().ok_or_else(|| Error::NoCgroup {
        id: id.to_string(),
        what: "",
    })?;
    berth_cgroups::manager_from_paths(paths).apply(resources)?;
    if let Some(linux) = state.config.linux_mut() {
        linux.set_resources(Some(merge(linux.resources().clone(), resources)));
    }
    dir.save(&state)?;
    Ok(())
}

/// The stored resources with every field the update sets replaced.
fn merge(old: Option<LinuxResources>, new: &LinuxResources) -> LinuxResources {
    let mut out = old.unwrap_or_default();
    if new.memory().is_some() {
        out.set_memory(*new.memory());
    }
    if new.cpu().is_some() {
        out.set_cpu(new.cpu().clone());
    }
    if new.pids().is_some() {
        out.set_pids(*new.pids());
    }
    if new.block_io().is_some() {
        out.set_block_io(new.block_io().clone());
    }
    if new.hugepage_limits().is_some() {
        out.set_hugepage_limits(new.hugepage_limits().clone());
    }
    if new.network().is_some() {
        out.set_network(new.network().clone());
    }
    if new.unified().is_some() {
        out.set_unified(new.unified().clone());
    }
    out
}
