//! Read-only views: `state` and `list`.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use berth_cgroups::CgroupPaths;
use rustix::fs::{AtFlags, Mode, OFlags};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Result;
use crate::state::{
    status_at, status_of, Creator, State, StateRoot, Status, START_SOCKET, STATE_FILE,
};

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

/// The fields of state.json `list` reads: parsing skips the config, most of the file.
#[derive(Deserialize)]
struct Listed {
    pid: i32,
    pid_start_time: u64,
    bundle: PathBuf,
    created: String,
    owner: String,
    cgroup: Option<CgroupPaths>,
    #[serde(default)]
    creator: Option<Creator>,
}

/// Every container under the root with its current status (read as `state_of` does);
/// containers that vanish while listing are skipped. Per container: state.json read
/// (without parsing the config), /proc/<pid>/stat, a stat of the start socket (and for a
/// running one its freezer state), every path relative to the root's fd.
pub fn list(root: &StateRoot) -> Vec<ListEntry> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::open(&root.path, flags, Mode::empty()) else {
        return Vec::new();
    };
    root.ids()
        .into_iter()
        .filter_map(|id| {
            let s: Listed = read_json_at(dir.as_fd(), &format!("{id}/{STATE_FILE}"))?;
            let status = status_of(
                s.creator.as_ref(),
                s.pid,
                s.pid_start_time,
                s.cgroup.as_ref(),
                || {
                    let sock = format!("{id}/{START_SOCKET}");
                    rustix::fs::statat(dir.as_fd(), sock.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok()
                },
            );
            Some(ListEntry {
                pid: if status == Status::Stopped { 0 } else { s.pid },
                status: status.to_string(),
                bundle: s.bundle.display().to_string(),
                created: s.created,
                owner: s.owner,
                id,
            })
        })
        .collect()
}

/// `list -q`: the IDs alone, a stat of each state.json and nothing more (no status).
pub fn list_ids(root: &StateRoot) -> Vec<String> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::open(&root.path, flags, Mode::empty()) else {
        return Vec::new();
    };
    let mut ids = root.ids();
    ids.retain(|id| {
        let state = format!("{id}/{STATE_FILE}");
        rustix::fs::statat(dir.as_fd(), state.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok()
    });
    ids
}

/// `path` under `dir` parsed as JSON: one open, two reads (the file fits the first).
fn read_json_at<T: serde::de::DeserializeOwned>(dir: BorrowedFd<'_>, path: &str) -> Option<T> {
    let fd = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut bytes = Vec::with_capacity(16 << 10);
    std::fs::File::from(fd).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}
