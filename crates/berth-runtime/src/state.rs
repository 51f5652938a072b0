//! The state root (`--root`, default /run/berth): one directory per container holding its
//! persisted state and start socket, container-ID validation, the per-container lock, atomic
//! writes, and liveness by pid plus process start time.
//!
//! Every command that touches a container holds its lock (flock on the container
//! directory) for its whole run, so concurrent commands on one ID are serialised.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_cgroups::CgroupPaths;
use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = "state.json";
/// The socket `start` connects to; present from create until start (`Status::Created`).
pub const START_SOCKET: &str = "start.sock";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container ID {0:?}: use letters, digits, '_', '+', '-' and '.' only")]
    InvalidId(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt state file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io_err<'a>(
    step: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// runc's rule: `^[\w+\-.]+$`, and not "." or "..".
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// What berth remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init (0 once never started).
    pub pid: i32,
    /// Start time of that pid (field 22 of /proc/<pid>/stat): a recycled pid never matches.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<CgroupPaths>,
    /// The config the container was created from: exec, hooks and delete need it even if
    /// the bundle changes or disappears.
    pub config: Spec,
}

/// The OCI status values, plus runc's "paused".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state root directory.
#[derive(Debug, Clone)]
pub struct StateRoot {
    pub path: PathBuf,
}

impl StateRoot {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateRoot { path: path.into() }
    }

    /// Creates the container's directory (the atomic claim on the ID) and locks it.
    pub fn claim(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        std::fs::create_dir_all(&self.path).map_err(io_err("create state root", &self.path))?;
        let dir = self.path.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_string()))
            }
            Err(e) => return Err(io_err("create state dir", &dir)(e)),
        }
        ContainerDir::lock(id, dir)
    }

    /// Opens and locks an existing container's directory.
    pub fn open(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        let dir = self.path.join(id);
        let cd = ContainerDir::lock(id, dir)?;
        // A directory without state is a create that failed and is being cleaned up, or
        // the leftovers of a killed berth: either way the container does not exist.
        if !cd.dir.join(STATE_FILE).exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(cd)
    }

    /// IDs of every container under the root, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join(STATE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }
}

/// A locked container directory; the lock is released on drop.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub dir: PathBuf,
    _lock: Flock<File>,
}

impl ContainerDir {
    fn lock(id: &str, dir: PathBuf) -> Result<ContainerDir, StateError> {
        let file = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(e) => return Err(io_err("open state dir", &dir)(e)),
        };
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io_err("lock state dir", &dir)(std::io::Error::from(errno)))?;
        // The holder before us may have deleted the container.
        if !dir.exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(ContainerDir {
            id: id.to_string(),
            dir,
            _lock: lock,
        })
    }

    pub fn start_socket_path(&self) -> PathBuf {
        self.dir.join(START_SOCKET)
    }

    pub fn load(&self) -> Result<State, StateError> {
        let path = self.dir.join(STATE_FILE);
        let bytes = std::fs::read(&path).map_err(io_err("read state", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: self.dir.join(STATE_FILE),
            source,
        })?;
        write_atomic(&self.dir.join(STATE_FILE), &bytes)
    }

    /// Removes the directory and everything in it; the lock goes with the directory.
    pub fn remove(self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.dir).map_err(io_err("remove state dir", &self.dir))
    }

    /// The container's status as observed now.
    pub fn status(&self, state: &State) -> Status {
        if !process_matches(state.pid, state.pid_start_time) {
            return Status::Stopped;
        }
        if self.start_socket_path().exists() {
            return Status::Created;
        }
        let frozen = state.cgroup.as_ref().is_some_and(|paths| {
            let mgr = berth_cgroups::manager_from_paths(paths.clone());
            matches!(mgr.freezer_state(), Ok(berth_cgroups::FreezerState::Frozen))
        });
        if frozen {
            Status::Paused
        } else {
            Status::Running
        }
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers see either
/// the old or the new content, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io_err("write", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("rename", path))
}

/// (state letter, start time) of a pid from /proc/<pid>/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// True while `pid` is the same live (not zombie) process that had `start_time`.
pub fn process_matches(pid: i32, start_time: u64) -> bool {
    pid > 0
        && matches!(proc_stat(pid), Some((state, start)) if start == start_time && state != 'Z' && state != 'X')
}

/// Current time as RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for good in ["a", "abc-DEF_1.2+3", "0"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claim_twice_is_exists_and_open_unknown_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let root = StateRoot::new(tmp.path());
        let held = root.claim("c1").unwrap();
        drop(held);
        assert!(matches!(root.claim("c1"), Err(StateError::Exists(_))));
        assert!(matches!(root.open("nope"), Err(StateError::NotFound(_))));
        // Claimed but never saved: not a container yet.
        assert!(matches!(root.open("c1"), Err(StateError::NotFound(_))));
    }

    #[test]
    fn own_process_is_alive_and_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let (_, start) = proc_stat(pid).unwrap();
        assert!(process_matches(pid, start));
        assert!(!process_matches(pid, start + 1));
    }
}
