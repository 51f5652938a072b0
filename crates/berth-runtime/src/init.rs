//! What runs inside the new container between clone and execve.
//!
//! The init is a fork-like copy of berth (single-threaded, so allocation is safe) that
//! joins and creates namespaces, builds the root, sets up the terminal, drops privileges,
//! reports `Ready`, and waits on the start socket until `start`. It never returns: it
//! either becomes the container's program or sends `Failed` and exits — to the parent
//! before `Ready`, to `start` after it.

use std::convert::Infallible;
use std::ffi::CString;
use std::fmt::Display;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_cgroups::CgroupPaths;
use nix::fcntl::OFlag;
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chroot, fchdir};
use oci_spec::runtime::{LinuxNamespaceType, LinuxPersonality, LinuxSeccomp, Process, Spec};

use crate::process::{Channel, StartSocket, ToChild, ToParent};
use crate::{procfs, rootfs, security, shared_mnt, sys, tty};

/// An error inside the init, already formatted: it crosses the handshake as text.
#[derive(Debug)]
pub struct InitError(pub String);

impl Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Adds the failing step to any error.
pub trait Ctx<T> {
    fn ctx(self, step: impl FnOnce() -> String) -> Result<T, InitError>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, step: impl FnOnce() -> String) -> Result<T, InitError> {
        self.map_err(|e| InitError(format!("{}: {}", step(), e)))
    }
}

/// Everything the init needs, prepared by the parent before the clone.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup: Option<&'a CgroupPaths>,
    pub chan: Channel,
    /// Where `start` connects; listening since before the clone.
    pub start: StartSocket,
    /// A connected console socket when process.terminal is set.
    pub console: Option<OwnedFd>,
    /// New namespaces the clone itself did not create (because some are joined by path).
    pub unshare: CloneFlags,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Run prestart/createRuntime hooks in the parent before entering the root.
    pub create_hooks: bool,
}

pub fn run(args: InitArgs) -> ! {
    let err = match setup_and_exec(&args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = args.chan.send(&ToParent::failed(&err.0));
    sys::exit_now(1)
}

/// Waits for `Continue`; returns the hook state if the parent sent one first.
fn expect_continue(chan: &Channel) -> Result<Option<String>, InitError> {
    let mut state = None;
    loop {
        match chan.recv::<ToChild>().ctx(|| "wait for berth".into())? {
            ToChild::Continue => return Ok(state),
            ToChild::HookState(s) => state = Some(s),
            ToChild::Start => return Err(InitError("wait for berth: unexpected Start".into())),
        }
    }
}

/// Runs in-container hooks with the state the parent sent.
fn container_hooks(
    point: &'static str,
    hooks: Option<&Vec<oci_spec::runtime::Hook>>,
    state: Option<&String>,
) -> Result<(), InitError> {
    match hooks {
        Some(h) if !h.is_empty() => {
            let json = state.map(|s| s.as_bytes()).unwrap_or_default();
            crate::hooks::run(point, h, json).map_err(|e| InitError(e.to_string()))
        }
        _ => Ok(()),
    }
}

fn setup_and_exec(a: &InitArgs) -> Result<Infallible, InitError> {
    // If berth dies before the container is fully created, so does the init.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .ctx(|| "set parent-death signal".into())?;
    // Until execve the init holds host state (the handshake socket, the start socket,
    // berth's own image): nothing in the container may ptrace it or open its /proc files,
    // even once its capabilities match the container's (CVE-2016-9962, CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).ctx(|| "set non-dumpable".into())?;
    let spec = a.spec;
    let linux = spec.linux().as_ref();
    let namespaces: Vec<_> = linux
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let new_ns = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };

    // Joined namespaces first, the user namespace before the others: what we create
    // afterwards belongs to the joined user namespace.
    let mut joins: Vec<_> = namespaces
        .iter()
        .filter(|n| n.path().is_some() && n.typ() != LinuxNamespaceType::Pid)
        .collect();
    joins.sort_by_key(|n| n.typ() != LinuxNamespaceType::User);
    for ns in joins {
        let path = ns.path().as_ref().expect("filtered on path");
        let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .ctx(|| format!("open {} namespace {path:?}", ns.typ()))?;
        // The declared type goes to setns, so the kernel refuses a file of another type.
        let typ = CloneFlags::from_bits_retain(ns.typ() as i32);
        setns(fd.as_fd(), typ).map_err(|e| match e {
            nix::errno::Errno::EINVAL => InitError(format!(
                "join {} namespace {path:?}: not a {} namespace",
                ns.typ(),
                ns.typ()
            )),
            e => InitError(format!("join {} namespace {path:?}: {e}", ns.typ())),
        })?;
    }
    if !a.unshare.is_empty() {
        unshare(a.unshare).ctx(|| "create namespaces".into())?;
    }
    let in_userns = new_ns(LinuxNamespaceType::User);
    // A non-dumpable process's /proc files belong to root: a parent that is not root could
    // not write the id maps. Nothing of the container runs yet in this window.
    if in_userns {
        nix::sys::prctl::set_dumpable(true).ctx(|| "set dumpable for the id maps".into())?;
    }
    a.chan
        .send(&ToParent::NamespacesReady)
        .ctx(|| "report namespaces".into())?;
    // Hooks run in the container see the pid the container sees.
    let hook_state = expect_continue(&a.chan)?.map(|s| with_own_pid(&s));
    if in_userns {
        nix::sys::prctl::set_dumpable(false).ctx(|| "set non-dumpable".into())?;
    }

    if in_userns {
        // The parent wrote the maps: become the namespace's root.
        let root_g = nix::unistd::Gid::from_raw(0);
        let root_u = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(root_g, root_g, root_g)
            .ctx(|| "setgid 0 in user namespace".into())?;
        nix::unistd::setresuid(root_u, root_u, root_u)
            .ctx(|| "setuid 0 in user namespace".into())?;
    }
    // Only now, inside its cgroup, may the init take a cgroup namespace rooted there.
    if new_ns(LinuxNamespaceType::Cgroup) {
        unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "create cgroup namespace".into())?;
    }
    if new_ns(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname() {
            nix::unistd::sethostname(h).ctx(|| format!("set hostname {h:?}"))?;
        }
        if let Some(d) = spec.domainname() {
            set_domainname(d)?;
        }
    }

    if new_ns(LinuxNamespaceType::Network) {
        // A fresh network namespace has only `lo`, and it is down; runc and crun bring it
        // up, and programs expect 127.0.0.1 to work even without any other network.
        sys::loopback_up().ctx(|| "bring up lo in the new network namespace".into())?;
    }

    // New or joined: the container's own mount namespace. Without one it shares the
    // caller's, where neither "/" nor the root may change (shared_mnt).
    let own_mount_ns = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Mount);
    if own_mount_ns {
        rootfs::prepare(spec, a.rootfs)?;
    } else {
        shared_mnt::prepare(a.rootfs)?;
    }
    rootfs::mount_all(spec, a.rootfs, a.bundle, a.cgroup, in_userns)?;
    if a.create_hooks {
        a.chan
            .send(&ToParent::RunCreateHooks)
            .ctx(|| "request hooks".into())?;
        expect_continue(&a.chan)?;
    }
    let hooks = spec.hooks().as_ref();
    container_hooks(
        "createContainer",
        hooks.and_then(|h| h.create_container().as_ref()),
        hook_state.as_ref(),
    )?;
    if own_mount_ns {
        rootfs::enter(a.rootfs, a.no_pivot)?;
    } else {
        shared_mnt::enter(a.rootfs)?;
    }
    rootfs::finish(spec)?;

    let process = spec.process().as_ref().expect("validated: process present");
    if let Some(console) = &a.console {
        tty::setup_init_console(console.as_fd(), process.console_size().as_ref())?;
    }
    if !a.no_new_keyring {
        // EPERM/ENOSYS where keyrings are not allowed (e.g. a seccomp'd host): runc ignores it.
        let _ = sys::join_session_keyring(c"_ses.berth");
    }
    let seccomp = linux.and_then(|l| l.seccomp().as_ref());
    let start = StartWait {
        socket: &a.start,
        hooks: hooks
            .and_then(|h| h.start_container().clone())
            .unwrap_or_default(),
        state: hook_state.unwrap_or_default(),
    };
    let personality = linux.and_then(|l| l.personality().as_ref());
    become_process(
        process,
        seccomp,
        personality,
        &a.chan,
        Some(start),
        a.preserve_fds,
    )
}

/// What create's init does between `Ready` and execve: wait for `start`, then run the
/// startContainer hooks.
struct StartWait<'a> {
    socket: &'a StartSocket,
    hooks: Vec<oci_spec::runtime::Hook>,
    state: String,
}

/// The container side of `exec`: join every namespace of the running container through
/// its init's pidfd (the pid namespace was joined by the parent before the clone).
pub struct ExecArgs<'a> {
    pub process: &'a Process,
    pub seccomp: Option<&'a LinuxSeccomp>,
    pub init_pidfd: BorrowedFd<'a>,
    pub namespaces: CloneFlags,
    /// The init's root when the container has no mount namespace to join (a chroot).
    pub root: Option<BorrowedFd<'a>>,
    pub chan: Channel,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
}

pub fn exec(args: ExecArgs) -> ! {
    let err = match exec_inner(&args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = args.chan.send(&ToParent::failed(&err.0));
    sys::exit_now(1)
}

fn exec_inner(a: &ExecArgs) -> Result<Infallible, InitError> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .ctx(|| "set parent-death signal".into())?;
    // Until execve this process holds host state: nothing in the container may ptrace it
    // or open its /proc files (CVE-2016-9962).
    nix::sys::prctl::set_dumpable(false).ctx(|| "set non-dumpable".into())?;
    expect_continue(&a.chan)?;
    // Before setns: once in the container's user namespace, the process could no longer
    // chroot in the caller's mount namespace.
    if let Some(root) = a.root {
        fchdir(root).ctx(|| "enter the container's root".into())?;
        chroot(".").ctx(|| "chroot into the container's root".into())?;
    }
    // A container with no namespace of its own (e.g. no `linux` section) has nothing to
    // join, and setns with no flags is EINVAL.
    if !a.namespaces.is_empty() {
        setns(a.init_pidfd, a.namespaces).ctx(|| "join the container's namespaces".into())?;
    }
    if a.namespaces.contains(CloneFlags::CLONE_NEWUSER) {
        let g = nix::unistd::Gid::from_raw(0);
        let u = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(g, g, g).ctx(|| "setgid 0 in user namespace".into())?;
        nix::unistd::setresuid(u, u, u).ctx(|| "setuid 0 in user namespace".into())?;
    }
    if let Some(console) = &a.console {
        tty::setup_console(console.as_fd(), a.process.console_size().as_ref())?;
    }
    become_process(a.process, a.seccomp, None, &a.chan, None, a.preserve_fds)
}

/// The common end of create and exec: limits, cwd, identity, capabilities, seccomp,
/// `Ready`, the wait for `start` (create only), and execve.
fn become_process(
    process: &Process,
    seccomp: Option<&LinuxSeccomp>,
    personality: Option<&LinuxPersonality>,
    chan: &Channel,
    start: Option<StartWait>,
    preserve_fds: u32,
) -> Result<Infallible, InitError> {
    // First, before the cwd is entered and before any seccomp filter could deny the
    // syscall: every fd the init does not need is closed (the ones it keeps are
    // close-on-exec), so no host fd is there to be reached through /proc/self/fd.
    let mut keep = vec![chan.as_raw_fd()];
    keep.extend(start.as_ref().map(|s| s.socket.raw_fd()));
    // Saturating: a --preserve-fds near u32::MAX means "keep them all" (runc), never a wrap
    // to 0..2 that would close the program's stdio.
    sys::close_fds_except(3u32.saturating_add(preserve_fds), &keep)
        .ctx(|| "close inherited fds".into())?;
    security::set_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
    security::apply_process_attrs(process, personality)?;
    security::apply_apparmor(process)?;
    if let Some(adj) = process.oom_score_adj() {
        procfs::write_own("oom_score_adj", &adj.to_string())
            .map_err(|e| InitError(format!("set oom_score_adj {adj}: {e}")))?;
    }
    if let Some(umask) = process.user().umask() {
        nix::sys::stat::umask(Mode::from_bits_truncate(umask));
    }
    enter_cwd(process.cwd())?;

    let env = environment(
        process.env().as_deref().unwrap_or_default(),
        process.user().uid(),
    );
    let args = process.args().as_deref().unwrap_or_default();
    let first = args
        .first()
        .ok_or_else(|| InitError("process.args is empty".into()))?;
    let program = find_program(first, &env)?;

    let caps = process.capabilities().as_ref();
    let nnp = process.no_new_privileges().unwrap_or(false);
    // A notifying filter must be loaded before `Ready`: its fd goes to the listener through
    // berth, which does not outlive `Ready`.
    let notify = seccomp.is_some_and(security::wants_notify);
    let seccomp = seccomp.map(security::build_seccomp).transpose()?;
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the
    // capabilities go. With it, load as late as possible.
    if !nnp {
        if let Some(f) = &seccomp {
            f.load().ctx(|| "load seccomp filter".into())?;
            if notify {
                send_notify_fd(f, chan)?;
            }
        }
    }
    security::drop_bounding(caps)?;
    security::switch_user(process.user())?;
    security::apply_caps(caps)?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().ctx(|| "set no_new_privs".into())?;
    }

    let argv: Vec<CString> = args.iter().map(|s| cstring(s)).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env.iter().map(|s| cstring(s)).collect::<Result<_, _>>()?;

    if nnp && notify {
        if let Some(f) = &seccomp {
            f.load().ctx(|| "load seccomp filter".into())?;
            send_notify_fd(f, chan)?;
        }
    }

    // From here the process belongs to the container: berth's exit must not kill it.
    nix::sys::prctl::set_pdeathsig(None).ctx(|| "clear parent-death signal".into())?;
    chan.send(&ToParent::Ready).ctx(|| "report ready".into())?;
    // Past `Ready`, a failure goes to whoever waits for the program to run: `start`'s
    // connection (create), or the parent, which reads on after `Ready` (exec).
    let start_conn;
    let report = match start {
        Some(start) => {
            start_conn = start.socket.wait_start().ctx(|| "wait for start".into())?;
            if let Err(e) =
                container_hooks("startContainer", Some(&start.hooks), Some(&start.state))
            {
                fail_after_ready(&start_conn, e)
            }
            &start_conn
        }
        None => chan,
    };
    let late_filter = seccomp.as_ref().filter(|_| nnp && !notify);
    match exec_program(late_filter, &program, first, &argv, &envp) {
        Ok(never) => match never {},
        Err(e) => fail_after_ready(report, e),
    }
}

/// Reports a failure past `Ready` and exits. Sent with write(2), which a seccomp filter
/// loaded by now lets through.
fn fail_after_ready(report: &Channel, err: InitError) -> ! {
    let _ = report.send_by_write(&ToParent::failed(&err.0));
    sys::exit_now(1)
}

/// The last steps: signals back to their defaults, the late seccomp filter, execve.
/// Nothing after the filter load but execve itself.
fn exec_program(
    late_filter: Option<&libseccomp::ScmpFilterContext>,
    program: &CString,
    first: &str,
    argv: &[CString],
    envp: &[CString],
) -> Result<Infallible, InitError> {
    // berth blocks the signals it forwards; the program starts with none blocked, and with
    // every disposition at its default: an ignored signal (Rust ignores SIGPIPE, a shell
    // may ignore SIGQUIT) would otherwise survive execve into the container.
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .ctx(|| "reset the signal mask".into())?;
    for sig in 1..=libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // Numbers glibc reserves for itself refuse with EINVAL: nothing to reset there.
            let _ = sys::default_signal_action(sig);
        }
    }
    if let Some(f) = late_filter {
        f.load().ctx(|| "load seccomp filter".into())?;
    }
    nix::unistd::execve(program, argv, envp).ctx(|| format!("exec {first:?}"))?;
    unreachable!("execve returned without an error")
}

/// Hands the loaded filter's notify fd to berth, then closes this process's copy: the
/// container's program must not answer its own notifications.
fn send_notify_fd(filter: &libseccomp::ScmpFilterContext, chan: &Channel) -> Result<(), InitError> {
    let fd = sys::own_fd(
        filter
            .get_notify_fd()
            .ctx(|| "get seccomp notify fd".into())?,
    );
    chan.send(&ToParent::SeccompNotify)
        .ctx(|| "report seccomp notify fd".into())?;
    chan.send_fd(fd.as_fd())
        .ctx(|| "send seccomp notify fd".into())?;
    Ok(())
}

fn set_domainname(name: &str) -> Result<(), InitError> {
    sys::set_domainname(name).ctx(|| format!("set domainname {name:?}"))
}

fn cstring(s: &str) -> Result<CString, InitError> {
    CString::new(s).map_err(|_| InitError(format!("{s:?} contains a NUL byte")))
}

/// Enters the configured cwd, resolved inside the container's root like a mount target
/// (openat2 RESOLVE_IN_ROOT, no magic links), then fchdir to what was resolved: neither
/// `..` nor a symlink nor /proc/self/fd/N (a leaked host fd, CVE-2024-21626) leads out.
fn enter_cwd(cwd: &Path) -> Result<(), InitError> {
    let dir = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let root = nix::fcntl::open("/", dir, Mode::empty()).ctx(|| "open / for cwd".into())?;
    let target = rootfs::open_in_root(root.as_fd(), cwd, dir)
        .ctx(|| format!("cwd {cwd:?}: resolve inside the container root"))?;
    nix::unistd::fchdir(&target).ctx(|| format!("chdir to cwd {cwd:?}"))
}

/// The state JSON with the pid the container sees, for hooks run inside it (the spec).
fn with_own_pid(state: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["pid"] = std::process::id().into();
            v.to_string()
        }
        Err(_) => state.to_string(),
    }
}

/// The process env, plus HOME from the container's /etc/passwd when the config has none.
fn environment(env: &[String], uid: u32) -> Vec<String> {
    let mut out = env.to_vec();
    if !out.iter().any(|e| e.starts_with("HOME=")) {
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
                })
            })
            .unwrap_or_else(|| "/".into());
        out.push(format!("HOME={home}"));
    }
    out
}

/// Finds the program as execvp would, with the container's PATH, so a missing program is
/// a create error (as runc) rather than an exit status after start.
fn find_program(name: &str, env: &[String]) -> Result<CString, InitError> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        if !executable(&p) {
            return Err(InitError(format!("exec {name:?}: no such executable file")));
        }
        return cstring(name);
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if executable(&candidate) {
            return CString::new(candidate.as_os_str().as_bytes())
                .map_err(|_| InitError(format!("{candidate:?} contains a NUL byte")));
        }
    }
    Err(InitError(format!(
        "exec {name:?}: executable file not found in $PATH"
    )))
}
