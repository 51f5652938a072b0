//! The release hook: what a container holds outside the runtime's own state (an image's
//! overlay root, network attachments, a generated bundle) is given back when the container is
//! destroyed, whichever command destroys it (`delete`, `delete --force`, the end of a
//! foreground `run`).
//!
//! The runtime does not know what those resources are: the executable passes a [`Release`]
//! callback to `delete` and `run`, which reads what to release from the container's stored
//! state (berth's people face records it in `dev.berth.*` annotations of the generated
//! config). This keeps the runtime library free of the image and network crates, and keeps
//! the runtime face exactly runc's for containers that carry no such annotations.

use crate::state::State;

/// Called with the state of a container whose processes are gone and whose cgroup is removed,
/// before its state directory goes. An error keeps the state, so `delete` can be retried.
pub type Release = dyn Fn(&State) -> Result<(), String>;

/// Gives back what `release` knows the container holds.
pub(crate) fn release(state: &State, release: &Release) -> Result<(), super::Error> {
    release(state).map_err(|reason| super::Error::Release {
        id: state.id.clone(),
        reason,
    })
}
