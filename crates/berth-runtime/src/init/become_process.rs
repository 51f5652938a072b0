//! The common end of create's init and exec: fds, limits, cwd, identity, capabilities,
//! seccomp, `Ready`, the wait for `start` (create only), and execve.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxPersonality, Process};
use rustix::fs::{Mode, OFlags};

use super::error::{Ctx, InitError};
use super::handshake::container_hooks;
use super::{rootfs, security};
use crate::process::{Channel, StartSocket, ToParent};
use crate::sys;

/// The common end of create and exec: limits, cwd, identity, capabilities, seccomp,
/// `Ready`, the wait for `start` (create only), and execve.
pub(super) fn become_process(
    process: &Process,
    seccomp: Option<&security::CompiledFilter>,
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
    if let Some(umask) = process.user().umask() {
        rustix::process::umask(Mode::from_bits_truncate(umask));
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
    let notify = seccomp.is_some_and(|f| f.notifies());
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the
    // capabilities go. With it, load as late as possible.
    if !nnp {
        if let Some(f) = seccomp {
            load_filter(f, chan)?;
        }
    }
    security::drop_bounding(caps)?;
    security::switch_user(process.user())?;
    security::apply_caps(caps)?;
    if nnp {
        rustix::thread::set_no_new_privs(true).ctx(|| "set no_new_privs".into())?;
    }

    let argv: Vec<CString> = args.iter().map(|s| cstring(s)).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env.iter().map(|s| cstring(s)).collect::<Result<_, _>>()?;

    if nnp && notify {
        if let Some(f) = seccomp {
            load_filter(f, chan)?;
        }
    }

    // From here the process belongs to the container: berth's exit must not kill it.
    rustix::process::set_parent_process_death_signal(None)
        .ctx(|| "clear parent-death signal".into())?;
    chan.send(&ToParent::Ready).ctx(|| "report ready".into())?;
    // Past `Ready`, a failure goes to whoever waits for the program to run: `start`'s
    // connection (create), or the parent, which reads on after `Ready` (exec).
    let start_conn;
    let report = match start {
        Some(start) => {
            start_conn = start.socket.wait_start().ctx(|| "wait for start".into())?;
            if let Err(e) = container_hooks("startContainer", Some(&start.hooks), &start.state) {
                fail_after_ready(&start_conn, e)
            }
            &start_conn
        }
        None => chan,
    };
    let late_filter = seccomp.filter(|_| nnp && !notify);
    match exec_program(late_filter, &program, first, &argv, &envp) {
        Ok(never) => match never {},
        Err(e) => fail_after_ready(report, e),
    }
}

/// What create's init does between `Ready` and execve: wait for `start`, then run the
/// startContainer hooks.
pub(super) struct StartWait<'a> {
    pub(super) socket: &'a StartSocket,
    pub(super) hooks: Vec<oci_spec::runtime::Hook>,
    pub(super) state: oci_spec::runtime::State,
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
    late_filter: Option<&security::CompiledFilter>,
    program: &CString,
    first: &str,
    argv: &[CString],
    envp: &[CString],
) -> Result<Infallible, InitError> {
    // berth blocks the signals it forwards; the program starts with none blocked, and with
    // every disposition at its default: an ignored signal (Rust ignores SIGPIPE, a shell
    // may ignore SIGQUIT) would otherwise survive execve into the container.
    sys::SigSet::empty()
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
    let err = sys::execve(program, argv, envp);
    Err(InitError(format!("exec {first:?}: {err}")))
}

/// Loads the filter; a notifying one's fd goes to berth, then this process's copy is
/// closed: the container's program must not answer its own notifications.
fn load_filter(filter: &security::CompiledFilter, chan: &Channel) -> Result<(), InitError> {
    let fd = filter.load().ctx(|| "load seccomp filter".into())?;
    if let Some(fd) = fd {
        chan.send(&ToParent::SeccompNotify)
            .ctx(|| "report seccomp notify fd".into())?;
        chan.send_fd(fd.as_fd())
            .ctx(|| "send seccomp notify fd".into())?;
    }
    Ok(())
}

fn cstring(s: &str) -> Result<CString, InitError> {
    CString::new(s).map_err(|_| InitError(format!("{s:?} contains a NUL byte")))
}

/// Enters the configured cwd, resolved inside the container's root like a mount target
/// (openat2 RESOLVE_IN_ROOT, no magic links), then fchdir to what was resolved: neither
/// `..` nor a symlink nor /proc/self/fd/N (a leaked host fd, CVE-2024-21626) leads out.
fn enter_cwd(cwd: &Path) -> Result<(), InitError> {
    let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open("/", dir, Mode::empty()).ctx(|| "open / for cwd".into())?;
    let target = rootfs::open_in_root(root.as_fd(), cwd, dir)
        .ctx(|| format!("cwd {cwd:?}: resolve inside the container root"))?;
    rustix::process::fchdir(&target).ctx(|| format!("chdir to cwd {cwd:?}"))
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
        .unwrap_or(berth_common::DEFAULT_PATH);
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
