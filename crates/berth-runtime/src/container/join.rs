//! `join`: run a host program inside chosen namespaces of chosen running containers — the
//! people-facing counterpart of nsenter, with containers named by ID instead of pids.
//!
//! Unlike `exec`, nothing of the container's process config applies: the program keeps
//! berth's credentials (root, or root in a joined user namespace), capabilities,
//! environment and cgroup, and only its namespaces change. This module owns that path; it
//! must not touch a container's state beyond reading it under the lock.
//!
//! Each namespace comes from the container's init through a pidfd checked against the
//! recorded start time after opening, so a recycled pid can never be joined. The program is
//! opened on the host before any namespace is joined and executed through that fd (execveat
//! with AT_EMPTY_PATH): after joining a mount namespace a host path would resolve in the
//! container's filesystem. berth forks once after joining, because the pid and time
//! namespaces only apply to children, and waits for the program.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_common::io::{IoError, Step};
use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{fstat, open, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::thread::ThreadNameSpaceType;

use super::init_pidfd;
use crate::state::{StateError, StateRoot};
use crate::sys::{self, Cloned};

/// The namespace kinds a program can join, with nsenter's names for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    Mount,
    Uts,
    Ipc,
    Net,
    Pid,
    User,
    Cgroup,
    Time,
}

impl Namespace {
    pub const ALL: [Namespace; 8] = [
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Pid,
        Namespace::User,
        Namespace::Cgroup,
        Namespace::Time,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Namespace::Mount => "mount",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "network",
            Namespace::Pid => "pid",
            Namespace::User => "user",
            Namespace::Cgroup => "cgroup",
            Namespace::Time => "time",
        }
    }

    fn oci(self) -> LinuxNamespaceType {
        match self {
            Namespace::Mount => LinuxNamespaceType::Mount,
            Namespace::Uts => LinuxNamespaceType::Uts,
            Namespace::Ipc => LinuxNamespaceType::Ipc,
            Namespace::Net => LinuxNamespaceType::Network,
            Namespace::Pid => LinuxNamespaceType::Pid,
            Namespace::User => LinuxNamespaceType::User,
            Namespace::Cgroup => LinuxNamespaceType::Cgroup,
            Namespace::Time => LinuxNamespaceType::Time,
        }
    }

    fn flag(self) -> ThreadNameSpaceType {
        // The OCI enum's values are the CLONE_NEW* bits.
        ThreadNameSpaceType::from_bits_retain(self.oci() as u32)
    }
}

#[derive(Debug, Clone, Default)]
pub struct JoinOptions {
    /// Namespaces named one by one: each must be one the container has of its own.
    pub namespaces: Vec<(Namespace, String)>,
    /// Every namespace this container has of its own, except those named in `namespaces`.
    pub all: Option<String>,
    /// Working directory, resolved after joining (so inside a joined mount namespace).
    /// Without it: the container's `/` when its mount namespace is joined, else unchanged.
    pub cwd: Option<PathBuf>,
    /// A path (with a '/') or a name looked up in berth's own $PATH, on the host.
    pub program: OsString,
    pub args: Vec<OsString>,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("nothing to join: name a container with --mount, --ipc, --net, --uts, --pid, --user, --cgroup, --time or --all")]
    NothingToJoin,
    #[error(transparent)]
    State(#[from] StateError),
    #[error("container {0} is not running: its init has exited")]
    NotRunning(String),
    #[error(
        "container {id} has no {ns} namespace of its own (it shares berth's): nothing to join"
    )]
    NotOwn { id: String, ns: &'static str },
    #[error("container {0} has no namespace of its own to join")]
    NoneOwn(String),
    #[error("program {program:?}: {reason}")]
    Program { program: PathBuf, reason: String },
    #[error("join the {ns} namespace of container {id}: {source}")]
    Setns {
        ns: String,
        id: String,
        source: Errno,
    },
    #[error("become root in the user namespace of container {id}: {source}")]
    Credentials { id: String, source: Errno },
    #[error("change directory to {dir:?}: {source}")]
    Cwd { dir: PathBuf, source: Errno },
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("execute {program:?}: {source}{hint}")]
    Exec {
        program: PathBuf,
        source: Errno,
        hint: &'static str,
    },
    #[error(transparent)]
    Wait(#[from] super::Error),
}

/// A container whose init is pinned by a pidfd.
struct Target {
    id: String,
    pidfd: OwnedFd,
    own: Vec<LinuxNamespaceType>,
}

/// Runs the program and returns its exit code (128 + signal when killed).
pub fn join(root: &StateRoot, opts: &JoinOptions) -> Result<i32, JoinError> {
    let (targets, wanted) = plan(root, opts)?;
    let (program, path) = open_program(&opts.program)?;
    let cstr = |s: &OsStr| {
        CString::new(s.as_bytes()).map_err(|_| JoinError::Program {
            program: path.clone(),
            reason: format!("argument {s:?} contains a NUL byte"),
        })
    };
    let argv = std::iter::once(opts.program.as_os_str())
        .chain(opts.args.iter().map(OsString::as_os_str))
        .map(cstr)
        .collect::<Result<Vec<_>, _>>()?;
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstr(&kv)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .during("create the exec status pipe")?;

    enter(&targets, &wanted)?;
    if let Some(dir) = &opts.cwd {
        rustix::process::chdir(dir).map_err(|source| JoinError::Cwd {
            dir: dir.clone(),
            source,
        })?;
    }

    // Blocked before the fork, so no signal meant for the program can kill berth.
    let signals = super::run::forwarded_signals()?;
    let (pid, pidfd) = match sys::clone3(0, None).during("fork the program's process")? {
        Cloned::Child => {
            drop(err_r);
            let errno = exec_program(&program, &argv, &envp);
            let _ = rustix::io::write(&err_w, &errno.raw_os_error().to_ne_bytes());
            sys::exit_now(127)
        }
        Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(err_w);
    drop(program);
    drop(targets);
    // The write end closes on a successful exec: EOF means the program runs.
    let mut buf = [0u8; 4];
    let n = loop {
        match rustix::io::read(&err_r, &mut buf) {
            Err(Errno::INTR) => continue,
            r => break r.unwrap_or(0),
        }
    };
    if n == buf.len() {
        let pid = rustix::process::Pid::from_raw(pid);
        let _ = rustix::process::waitpid(pid, rustix::process::WaitOptions::empty());
        let source = Errno::from_raw_os_error(i32::from_ne_bytes(buf));
        let mount_joined = wanted.contains_key(&Namespace::Mount);
        let hint = match source {
            Errno::NOENT if mount_joined => {
                " (its ELF or #! interpreter is looked up in the joined mount namespace and is not \
                 there: use a statically linked program)"
            }
            _ => "",
        };
        return Err(JoinError::Exec {
            program: path,
            source,
            hint,
        });
    }
    Ok(super::run::supervise(pid, &pidfd, None, signals)?)
}

/// Which container each namespace comes from, with every container checked alive.
fn plan(
    root: &StateRoot,
    opts: &JoinOptions,
) -> Result<(Vec<Target>, BTreeMap<Namespace, usize>), JoinError> {
    let mut targets: Vec<Target> = Vec::new();
    let mut index = |id: &str| -> Result<usize, JoinError> {
        if let Some(i) = targets.iter().position(|t| t.id == id) {
            return Ok(i);
        }
        targets.push(target(root, id)?);
        Ok(targets.len() - 1)
    };
    let mut wanted = BTreeMap::new();
    for (ns, id) in &opts.namespaces {
        wanted.insert(*ns, index(id)?);
    }
    let all = opts.all.as_deref().map(&mut index).transpose()?;
    for (ns, &i) in &wanted {
        if !targets[i].own.contains(&ns.oci()) {
            return Err(JoinError::NotOwn {
                id: targets[i].id.clone(),
                ns: ns.name(),
            });
        }
    }
    if let Some(i) = all {
        let own: Vec<Namespace> = Namespace::ALL
            .into_iter()
            .filter(|ns| targets[i].own.contains(&ns.oci()))
            .collect();
        if own.is_empty() {
            return Err(JoinError::NoneOwn(targets[i].id.clone()));
        }
        for ns in own {
            wanted.entry(ns).or_insert(i);
        }
    }
    if wanted.is_empty() {
        return Err(JoinError::NothingToJoin);
    }
    Ok((targets, wanted))
}

fn target(root: &StateRoot, id: &str) -> Result<Target, JoinError> {
    // The lock is held only while the init is pinned: the program may run for long, and
    // `kill` or `delete` of the container must not wait for it.
    let dir = root.open(id)?;
    let state = dir.load()?;
    let pidfd = init_pidfd(&state).ok_or_else(|| JoinError::NotRunning(id.to_string()))?;
    // A namespace the config does not list is berth's own (the container shares the host's).
    let own = crate::namespaces::NamespacePlan::of(&state.config)
        .own()
        .to_vec();
    Ok(Target {
        id: id.to_string(),
        pidfd,
        own,
    })
}

/// Opens the program on the host; `fexecve` runs it later from any mount namespace.
fn open_program(program: &OsStr) -> Result<(OwnedFd, PathBuf), JoinError> {
    let path = find_program(program)?;
    let fd = open(&path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
        JoinError::Program {
            program: path.clone(),
            reason: format!("open: {e}"),
        }
    })?;
    // Checked on the opened file, not the path, so what runs is what was checked.
    let st = fstat(&fd).map_err(|e| JoinError::Program {
        program: path.clone(),
        reason: format!("stat: {e}"),
    })?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_mode & 0o111 == 0 {
        return Err(JoinError::Program {
            program: path,
            reason: "not an executable file".into(),
        });
    }
    Ok((fd, path))
}

/// A path with a '/' as given; a bare name through berth's $PATH, as a shell would.
fn find_program(program: &OsStr) -> Result<PathBuf, JoinError> {
    if program.is_empty() {
        return Err(JoinError::Program {
            program: PathBuf::new(),
            reason: "empty program name".into(),
        });
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| berth_common::DEFAULT_PATH.into());
    std::env::split_paths(&search)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
        .ok_or_else(|| JoinError::Program {
            program: PathBuf::from(program),
            reason: "not found in $PATH on the host".into(),
        })
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Joins the planned namespaces, user namespace last unless joining it is what grants the
/// right to join the others (nsenter's two passes): a namespace refused before the user
/// namespace is tried again after it.
fn enter(targets: &[Target], wanted: &BTreeMap<Namespace, usize>) -> Result<(), JoinError> {
    let user = wanted.get(&Namespace::User).copied();
    let kinds_of = |i: usize| -> Vec<Namespace> {
        wanted
            .iter()
            .filter(|(ns, &t)| t == i && **ns != Namespace::User)
            .map(|(ns, _)| *ns)
            .collect()
    };
    let join = |i: usize, kinds: &[Namespace]| {
        let flags = kinds
            .iter()
            .fold(ThreadNameSpaceType::empty(), |f, ns| f | ns.flag());
        // One setns per container: the kernel joins all of them or none.
        rustix::thread::move_into_thread_name_spaces(targets[i].pidfd.as_fd(), flags).map_err(
            |source| JoinError::Setns {
                ns: kinds
                    .iter()
                    .map(|ns| ns.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                id: targets[i].id.clone(),
                source,
            },
        )
    };
    let mut refused = Vec::new();
    for i in 0..targets.len() {
        let kinds = kinds_of(i);
        if kinds.is_empty() {
            continue;
        }
        match join(i, &kinds) {
            Ok(()) => {}
            Err(JoinError::Setns {
                source: Errno::PERM,
                ..
            }) if user.is_some() => refused.push((i, kinds)),
            Err(e) => return Err(e),
        }
    }
    if let Some(i) = user {
        join(i, &[Namespace::User])?;
        // As nsenter: the program runs as root of the joined user namespace.
        // One thread here: the thread-level calls are the process's.
        let (root_gid, root_uid) = (rustix::process::Gid::ROOT, rustix::process::Uid::ROOT);
        rustix::thread::set_thread_res_gid(root_gid, root_gid, root_gid)
            .and_then(|()| rustix::thread::set_thread_res_uid(root_uid, root_uid, root_uid))
            .map_err(|source| JoinError::Credentials {
                id: targets[i].id.clone(),
                source,
            })?;
    }
    for (i, kinds) in refused {
        join(i, &kinds)?;
    }
    Ok(())
}

/// In the forked child: only returns when the exec failed.
fn exec_program(program: &OwnedFd, argv: &[CString], envp: &[CString]) -> Errno {
    // No host fd beyond stdio reaches the program; the status pipe closes on exec.
    if let Err(e) = sys::cloexec_from(3) {
        return Errno::from_io_error(&e).unwrap_or(Errno::BADF);
    }
    if let Err(e) = sys::default_signal_action(libc::SIGPIPE) {
        return Errno::from_io_error(&e).unwrap_or(Errno::INVAL);
    }
    // berth blocked the signals it forwards; the program starts with none blocked.
    if let Err(e) = sys::SigSet::empty().thread_set_mask() {
        return Errno::from_io_error(&e).unwrap_or(Errno::INVAL);
    }
    let e = sys::execveat(program.as_fd(), argv, envp);
    Errno::from_io_error(&e).unwrap_or(Errno::INVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_resolve_through_path_and_paths_stay_as_given() {
        assert_eq!(
            find_program(OsStr::new("./x")).unwrap(),
            PathBuf::from("./x")
        );
        let sh = find_program(OsStr::new("sh")).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
        assert!(matches!(
            find_program(OsStr::new("no-such-program-berth")),
            Err(JoinError::Program { .. })
        ));
    }

    #[test]
    fn a_directory_is_not_a_program() {
        let err = open_program(OsStr::new("/tmp")).unwrap_err();
        assert!(err.to_string().contains("not an executable file"), "{err}");
    }

    #[test]
    fn unknown_container_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = JoinOptions {
            namespaces: vec![(Namespace::Ipc, "nope".into())],
            program: "/bin/true".into(),
            ..Default::default()
        };
        let err = join(&StateRoot::new(tmp.path()), &opts).unwrap_err();
        assert_eq!(err.to_string(), "container nope does not exist");
    }

    #[test]
    fn nothing_named_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = JoinOptions {
            program: "/bin/true".into(),
            ..Default::default()
        };
        assert!(matches!(
            join(&StateRoot::new(tmp.path()), &opts),
            Err(JoinError::NothingToJoin)
        ));
    }
}
