//! `start`: release a created container's init through its exec fifo, then run the
//! poststart hooks.

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::{errno, hooks_of, state_json, Error, Result};
use crate::hooks;
use crate::state::{ContainerDir, State, StateRoot, Status};

pub fn start(root: &StateRoot, id: &str) -> Result<()> {
    let dir = root.open(id)?;
    let state = dir.load()?;
    start_locked(&dir, &state)
}

pub(crate) fn start_locked(dir: &ContainerDir, state: &State) -> Result<()> {
    let status = dir.status(state);
    if status != Status::Created {
        return Err(Error::WrongStatus {
            id: state.id.clone(),
            status,
            op: "start",
        });
    }
    let fifo_path = dir.fifo_path();
    // Non-blocking: with no reader (the init died) this fails at once with ENXIO.
    let fifo = nix::fcntl::open(
        &fifo_path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        nix::errno::Errno::ENXIO => {
            Error::Init("the container init is gone; it cannot be started".into())
        }
        e => errno("open exec fifo")(e),
    })?;
    nix::unistd::write(&fifo, b"0").map_err(errno("signal the container init"))?;
    std::fs::remove_file(&fifo_path).map_err(super::io("remove exec fifo"))?;
    let hooks = hooks_of(state, |h| h.poststart());
    if !hooks.is_empty() {
        hooks::run("poststart", &hooks, &state_json(state, Status::Running))?;
    }
    Ok(())
}
