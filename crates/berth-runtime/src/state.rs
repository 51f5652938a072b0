//! The state root (`--root`, default /run/berth): one directory per container holding its
//! persisted state and start socket, container-ID validation, the per-container lock, atomic
//! writes, and liveness by pid plus process start time.
//!
//! Every command that touches a container holds its lock (flock on the container
//! directory) for its whole run, so concurrent commands on one ID are serialised.
//!
//! Crash safety: a container directory only ever appears with a state.json in it. `claim`
//! builds the directory under a staging name (`.#claim-<pid>-<n>`, never a valid ID),
//! writes the creator's intent into it (its own pid and start time, the cgroup paths it is
//! about to create) and renames it into place with RENAME_NOREPLACE, the atomic claim.
//! `remove` renames the directory to a trash name before emptying it. A berth killed at
//! any instant so leaves either a complete container directory that the next command
//! understands, or a staging/trash directory that the next `claim` sweeps away.
//!
//! Modes (runc's): state.json holds the whole config, `process.env` secrets included, so
//! the root is created 0700, each container directory 0711 and state.json is 0600. A root
//! that already exists keeps its mode (it may be a directory the caller chose and shares):
//! the 0711 directories and 0600 state files protect the state under any root.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use berth_cgroups::CgroupPaths;
use berth_common::fs::Durability;
use berth_common::io::IoError;
use oci_spec::runtime::Spec;
use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = "state.json";
/// The socket `start` connects to; present from create until start (`Status::Created`).
pub const START_SOCKET: &str = "start.sock";
/// The name (comm) create's init takes until it executes the program: a container whose
/// start socket outlived a `start` killed after telling the init is running, not created.
/// Brackets and a colon: no program's file name is likely to match it.
pub const INIT_NAME: &std::ffi::CStr = c"berth:[init]";
/// Prefix of staging and trash directories in the state root: '#' is not allowed in IDs.
const SCRATCH_PREFIX: &str = ".#";
/// Mode of a state root that berth creates: only root lists or enters it.
const ROOT_MODE: u32 = 0o700;
/// Mode of a container directory: others may reach a file they know the name of (a pid
/// file, the start socket, which have their own modes) but not list the directory.
const CONTAINER_DIR_MODE: u32 = 0o711;
/// Mode of state.json: it holds the config, environment secrets included.
const STATE_FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container ID {0:?}: use {rule}", rule = berth_common::id::RULE)]
    InvalidId(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error(transparent)]
    Io(#[from] IoError),
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
    move |source| IoError::new(step, path, source).into()
}

/// The one container-ID rule (`berth_common::id`).
pub fn validate_id(id: &str) -> Result<(), StateError> {
    if berth_common::id::is_valid(id) {
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
    pub config: ConfigRecord,
    /// The `create` still building this container; cleared when it has finished. While that
    /// process lives the container is "creating"; once it is gone, "stopped" (a half-made
    /// container that `delete` cleans up from what is recorded here).
    #[serde(default)]
    pub creator: Option<Creator>,
    /// The container's cgroup already held other processes when it was created (or that was
    /// not checked yet): `kill --all` and `delete` then signal only the container's own
    /// processes, never everything in the cgroup.
    #[serde(default)]
    pub cgroup_shared: bool,
    /// Without a mount namespace of its own: the mount ID of the rootfs bind that holds the
    /// container's mounts in the caller's namespace (`container/shared_rootfs.rs`).
    #[serde(default)]
    pub rootfs_mount: Option<u64>,
}

/// A container's config as its state records it: the spec, shared (a clone costs a reference
/// count, not the ~700 allocations of a spec with Docker's seccomp profile), with its JSON kept
/// once made. One create saves its state three times (the claim, the init, the end) and `run
/// IMAGE` has already written the same spec as config.json: the spec is serialized once.
/// Every mutable borrow of the spec drops the JSON (and copies the spec if it is shared).
#[derive(Clone, Default)]
pub struct ConfigRecord(Arc<RecordInner>);

#[derive(Clone, Default)]
struct RecordInner {
    spec: Spec,
    json: OnceLock<Box<serde_json::value::RawValue>>,
}

impl ConfigRecord {
    pub fn new(spec: Spec) -> ConfigRecord {
        ConfigRecord(Arc::new(RecordInner {
            spec,
            json: OnceLock::new(),
        }))
    }

    /// The spec's JSON (compact, serde_json's order), made on the first call.
    pub fn json(&self) -> serde_json::Result<&serde_json::value::RawValue> {
        if let Some(json) = self.0.json.get() {
            return Ok(json);
        }
        let made = serde_json::value::to_raw_value(&self.0.spec)?;
        Ok(self.0.json.get_or_init(|| made))
    }
}

impl From<Spec> for ConfigRecord {
    fn from(spec: Spec) -> ConfigRecord {
        ConfigRecord::new(spec)
    }
}

impl std::ops::Deref for ConfigRecord {
    type Target = Spec;
    fn deref(&self) -> &Spec {
        &self.0.spec
    }
}

impl std::ops::DerefMut for ConfigRecord {
    fn deref_mut(&mut self) -> &mut Spec {
        let inner = Arc::make_mut(&mut self.0);
        inner.json = OnceLock::new();
        &mut inner.spec
    }
}

impl std::fmt::Debug for ConfigRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.spec.fmt(f)
    }
}

impl Serialize for ConfigRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().map_err(serde::ser::Error::custom)?.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ConfigRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spec::deserialize(d).map(ConfigRecord::new)
    }
}

/// A process identified by pid and start time, so a recycled pid never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub pid: i32,
    pub start_time: u64,
}

impl Creator {
    /// The calling process.
    pub fn this_process() -> Option<Creator> {
        Creator::of(std::process::id() as i32)
    }

    /// Process `pid`, if it exists.
    pub fn of(pid: i32) -> Option<Creator> {
        proc_stat(pid).map(|p| Creator {
            pid,
            start_time: p.start_time,
        })
    }

    pub fn alive(&self) -> bool {
        process_matches(self.pid, self.start_time)
    }
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

    /// Claims the ID: a locked directory holding `intent` as its state appears atomically
    /// under the ID's name, or the claim fails with `Exists`.
    pub fn claim(&self, id: &str, intent: &State) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(ROOT_MODE)
            .create(&self.path)
            .map_err(io_err("create state root", &self.path))?;
        self.sweep_scratch();
        let dir = self.path.join(id);
        if dir.exists() {
            return Err(StateError::Exists(id.to_string()));
        }
        let staging = self.scratch_path("claim");
        std::fs::DirBuilder::new()
            .mode(CONTAINER_DIR_MODE)
            .create(&staging)
            .map_err(io_err("create state dir", &staging))?;
        let staged =
            ContainerDir::lock(id, staging.clone()).and_then(|cd| cd.save(intent).map(|()| cd));
        let staged = match staged {
            Ok(cd) => cd,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let renamed = rustix::fs::renameat_with(
            rustix::fs::CWD,
            &staging,
            rustix::fs::CWD,
            &dir,
            rustix::fs::RenameFlags::NOREPLACE,
        );
        match renamed {
            // The lock is on the directory itself: it moves with it.
            Ok(()) => Ok(ContainerDir { dir, ..staged }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                match e {
                    rustix::io::Errno::EXIST => Err(StateError::Exists(id.to_string())),
                    e => Err(io_err("claim state dir", &dir)(std::io::Error::from(e))),
                }
            }
        }
    }

    /// A fresh staging or trash name in the root, carrying this process's pid.
    fn scratch_path(&self, what: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.path
            .join(format!("{SCRATCH_PREFIX}{what}-{}-{n}", std::process::id()))
    }

    /// Removes staging and trash directories whose berth died: their pid is gone and nobody
    /// holds their lock. A staging directory holds nothing but state (the claim renames it
    /// before anything is acquired); a trash directory, what a finished destroy left.
    fn sweep_scratch(&self) {
        for entry in std::fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(SCRATCH_PREFIX) else {
                continue;
            };
            let pid = rest.split('-').nth(1).and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists()) {
                continue;
            }
            let path = entry.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }

    /// Opens and locks an existing container's directory.
    pub fn open(&self, id: &str) -> Result<ContainerDir, StateError> {
        validate_id(id)?;
        let dir = self.path.join(id);
        let cd = ContainerDir::lock(id, dir)?;
        // Every directory is claimed with its state; one without is the leftover of a berth
        // older than the atomic claim, which `delete --force` removes (`open_leftover`).
        if !cd.dir.join(STATE_FILE).exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(cd)
    }

    /// Locks a directory under the ID's name that holds no state (see `open`), if any.
    pub fn open_leftover(&self, id: &str) -> Option<ContainerDir> {
        validate_id(id).ok()?;
        let cd = ContainerDir::lock(id, self.path.join(id)).ok()?;
        (!cd.dir.join(STATE_FILE).exists()).then_some(cd)
    }

    /// Reads a container's state without taking its lock, so `state` and `list` see a
    /// container while another command (a `create` in progress) holds it. state.json is
    /// only ever replaced whole, so the read is consistent.
    pub fn peek(&self, id: &str) -> Result<(PathBuf, State), StateError> {
        validate_id(id)?;
        let dir = self.path.join(id);
        let path = dir.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(e) => return Err(io_err("read state", &path)(e)),
        };
        let state = serde_json::from_slice(&bytes)
            .map_err(|source| StateError::Corrupt { path, source })?;
        Ok((dir, state))
    }

    /// IDs of every container directory under the root, sorted (staging and trash names
    /// are no IDs). A directory without state.json (left by an older berth) is listed too:
    /// its reader finds no state, so listing costs no stat per container here.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| validate_id(name).is_ok())
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
    /// Locked (flock) while this value lives: the lock goes with the file's last close.
    _lock: File,
}

impl ContainerDir {
    /// The state root this directory is in.
    pub fn state_root(&self) -> &Path {
        self.dir.parent().unwrap_or(Path::new("/"))
    }

    fn lock(id: &str, dir: PathBuf) -> Result<ContainerDir, StateError> {
        let file = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(e) => return Err(io_err("open state dir", &dir)(e)),
        };
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|errno| io_err("lock state dir", &dir)(std::io::Error::from(errno)))?;
        let lock = file;
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

    /// For a child cloned while the lock is held: closes the child's copy of the lock's fd,
    /// so a child that outlives its parent (the init waiting for `start` after a killed
    /// `create`) never keeps the container locked. The parent keeps the lock: closing one of
    /// several fds of an open file description does not release its flock.
    pub fn close_in_child(&self) {
        use std::os::fd::AsFd;
        crate::sys::close_in_clone(self._lock.as_fd());
    }

    pub fn start_socket_path(&self) -> PathBuf {
        self.dir.join(START_SOCKET)
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn read_state(&self) -> Result<Vec<u8>, StateError> {
        let path = self.state_path();
        std::fs::read(&path).map_err(io_err("read state", &path))
    }

    fn parse_state(&self, bytes: &[u8]) -> Result<State, StateError> {
        serde_json::from_slice(bytes).map_err(|source| StateError::Corrupt {
            path: self.state_path(),
            source,
        })
    }

    pub fn load(&self) -> Result<State, StateError> {
        self.parse_state(&self.read_state()?)
    }

    /// The state as saved now: `known` itself while state.json still holds what `known`
    /// serializes to (nothing saved the container since: no parse of its config), else
    /// state.json parsed.
    pub fn reload(&self, known: State) -> Result<State, StateError> {
        let bytes = self.read_state()?;
        if serde_json::to_vec(&known).is_ok_and(|k| k == bytes) {
            return Ok(known);
        }
        self.parse_state(&bytes)
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let path = self.state_path();
        let bytes = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        // Under /run: the state describes processes that die with the boot.
        berth_common::fs::write_atomic(&path, &bytes, Some(STATE_FILE_MODE), Durability::Crash)
            .map_err(StateError::Io)
    }

    /// Removes the directory and everything in it; the lock goes with the directory. The
    /// directory first moves to a trash name, atomically, so a berth killed while emptying
    /// it never leaves a directory without state under the ID.
    pub fn remove(self) -> Result<(), StateError> {
        let root = self.dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let trash = StateRoot::new(root).scratch_path("trash");
        std::fs::rename(&self.dir, &trash).map_err(io_err("remove state dir", &self.dir))?;
        std::fs::remove_dir_all(&trash).map_err(io_err("remove state dir", &trash))
    }

    /// The container's status as observed now.
    pub fn status(&self, state: &State) -> Status {
        status_at(&self.dir, state)
    }
}

/// The status of the container whose directory is `dir`, as observed now.
pub fn status_at(dir: &Path, state: &State) -> Status {
    status_of(
        state.creator.as_ref(),
        state.pid,
        state.pid_start_time,
        || dir.join(START_SOCKET).exists(),
        || state.cgroup.clone(),
    )
}

/// `status_at` from the fields of state.json it reads (`list` parses no more), a test for
/// the start socket and the cgroup paths, asked for only for a running container.
pub fn status_of(
    creator: Option<&Creator>,
    pid: i32,
    pid_start_time: u64,
    start_socket_exists: impl FnOnce() -> bool,
    cgroup: impl FnOnce() -> Option<CgroupPaths>,
) -> Status {
    if let Some(creator) = creator {
        // Half made: being built, or abandoned by a create that died.
        return if creator.alive() {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    let Some(init) = live_stat(pid, pid_start_time) else {
        return Status::Stopped;
    };
    // `start` removes the socket after telling the init: only an init that still waits
    // (it bears INIT_NAME until its execve) makes a created container.
    if init.waiting_for_start && start_socket_exists() {
        return Status::Created;
    }
    let frozen = cgroup().is_some_and(|paths| {
        let mgr = berth_cgroups::manager_from_paths(paths);
        matches!(mgr.freezer_state(), Ok(berth_cgroups::FreezerState::Frozen))
    });
    if frozen {
        Status::Paused
    } else {
        Status::Running
    }
}

/// Writes a file for clients (a pid file) atomically, with the default mode as runc's pid
/// files (see `berth_common::fs::write_atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    berth_common::fs::write_atomic(path, bytes, None, Durability::Crash).map_err(StateError::Io)
}

/// What berth reads of a process in /proc/<pid>/stat.
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    /// The state letter (R, S, Z, …).
    pub state: char,
    /// Start time in clock ticks after boot: with the pid, the process's identity.
    pub start_time: u64,
    /// Its name is [`INIT_NAME`]: create's init, before it executes the program.
    pub waiting_for_start: bool,
}

/// One process's [`ProcStat`], if it exists.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    // One read: the line is at most ~700 bytes (52 numbers, comm ≤ 16 bytes), and procfs
    // hands it over whole (no stat for a size hint, no read for EOF).
    let file = rustix::fs::open(
        format!("/proc/{pid}/stat").as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 1024];
    let n = rustix::io::read(&file, &mut buf).ok()?;
    parse_proc_stat(&buf[..n])
}

/// `PID (COMM) STATE …`: comm may contain spaces and parentheses, so the fields start after
/// the last ')'.
fn parse_proc_stat(line: &[u8]) -> Option<ProcStat> {
    let open = line.iter().position(|&b| b == b'(')?;
    let close = line.iter().rposition(|&b| b == b')')?;
    let comm = line.get(open + 1..close)?;
    let rest = std::str::from_utf8(line.get(close + 2..)?).ok()?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat {
        state,
        start_time,
        waiting_for_start: comm == INIT_NAME.to_bytes(),
    })
}

/// `pid`'s [`ProcStat`] while it is the same live (not zombie) process that had `start_time`.
pub fn live_stat(pid: i32, start_time: u64) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    proc_stat(pid).filter(|p| p.start_time == start_time && p.state != 'Z' && p.state != 'X')
}

/// True while `pid` is the same live (not zombie) process that had `start_time`.
pub fn process_matches(pid: i32, start_time: u64) -> bool {
    live_stat(pid, start_time).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_line_with_a_hostile_name() {
        // A program may name itself anything, parentheses and spaces included.
        let line = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 7777 1 2 3\n";
        let p = parse_proc_stat(line).unwrap();
        assert_eq!(
            (p.state, p.start_time, p.waiting_for_start),
            ('S', 7777, false)
        );
        let line = b"9 (berth:[init]) S 1 9 9 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123 1 2\n";
        let p = parse_proc_stat(line).unwrap();
        assert_eq!((p.start_time, p.waiting_for_start), (123, true));
        assert!(parse_proc_stat(b"9 (berth").is_none());
    }

    #[test]
    fn ids_follow_runc_rules() {
        for good in ["a", "abc-DEF_1.2+3", "0"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    fn intent(id: &str) -> State {
        State {
            id: id.into(),
            pid: 0,
            pid_start_time: 0,
            bundle: "/bundle".into(),
            rootfs: "/bundle/rootfs".into(),
            created: berth_common::now_rfc3339(),
            owner: String::new(),
            annotations: HashMap::new(),
            cgroup: None,
            config: Spec::default().into(),
            creator: Creator::this_process(),
            cgroup_shared: true,
            rootfs_mount: None,
        }
    }

    #[test]
    fn a_config_record_serializes_as_its_spec_and_a_change_drops_the_kept_json() {
        let mut record = ConfigRecord::new(crate::spec::default_spec(false));
        let plain = serde_json::to_string(&*record).unwrap();
        assert_eq!(record.json().unwrap().get(), plain);
        assert_eq!(serde_json::to_string(&record).unwrap(), plain);
        // A clone shares the spec and its JSON; a change to one copies the spec for it alone.
        let shared = record.clone();
        record.set_hostname(Some("changed".into()));
        let changed = serde_json::to_string(&record).unwrap();
        assert!(changed.contains("\"hostname\":\"changed\""), "{changed}");
        assert_eq!(changed, serde_json::to_string(&*record).unwrap());
        assert_eq!(serde_json::to_string(&shared).unwrap(), plain);
        let back: ConfigRecord = serde_json::from_str(&changed).unwrap();
        assert_eq!(back.hostname().as_deref(), Some("changed"));
    }

    #[test]
    fn reload_keeps_the_known_state_until_another_save() {
        let tmp = tempfile::tempdir().unwrap();
        let root = StateRoot::new(tmp.path());
        let mut known = intent("c1");
        known.config = crate::spec::default_spec(false).into();
        let dir = root.claim("c1", &known).unwrap();
        // What is on disk is what `known` says: `known` comes back, its spec not parsed again.
        let first = std::sync::Arc::as_ptr(&known.config.0);
        let same = dir.reload(known).unwrap();
        assert_eq!(std::sync::Arc::as_ptr(&same.config.0), first);
        // Another command saved the container since (an update): state.json is read.
        let mut updated = same.clone();
        updated.config.set_hostname(Some("updated".into()));
        dir.save(&updated).unwrap();
        let reloaded = dir.reload(same).unwrap();
        assert_ne!(std::sync::Arc::as_ptr(&reloaded.config.0), first);
        assert_eq!(reloaded.config.hostname().as_deref(), Some("updated"));
    }

    #[test]
    fn claim_twice_is_exists_and_open_unknown_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let root = StateRoot::new(tmp.path());
        let held = root.claim("c1", &intent("c1")).unwrap();
        drop(held);
        assert!(matches!(
            root.claim("c1", &intent("c1")),
            Err(StateError::Exists(_))
        ));
        assert!(matches!(root.open("nope"), Err(StateError::NotFound(_))));
        // Claimed with its intent: a container, being created while its creator lives.
        let cd = root.open("c1").unwrap();
        assert_eq!(cd.status(&cd.load().unwrap()), Status::Creating);
        assert_eq!(root.ids(), vec!["c1".to_string()]);
        cd.remove().unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn dead_creator_means_stopped_and_scratch_dirs_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = StateRoot::new(tmp.path());
        let mut state = intent("c1");
        // A start time no process has: the creator is gone.
        state.creator.as_mut().unwrap().start_time += 1;
        let cd = root.claim("c1", &state).unwrap();
        assert_eq!(cd.status(&state), Status::Stopped);
        // Leftovers of berths killed mid-claim and mid-remove (pid 0 never names one).
        for scratch in [".#claim-0-1", ".#trash-0-2"] {
            std::fs::create_dir(tmp.path().join(scratch)).unwrap();
            std::fs::write(tmp.path().join(scratch).join(START_SOCKET), "").unwrap();
        }
        // A directory without state, as an older berth left it.
        std::fs::create_dir(tmp.path().join("old")).unwrap();
        assert!(matches!(root.open("old"), Err(StateError::NotFound(_))));
        assert!(root.open_leftover("old").is_some());
        drop(cd);
        assert!(root.open_leftover("c1").is_none());
        root.claim("c2", &intent("c2")).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c1", "c2", "old"]);
    }

    #[test]
    fn own_process_is_alive_and_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let start = proc_stat(pid).unwrap().start_time;
        assert!(process_matches(pid, start));
        assert!(!process_matches(pid, start + 1));
    }
}
