//! `ps`: the container's processes, read from its cgroup.

use super::{Error, Result};
use crate::state::StateRoot;

/// Host pids of every process in the container.
pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<i32>> {
    let dir = root.open(id)?;
    let state = dir.load()?;
    let paths = state.cgroup.clone().ok_or_else(|| Error::NoCgroup {
        id: id.to_string(),
        what: "",
    })?;
    let mut pids = berth_cgroups::manager_from_paths(paths).pids()?;
    pids.sort_unstable();
    Ok(pids)
}
