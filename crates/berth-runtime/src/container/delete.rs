//! `delete`: remove a stopped (or created, or with --force any) container: its processes,
//! cgroup, what the release hook gives back (overlay roots, networks) and the state
//! directory, then run the poststop hooks.

use std::time::Duration;

use oci_spec::runtime::ContainerState;

use super::kill::{has_own_pid_ns, is_shared, kill_all};
use super::release::Release;
use super::{hooks_of, init_pidfd, wait_exit, Error, Result};
use crate::state::{ContainerDir, State, StateError, StateRoot, Status};
use crate::steps::{step, timed};

pub fn delete(root: &StateRoot, id: &str, force: bool, release: &Release) -> Result<()> {
    let dir = match root.open(id) {
        Err(StateError::NotFound(_)) if force => {
            // A directory without state (left by an older berth) holds nothing berth knows
            // of; it only blocks the ID.
            if let Some(leftover) = root.open_leftover(id) {
                leftover.remove()?;
            }
            // runc: deleting what is already gone with --force succeeds.
            return Ok(());
        }
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
    destroy(dir, &state, release)
}

/// Kills the container's own processes, removes the cgroup and the state, runs poststop
/// hooks. Each step is safe to repeat: a destroy killed half way is finished by the next.
pub(crate) fn destroy(dir: ContainerDir, state: &State, release: &Release) -> Result<()> {
    let kill = step("delete: kill the processes");
    let init = init_pidfd(state);
    // With its own pid namespace, the init's death takes every process in it along.
    kill_all(state, libc::SIGKILL)?;
    if let Some(pidfd) = &init {
        wait_exit(pidfd, Duration::from_secs(10));
    }
    drop(kill);
    if let Some(paths) = &state.cgroup {
        timed("delete: remove the cgroup", || remove_cgroup(state, paths))?;
    }
    // Before the release hook: an overlay under the rootfs is busy while the bind is there.
    timed("delete: unmount the rootfs bind", || {
        super::shared_rootfs::release(state)
    })?;
    timed("delete: release resources", || {
        super::release::release(state, release)
    })?;
    let hooks = hooks_of(state, |h| h.poststop());
    timed("delete: remove the state", || dir.remove())?;
    if !hooks.is_empty() {
        let _step = step("delete: poststop hooks");
        crate::hooks::run_warning_on_failure(
            "poststop",
            &hooks,
            &crate::hooks::state(state, ContainerState::Stopped),
        );
    }
    Ok(())
}

/// Removes the cgroup directories the container's create made, unless processes that are
/// not the container's are still in them: those keep their cgroup.
fn remove_cgroup(state: &State, paths: &berth_cgroups::CgroupPaths) -> Result<()> {
    let mgr = berth_cgroups::manager_from_paths(paths.clone());
    // Everything left of an unshared container without a pid namespace is its own (just
    // killed, still exiting); in any other container, what is left is not its own.
    let all_own = !has_own_pid_ns(state) && !is_shared(state, &*mgr);
    if !all_own {
        let others = mgr.pids().unwrap_or_default();
        if !others.is_empty() {
            crate::warn::warn(&format!(
                "cgroup of container {} kept: it holds {} process(es) that are not the container's",
                state.id,
                others.len()
            ));
            return Ok(());
        }
    }
    Ok(mgr.destroy()?)
}
