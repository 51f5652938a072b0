//! Read-only views: `state` and `list`.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use berth_cgroups::CgroupPaths;
use rustix::fs::{AtFlags, Mode, OFlags};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// The fields of state.json `list` reads: parsing skips the config, most of the file, and
/// keeps the cgroup paths unparsed (only a running container's freezer needs them).
#[derive(Deserialize)]
struct Listed<'a> {
    pid: i32,
    pid_start_time: u64,
    bundle: PathBuf,
    created: String,
    owner: String,
    #[serde(borrow)]
    cgroup: Option<&'a RawValue>,
    #[serde(default)]
    creator: Option<Creator>,
}

/// Containers one thread lists at least: starting a thread (~50 µs) must save more than
/// it costs (1,000 containers take ~20 ms of one CPU, bench/README.md).
const PER_THREAD: usize = 128;

/// Every container under the root with its current status (read as `state_of` does);
/// containers that vanish while listing are skipped. The work is the kernel's, per
/// container (bench/README.md, "Session 6"), so a long list is read by up to one thread
/// per CPU, each over a contiguous run of the sorted IDs: the same order, less wall time.
pub fn list(root: &StateRoot) -> Vec<ListEntry> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::open(&root.path, flags, Mode::empty()) else {
        return Vec::new();
    };
    let ids = root.ids();
    let most = ids.len() / PER_THREAD;
    // Asked only when it matters: std reads the CPU affinity and this cgroup's CPU quota.
    let cpus = || std::thread::available_parallelism().map_or(1, usize::from);
    let threads = if most > 1 { cpus().min(most) } else { 1 };
    list_in(dir.as_fd(), &ids, threads)
}

/// `ids` listed by `threads` threads (this one included), in order. A thread that cannot
/// be started (a seccomp profile refusing clone3, a thread limit) leaves its run to this one.
fn list_in(dir: BorrowedFd<'_>, ids: &[String], threads: usize) -> Vec<ListEntry> {
    let per = ids.len().div_ceil(threads.max(1)).max(1);
    let mut runs = ids.chunks(per);
    let first = runs.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = runs
            .map(|run| {
                let thread = std::thread::Builder::new().spawn_scoped(scope, || list_run(dir, run));
                (run, thread.ok())
            })
            .collect();
        let mut entries = list_run(dir, first);
        for (run, thread) in others {
            let listed = match thread {
                // A panic in a lister is a bug: it goes on as this thread's.
                Some(t) => t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
                None => list_run(dir, run),
            };
            entries.extend(listed);
        }
        entries
    })
}

/// Per container six syscalls: state.json opened relative to the root's fd and read once
/// into one reused buffer, /proc/<pid>/stat opened and read once, a stat of the start
/// socket (and for a running one its freezer state).
fn list_run(dir: BorrowedFd<'_>, ids: &[String]) -> Vec<ListEntry> {
    let mut buf = vec![0u8; 16 << 10];
    let mut path = String::new();
    ids.iter()
        .filter_map(|id| {
            path.clear();
            path.push_str(id);
            path.push('/');
            path.push_str(STATE_FILE);
            let bytes = read_at(dir, &path, &mut buf)?;
            let s: Listed = serde_json::from_slice(bytes).ok()?;
            let status = status_of(
                s.creator.as_ref(),
                s.pid,
                s.pid_start_time,
                || {
                    path.truncate(id.len() + 1);
                    path.push_str(START_SOCKET);
                    rustix::fs::statat(dir, path.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok()
                },
                || {
                    s.cgroup
                        .and_then(|raw| serde_json::from_str::<CgroupPaths>(raw.get()).ok())
                },
            );
            Some(ListEntry {
                pid: if status == Status::Stopped { 0 } else { s.pid },
                status: status.to_string(),
                bundle: s.bundle.display().to_string(),
                created: s.created,
                owner: s.owner,
                id: id.clone(),
            })
        })
        .collect()
}

/// The whole of `path` under `dir` in `buf` (grown when the file does not fit): one open
/// and, for a file that fits, one read (a short read of a regular file is its end).
fn read_at<'b>(dir: BorrowedFd<'_>, path: &str, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    let fd = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut len = 0;
    loop {
        let n = rustix::io::read(&fd, &mut buf[len..]).ok()?;
        len += n;
        if n == 0 || len < buf.len() {
            return Some(&buf[..len]);
        }
        buf.resize(buf.len() * 2, 0);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The threads of a long list: every container is listed once, in ID order, with the
    /// status one thread gives it, also where no thread can be started. Real files, the test
    /// process's own /proc entry, a real seccomp filter.
    #[test]
    fn threads_list_every_container_once_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = StateRoot::new(tmp.path());
        let me = Creator::this_process().unwrap();
        // A created container's init still bears INIT_NAME: a thread of this test named so
        // plays it (its /proc/<tid>/stat is its own), this process a running program.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
        let waiting = std::thread::Builder::new()
            .name(crate::state::INIT_NAME.to_str().unwrap().into())
            .spawn(move || {
                tid_tx
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                let _ = end_rx.recv();
            })
            .unwrap();
        let init = Creator::of(tid_rx.recv().unwrap()).unwrap();
        let mut want = Vec::new();
        for i in 0..300 {
            let id = format!("c{i:03}");
            // Every third init is gone (a start time no process has); of the live ones,
            // every other still waits for `start` (its start socket exists).
            let gone = i % 3 == 0;
            let created = i % 2 == 0;
            let process = if created { init } else { me };
            let state = State {
                id: id.clone(),
                pid: process.pid,
                pid_start_time: process.start_time + u64::from(gone),
                bundle: "/bundle".into(),
                rootfs: "/bundle/rootfs".into(),
                created: berth_common::now_rfc3339(),
                owner: String::new(),
                annotations: HashMap::new(),
                cgroup: None,
                config: Default::default(),
                creator: None,
                cgroup_shared: false,
                rootfs_mount: None,
            };
            let cd = root.claim(&id, &state).unwrap();
            if created {
                std::fs::write(cd.start_socket_path(), "").unwrap();
            }
            let status = match (gone, created) {
                (true, _) => "stopped",
                (false, true) => "created",
                (false, false) => "running",
            };
            want.push((id, status.to_string()));
        }
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(tmp.path(), flags, Mode::empty()).unwrap();
        let ids = root.ids();
        let seen = |entries: Vec<ListEntry>| -> Vec<(String, String)> {
            entries.into_iter().map(|e| (e.id, e.status)).collect()
        };
        assert_eq!(seen(list_in(dir.as_fd(), &ids, 1)), want);
        assert_eq!(seen(list_in(dir.as_fd(), &ids, 3)), want);
        assert_eq!(seen(list(&root)), want);

        // Under a seccomp filter that refuses new threads (as some profiles a runtime may
        // run under do), in a thread of its own: the runs are read by the lister itself.
        let refused = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    refuse_threads();
                    let spawned = std::thread::Builder::new().spawn_scoped(scope, || ());
                    (spawned.is_err(), seen(list_in(dir.as_fd(), &ids, 3)))
                })
                .join()
                .unwrap()
        });
        assert_eq!(refused, (true, want));
        end_tx.send(()).unwrap();
        waiting.join().unwrap();
    }

    /// This thread's clone3 and clone fail with EPERM from now on.
    fn refuse_threads() {
        use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
        let mut filter = ScmpFilterContext::new(ScmpAction::Allow).unwrap();
        for name in ["clone3", "clone"] {
            let call = ScmpSyscall::from_name(name).unwrap();
            filter
                .add_rule(ScmpAction::Errno(libc::EPERM), call)
                .unwrap();
        }
        filter.load().unwrap();
    }
}
