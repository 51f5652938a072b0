//! The container lifecycle, one file per operation. Each operation takes the state root,
//! locks the container for its whole run, and leaves nothing behind when it fails.

mod adopt;
pub(crate) mod child;
mod create;
mod delete;
mod events;
mod exec;
mod join;
mod kill;
mod net_devices;
mod pause;
mod ps;
mod query;
mod release;
mod run;
mod seccomp_cache;
mod shared_rootfs;
mod start;
mod update;
mod userns;

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

pub use adopt::{adopt, AdoptOptions, Init};
pub use create::{create, Config, CreateOptions, Created};
pub use delete::delete;
pub use events::events;
pub use exec::{exec, ExecOptions};
pub use join::{join, JoinError, JoinOptions, Namespace};
pub use kill::{kill, parse_signal};
pub use net_devices::check as check_net_devices;
pub use pause::{pause, resume};
pub use ps::pids;
pub use query::{list, list_ids, oci_state, state_of, ListEntry};
pub use release::Release;
pub use run::{run, RunOptions};
pub use start::start;
pub use update::update;

use crate::state::{State, Status};
use berth_common::io::{IoError, Step};

/// Every way a lifecycle operation fails, each naming the container or the step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// The init's (or exec child's) own report of the step that failed.
    #[error("container init: {0}")]
    InitFailed(String),
    #[error("container init: {0}")]
    Handshake(#[from] crate::process::ChannelError),
    #[error("container init: unexpected {0}")]
    Unexpected(String),
    #[error("container init: read own start time")]
    OwnStartTime,
    #[error("container init: exited right after the clone")]
    ExitedAfterClone,
    #[error("container init: exited right after setup")]
    ExitedAfterSetup,
    #[error("container init: listen on {}: {source}", path.display())]
    ListenStart {
        path: PathBuf,
        source: crate::process::ChannelError,
    },
    #[error("container init: connect to {}: {source}", path.display())]
    ConnectStart {
        path: PathBuf,
        source: crate::process::ChannelError,
    },
    #[error("container init: tell the init to start: {0}")]
    TellStart(crate::process::ChannelError),
    #[error("container init: wait for the program to start: {0}")]
    WaitStart(crate::process::ChannelError),
    #[error("container init: the container init is gone; it cannot be started")]
    InitGone,
    #[error("container init: open the container's root {path}: {source}")]
    OpenRoot {
        path: String,
        source: rustix::io::Errno,
    },
    #[error("container init: receive seccomp notify fd: {0}")]
    SeccompFd(crate::process::ChannelError),
    #[error("container init: seccomp notify fd without a profile")]
    SeccompNoProfile,
    #[error("compile the seccomp profile: {0}")]
    Seccomp(String),
    #[error("SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")]
    SeccompNoListener,
    #[error(transparent)]
    Lsm(#[from] crate::init::security::LsmError),
    #[error("linux.timeOffsets is not supported yet")]
    TimeOffsets,
    #[error("a new time namespace together with joined namespaces is not supported yet")]
    TimeNsWithJoins,
    #[error("linux.resources needs a cgroup, and this user cannot create one ({0}): delegate a cgroup to the user or drop the limits")]
    RootlessLimits(berth_cgroups::CgroupError),
    #[error("rootless: {helper} is needed for more than one id mapping: {source} (install Debian's uidmap)")]
    IdMapHelperMissing {
        helper: &'static str,
        source: std::io::Error,
    },
    #[error("rootless: {helper} {pid} failed: {stderr} (are the ranges in /etc/subuid and /etc/subgid?)")]
    IdMapHelperFailed {
        helper: &'static str,
        pid: i32,
        stderr: String,
    },
    /// The bind sources berth opens (and idmaps) before the clone (init/rootfs/sources.rs).
    #[error("prepare the mounts: {0}")]
    MountSources(String),
    #[error("linux.{field} ({config}) differ from the maps of the user namespace joined by path {path} ({actual})")]
    JoinedUserNsMaps {
        field: &'static str,
        path: String,
        config: String,
        actual: String,
    },
    #[error("invalid signal {0}")]
    InvalidSignal(String),
    /// `what` completes "has no cgroup" (e.g. " to freeze").
    #[error("container {id} has no cgroup{what}")]
    NoCgroup { id: String, what: &'static str },
    #[error("release resources of container {id}: {reason}")]
    Release { id: String, reason: String },
    #[error("bundle {}: {source}", path.display())]
    Bundle {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A terminal was asked for without a way to hand it over.
    #[error("{0}")]
    NoConsoleSocket(&'static str),
    #[error("container {id} is {status}: cannot {op}")]
    WrongStatus {
        id: String,
        status: Status,
        op: &'static str,
    },
    /// runc's wording, which containerd's shim matches on.
    #[error("container {0}: container not running")]
    NotRunning(String),
    #[error("send signal {signal} to pid {pid}: {source}")]
    Signal {
        signal: i32,
        pid: i32,
        source: std::io::Error,
    },
    /// A step of moving a `linux.netDevices` link into the container failed.
    #[error("linux.netDevices: {step} {link}: {source}")]
    NetDevice {
        step: &'static str,
        link: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] IoError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error of `step`, which names no file, for `map_err` (`berth_common::io::Step`
/// where a path belongs in the message).
pub(crate) fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| IoError::during(step, source).into()
}

/// As [`io`], for a syscall's errno.
pub(crate) fn errno<E: Into<std::io::Error>>(step: &'static str) -> impl FnOnce(E) -> Error {
    move |e| IoError::during(step, e).into()
}

/// A pidfd for the container's init, only if the pid still is that process.
pub(crate) fn init_pidfd(state: &State) -> Option<OwnedFd> {
    let fd = crate::sys::pidfd_open(state.pid).ok()?;
    // Checked after opening: from here the pidfd pins the process, so a match now cannot
    // turn into a recycled pid later.
    crate::state::process_matches(state.pid, state.pid_start_time).then_some(fd)
}

/// Waits until the process behind `pidfd` has exited, at most `timeout`.
pub(crate) fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    crate::sys::pidfd_wait_exit(pidfd.as_fd(), Some(deadline)).unwrap_or(false)
}

pub(crate) fn hooks_of(
    state: &State,
    pick: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<oci_spec::runtime::Hook>>,
) -> Vec<oci_spec::runtime::Hook> {
    state
        .config
        .hooks()
        .as_ref()
        .and_then(|h| pick(h).clone())
        .unwrap_or_default()
}

pub(crate) fn bundle_path(p: &std::path::Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|source| Error::Bundle {
        path: p.to_path_buf(),
        source,
    })
}

/// Clones the container-side process; with `pidns`, into that pid namespace. Joining a pid
/// namespace only changes where children go, so berth switches for the clone and back.
/// With `cgroup` (see [`clone_target`]) the process starts in that cgroup
/// (`CLONE_INTO_CGROUP`); the returned flag says whether it did, or must still be moved
/// there (a kernel before 5.7 answers E2BIG to the larger clone_args).
pub(crate) fn clone_in_pid_ns(
    pidns: Option<std::os::fd::BorrowedFd<'_>>,
    flags: rustix::thread::UnshareFlags,
    cgroup: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<(crate::sys::Cloned, bool)> {
    use crate::namespaces::setns;
    use rustix::thread::UnshareFlags;
    let own = match pidns {
        Some(target) => {
            let own =
                std::fs::File::open("/proc/self/ns/pid").map_err(io("open own pid namespace"))?;
            setns(target, UnshareFlags::NEWPID).map_err(errno("join the pid namespace"))?;
            Some(own)
        }
        None => None,
    };
    let bits = flags.bits() as u64;
    let cloned = match crate::sys::clone3(bits, cgroup) {
        Err(e) if cgroup.is_some() && e.raw_os_error() == Some(libc::E2BIG) => {
            crate::sys::clone3(bits, None).map(|c| (c, false))
        }
        other => other.map(|c| (c, cgroup.is_some())),
    };
    if let Some(own) = own {
        if let Ok((crate::sys::Cloned::Parent { .. }, _)) = &cloned {
            setns(own.as_fd(), UnshareFlags::NEWPID)
                .map_err(errno("return to own pid namespace"))?;
        }
    }
    cloned.map_err(io("clone"))
}

/// On a pure cgroup v2 host, the container's cgroup directory, opened for
/// `CLONE_INTO_CGROUP`: its process starts there, with no cgroup.procs write after the
/// clone, and never runs a moment outside the container's limits. None elsewhere (v1 and
/// hybrid hosts join each hierarchy by a write) and when the directory is not there to
/// open: the write after the clone then joins it, or says why it cannot.
pub(crate) fn clone_target(paths: Option<&berth_cgroups::CgroupPaths>) -> Result<Option<OwnedFd>> {
    use rustix::fs::{Mode, OFlags};
    let Some(dir) = paths.and_then(|p| p.v2_only_dir()) else {
        return Ok(None);
    };
    match rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(IoError::new("open cgroup", dir, e).into()),
    }
}

/// Sets process.oomScoreAdj of a cloned container process (the program inherits it),
/// from this side: in a user namespace the process's own /proc files belong to host root
/// while it is non-dumpable, so it could not write them itself.
pub(crate) fn set_oom_score_adj(pid: i32, process: &oci_spec::runtime::Process) -> Result<()> {
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
            .step("set oom_score_adj", format!("/proc/{pid}/oom_score_adj"))?;
    }
    Ok(())
}

/// Passes a container process's seccomp notify fd to the listener at
/// linux.seccomp.listenerPath, as runc does: one message carrying the fd (SCM_RIGHTS) and
/// the container process state JSON (`ociVersion`, `fds: ["seccompFd"]`, `pid`,
/// `metadata`, `state`).
pub(crate) fn forward_seccomp_fd(
    chan: &crate::process::Channel,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    pid: i32,
    state: serde_json::Value,
) -> Result<()> {
    use std::os::fd::AsFd;
    let fd = chan.recv_fd().map_err(Error::SeccompFd)?;
    let seccomp = seccomp.ok_or(Error::SeccompNoProfile)?;
    let path = seccomp
        .listener_path()
        .as_ref()
        .ok_or(Error::SeccompNoListener)?;
    let sock =
        std::os::unix::net::UnixStream::connect(path).step("connect seccomp listener", path)?;
    let msg = serde_json::json!({
        "ociVersion": "1.3.0",
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": seccomp.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    });
    let bytes = serde_json::to_vec(&msg).unwrap_or_default();
    berth_common::fdpass::send_fds(sock.as_fd(), &bytes, &[fd.as_fd()])
        .step("send seccomp fd to", path)?;
    Ok(())
}

/// Where the container's pty master goes: nowhere without a terminal; berth's own end when
/// it relays the terminal itself (`own`); else the caller's --console-socket, connected now,
/// before anything is created, so a bad socket leaves nothing behind.
pub(crate) fn console_fd(
    terminal: bool,
    own: Option<OwnedFd>,
    socket: Option<&std::path::Path>,
    missing: &'static str,
) -> Result<Option<OwnedFd>> {
    if !terminal {
        return Ok(None);
    }
    if let Some(fd) = own {
        return Ok(Some(fd));
    }
    let path = socket.ok_or(Error::NoConsoleSocket(missing))?;
    let sock =
        std::os::unix::net::UnixStream::connect(path).step("connect console socket", path)?;
    Ok(Some(OwnedFd::from(sock)))
}
