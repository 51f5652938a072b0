//! `delete`: remove a stopped (or created, or with --force any) container: its processes,
//! cgroup, what the release hook gives back (overlay roots, networks) and the state
//! directory, then run the poststop hooks.

use std::time::Duration;

use super::kill::kill_all;
use super::{hooks_of, init_pidfd, state_json, wait_exit, Error, Result};
use crate::state::{ContainerDir, State, StateError, StateRoot, Status};

pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let dir = match root.open(id) {
        // runc: deleting what is already gone with --force succeeds.
        Err(StateError::NotFound(_)) if force => return Ok(()),
        other => other?,
    };
    let state = dir.load()?;
    let status = dir.status(&state);
    match status {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        _ => {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status,
                op: "delete it without --force",
            })
        }
    }
    destroy(dir, &state)
}

/// Kills whatever still runs, removes the cgroup and the state, runs poststop hooks.
pub(crate) fn destroy(dir: ContainerDir, state: &State) -> Result<()> {
    if let Some(pidfd) = init_pidfd(state) {
        let _ = crate::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), libc::SIGKILL);
        wait_exit(&pidfd, Duration::from_secs(10));
    }
    kill_all(state, libc::SIGKILL)?;
    if let Some(paths) = &state.cgroup {
        berth_cgroups::manager_from_paths(paths.clone()).destroy()?;
    }
    super::release::release(state)?;
    let hooks = hooks_of(state, |h| h.poststop());
    dir.remove()?;
    if !hooks.is_empty() {
        crate::hooks::run_warning_on_failure(
            "poststop",
            &hooks,
            &state_json(state, Status::Stopped),
        );
    }
    Ok(())
}
