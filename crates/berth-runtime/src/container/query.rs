//! Read-only views: `state` and `list`.

use serde::Serialize;
use serde_json::{json, Value};

use super::Result;
use crate::state::{status_at, State, StateRoot, Status};

/// The runtime-spec state document (runc's field set).
pub fn oci_state(state: &State, status: Status) -> Value {
    let pid = if status == Status::Stopped {
        0
    } else {
        state.pid
    };
    let mut v = json!({
        "ociVersion": state.config.version(),
        "id": state.id,
        "pid": pid,
        "status": status.as_str(),
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": state.owner,
    });
    if !state.annotations.is_empty() {
        v["annotations"] = json!(state.annotations);
    }
    v
}

/// `state ID`: the OCI state of one container. Read without the container's lock, so a
/// container being created shows as "creating" instead of blocking until it is done.
pub fn state_of(root: &StateRoot, id: &str) -> Result<Value> {
    let (dir, state) = root.peek(id)?;
    Ok(oci_state(&state, status_at(&dir, &state)))
}

#[derive(Debug, Serialize)]
pub struct ListEntry {
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: String,
    pub created: String,
    pub owner: String,
}

/// Every container under the root with its current status (read as `state_of` does);
/// containers that vanish while listing are skipped.
pub fn list(root: &StateRoot) -> Vec<ListEntry> {
    root.ids()
        .into_iter()
        .filter_map(|id| {
            let (dir, state) = root.peek(&id).ok()?;
            let status = status_at(&dir, &state);
            Some(ListEntry {
                pid: if status == Status::Stopped {
                    0
                } else {
                    state.pid
                },
                status: status.to_string(),
                bundle: state.bundle.display().to_string(),
                created: state.created,
                owner: state.owner,
                id,
            })
        })
        .collect()
}
