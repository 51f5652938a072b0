//! The release hook: what a container holds outside the runtime's own state (an image's
//! overlay root, network attachments, a generated bundle) is given back when the container is
//! destroyed, whichever command destroys it (`delete`, `delete --force`, the end of a
//! foreground `run`).
//!
//! The runtime does not know what those resources are: each executable registers one callback with
//! [`set_release_hook`] and reads what to release from the container's stored state (berth's
//! people face records it in `dev.berth.*` annotations of the generated config). This keeps
//! the runtime library free of the image and network crates, and keeps the runtime face
//! exactly runc's for containers that carry no such annotations.

use std::sync::OnceLock;

use crate::state::State;

/// Called with the state of a container whose processes are gone and whose cgroup is removed,
/// before its state directory goes. An error keeps the state, so `delete` can be retried.
pub type ReleaseHook = Box<dyn Fn(&State) -> Result<(), String> + Send + Sync>;

static HOOK: OnceLock<ReleaseHook> = OnceLock::new();

/// Registers the process-wide release hook; only the first registration counts (the binary
/// registers it once at startup). Returns false if one was already registered.
pub fn set_release_hook(hook: ReleaseHook) -> bool {
    HOOK.set(hook).is_ok()
}

/// Runs the registered hook, if any.
pub(crate) fn release(state: &State) -> Result<(), super::Error> {
    match HOOK.get() {
        Some(hook) => hook(state).map_err(|reason| super::Error::Release {
            id: state.id.clone(),
            reason,
        }),
        None => Ok(()),
    }
}
