//! `exec`: run another process in a running container. It joins every namespace of the
//! container through the init's pidfd and the container's cgroup (cloned straight into it on
//! a pure v2 host), and goes through the same
//! privilege-dropping path as the init (user, capabilities, no_new_privs, seccomp).

use std::os::fd::AsFd;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process};
use rustix::fs::{Mode, OFlags};
use rustix::thread::UnshareFlags;

use super::child::ChildGuard;
use super::run::{forwarded_signals, own_console, supervise};
use super::{init_pidfd, io, Error, Result};
use crate::init::tty;
use crate::init::{self, ExecArgs};
use crate::namespaces::NamespacePlan;
use crate::process::{Channel, ChannelError, ToChild, ToParent};
use crate::state::{self, StateRoot, Status};
use crate::steps::{step, timed};
use crate::sys::Cloned;

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
}

/// Returns the exit code (0 when detached).
pub fn exec(root: &StateRoot, opts: &ExecOptions) -> Result<i32> {
    crate::init::security::check_lsm(&opts.process).map_err(Error::Lsm)?;
    let dir = root.open(&opts.id)?;
    let state = dir.load()?;
    let status = dir.status(&state);
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::WrongStatus {
            id: opts.id.clone(),
            status,
            op: "exec",
        });
    }
    let init = init_pidfd(&state).ok_or_else(|| Error::WrongStatus {
        id: opts.id.clone(),
        status: Status::Stopped,
        op: "exec",
    })?;
    let terminal = opts.process.terminal().unwrap_or(false);
    let (ours, theirs) = own_console(opts.detach, opts.console_socket.is_some())?;
    let console = super::console_fd(
        terminal,
        theirs,
        opts.console_socket.as_deref(),
        "--tty with --detach needs --console-socket",
    )?;

    let plan = NamespacePlan::of(&state.config);
    let has = |t: LinuxNamespaceType| plan.is_own(t);
    // Without a mount namespace of its own the container's root is a chroot: the new
    // process takes the init's root. The pidfd opened above pins the pid, so this is the
    // init's /proc entry, not a recycled one.
    let root = if has(LinuxNamespaceType::Mount) {
        None
    } else {
        let path = format!("/proc/{}/root", state.pid);
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Some(
            rustix::fs::open(path.as_str(), flags, Mode::empty()).map_err(|source| {
                Error::OpenRoot {
                    path: path.clone(),
                    source,
                }
            })?,
        )
    };
    let profile = state
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone());
    let seccomp = profile
        .as_ref()
        .map(|p| super::seccomp_cache::compiled(dir.state_root(), p))
        .transpose()?;
    let manager = state.cgroup.clone().map(berth_cgroups::manager_from_paths);

    // Blocked before the process exists, so no signal meant for it can kill berth.
    let signals = if opts.detach {
        None
    } else {
        Some(forwarded_signals()?)
    };
    let (parent_chan, child_chan) = Channel::pair()?;
    // Read here, so the child, inside the container's mount namespace, inherits it.
    crate::init::security::supported_caps();
    let pidns = has(LinuxNamespaceType::Pid).then(|| init.as_fd());
    let cgroup_fd = super::clone_target(state.cgroup.as_ref())?;
    let clone_step = step("exec: clone the process");
    let cloned = super::clone_in_pid_ns(
        pidns,
        UnshareFlags::empty(),
        cgroup_fd.as_ref().map(|f| f.as_fd()),
    )?;
    let (cloned, in_cgroup) = cloned;
    let (pid, pidfd) = match cloned {
        Cloned::Child => {
            drop(parent_chan);
            dir.close_in_child();
            init::exec(ExecArgs {
                process: &opts.process,
                seccomp: seccomp.as_ref(),
                init_pidfd: init.as_fd(),
                namespaces: plan.setns_flags(),
                root: root.as_ref().map(|r| r.as_fd()),
                chan: child_chan,
                console,
                preserve_fds: opts.preserve_fds,
            })
        }
        Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    // Killed and reaped on any failure below, until it runs its program.
    let child = ChildGuard::new(pid, pidfd);
    drop(clone_step);
    let setup = step("exec: the process sets itself up and executes");
    drop(child_chan);
    drop(console);
    if let Some(m) = manager.as_ref().filter(|_| !in_cgroup) {
        timed("exec: move the process into the cgroup", || {
            m.add_process(pid)
        })?;
    }
    super::set_oom_score_adj(pid, &opts.process)?;
    parent_chan.send(&ToChild::Continue)?;
    let mut msg = parent_chan.recv::<ToParent>();
    if let Ok(ToParent::SeccompNotify) = msg {
        let oci = serde_json::to_value(super::oci_state(&state, status)).unwrap_or_default();
        super::forward_seccomp_fd(&parent_chan, profile.as_ref(), pid, oci)?;
        msg = parent_chan.recv::<ToParent>();
    }
    match msg {
        Ok(ToParent::Ready) => {}
        Ok(ToParent::Failed(msg)) => return Err(Error::InitFailed(msg)),
        Ok(other) => return Err(Error::Unexpected(format!("{other:?}"))),
        Err(e) => return Err(e.into()),
    }
    // The child's end is close-on-exec: EOF means its execve succeeded; a message, that
    // one of its last steps failed.
    match parent_chan.recv::<ToParent>() {
        Err(ChannelError::Closed) => {}
        Ok(ToParent::Failed(msg)) => return Err(Error::InitFailed(msg)),
        Ok(other) => return Err(Error::Unexpected(format!("{other:?}"))),
        Err(e) => return Err(e.into()),
    }
    drop(setup);
    if let Some(pid_file) = &opts.pid_file {
        // A caller that cannot learn the pid cannot manage the process: do not leave it running.
        state::write_atomic(pid_file, pid.to_string().as_bytes())?;
    }
    let master = match (&ours, terminal) {
        (Some(sock), true) => {
            Some(tty::recv_console(sock.as_fd()).map_err(io("receive the terminal"))?)
        }
        _ => None,
    };
    let pidfd = child.keep();
    drop(dir);
    if opts.detach {
        return Ok(0);
    }
    supervise(
        pid,
        &pidfd,
        master,
        signals.expect("set up unless detached"),
    )
}
