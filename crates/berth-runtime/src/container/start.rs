//! `start`: tell a created container's init to run its program, learn whether it did,
//! then run the poststart hooks.

use super::{hooks_of, Error, Result};
use crate::hooks;
use crate::process::{connect_start, ChannelError, ToChild, ToParent};
use crate::state::{ContainerDir, State, StateRoot, Status};
use crate::steps::step;
use oci_spec::runtime::ContainerState;

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
    let path = dir.start_socket_path();
    let gone = || Error::InitGone;
    // Nobody listens once the init is gone: refused at once.
    let tell = step("start: tell the init");
    let conn = connect_start(&path).map_err(|e| match e {
        ChannelError::Io(rustix::io::Errno::CONNREFUSED) => gone(),
        source => Error::ConnectStart {
            path: path.clone(),
            source,
        },
    })?;
    conn.send(&ToChild::Start).map_err(Error::TellStart)?;
    // From here the container is no longer "created", whatever the init answers.
    std::fs::remove_file(&path).map_err(super::io("remove the start socket"))?;
    // The init's connection is close-on-exec: EOF means execve succeeded. Anything else
    // is the init's last word on why the program did not run.
    drop(tell);
    let wait = step("start: wait for the program to run");
    match conn.recv::<ToParent>() {
        Err(ChannelError::Closed) => {}
        Ok(ToParent::Failed(msg)) => return Err(Error::InitFailed(msg)),
        Ok(other) => return Err(Error::Unexpected(format!("{other:?} at start"))),
        Err(ChannelError::Io(rustix::io::Errno::CONNRESET)) => return Err(gone()),
        Err(e) => return Err(Error::WaitStart(e)),
    }
    drop(wait);
    let _step = step("start: poststart hooks");
    let hooks = hooks_of(state, |h| h.poststart());
    if !hooks.is_empty() {
        hooks::run_warning_on_failure(
            "poststart",
            &hooks,
            &hooks::state(state, ContainerState::Running),
        );
    }
    Ok(())
}
