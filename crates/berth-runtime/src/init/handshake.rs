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
            ToChild::Start | ToChild::Placed => {
                return Err(InitError("wait for berth: unexpected message".into()))
            }
        }
    }
}

/// The parent's `Placed`, awaited once, before the first step that must run inside the
/// container's cgroup (a cgroup namespace, hooks, the program).
pub(super) struct Placement<'a> {
    chan: &'a Channel,
    placed: bool,
}

impl<'a> Placement<'a> {
    pub(super) fn new(chan: &'a Channel) -> Self {
        Placement {
            chan,
            placed: false,
        }
    }

    pub(super) fn wait(&mut self) -> Result<(), InitError> {
        if !self.placed {
            match self
                .chan
                .recv::<ToChild>()
                .ctx(|| "wait for the cgroup".into())?
            {
                ToChild::Placed => self.placed = true,
                _ => return Err(InitError("wait for the cgroup: unexpected message".into())),
            }
        }
        Ok(())
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
