//! `pause` and `resume`: freeze and thaw every process of the container through its cgroup
//! freezer (v1 freezer.state, v2 cgroup.freeze).

use berth_cgroups::FreezerState;

use super::{Error, Result};
use crate::state::{StateRoot, Status};

pub fn pause(root: &StateRoot, id: &str) -> Result<()> {
    set_frozen(root, id, FreezerState::Frozen, Status::Running, "pause")
}

pub fn resume(root: &StateRoot, id: &str) -> Result<()> {
    set_frozen(root, id, FreezerState::Thawed, Status::Paused, "resume")
}

fn set_frozen(
    root: &StateRoot,
    id: &str,
    to: FreezerState,
    from: Status,
    op: &'static str,
) -> Result<()> {
    let dir = root.open(id)?;
    let state = dir.load()?;
    let status = dir.status(&state);
    if status != from {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status,
            op,
        });
    }
    let paths = state.cgroup.clone().ok_or_else(|| Error::NoCgroup {
        id: id.to_string(),
        what: " to freeze",
    })?;
    berth_cgroups::manager_from_paths(paths).freeze(to)?;
    Ok(())
}
