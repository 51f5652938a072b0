//! The init's side of the handshake with the parent: waiting for `Continue` (with the
//! hook state it may send first), and the hooks run inside the container with that state.

use super::error::{Ctx, InitError};
use crate::process::{Channel, ToChild};
use oci_spec::runtime::State;

/// Waits for `Continue`; returns the hook state if the parent sent one first.
pub(super) fn expect_continue(chan: &Channel) -> Result<Option<State>, InitError> {
    let mut state = None;
    loop {
        match chan.recv::<ToChild>().ctx(|| "wait for berth".into())? {
            ToChild::Continue => return Ok(state),
            ToChild::HookState(s) => state = Some(*s),
            ToChild::Start => return Err(InitError("wait for berth: unexpected Start".into())),
        }
    }
}

/// Runs in-container hooks with the state the parent sent.
pub(super) fn container_hooks(
    point: &'static str,
    hooks: Option<&Vec<oci_spec::runtime::Hook>>,
    state: &State,
) -> Result<(), InitError> {
    match hooks {
        Some(h) if !h.is_empty() => {
            crate::hooks::run(point, h, state).map_err(|e| InitError(e.to_string()))
        }
        _ => Ok(()),
    }
}

/// The state with the pid the container sees, for hooks run inside it (the spec).
pub(super) fn with_own_pid(mut state: State) -> State {
    state.set_pid(Some(std::process::id() as i32));
    state
}
