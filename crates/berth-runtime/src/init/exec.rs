//! The container side of `exec`: join the running container, then become its process.

use std::convert::Infallible;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use oci_spec::runtime::Process;
use rustix::process::{chroot, fchdir};
use rustix::thread::UnshareFlags;

use super::become_process::become_process;
use super::error::{Ctx, InitError};
use super::handshake::expect_continue;
use super::tty;
use crate::process::{Channel, ToParent};
use crate::sys;

/// The container side of `exec`: join every namespace of the running container through
/// its init's pidfd (the pid namespace was joined by the parent before the clone).
pub struct ExecArgs<'a> {
    pub process: &'a Process,
    pub seccomp: Option<&'a super::security::CompiledFilter>,
    pub init_pidfd: BorrowedFd<'a>,
    pub namespaces: UnshareFlags,
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
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .ctx(|| "set parent-death signal".into())?;
    // Until execve this process holds host state: nothing in the container may ptrace it
    // or open its /proc files (CVE-2016-9962).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx(|| "set non-dumpable".into())?;
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
        crate::namespaces::setns(a.init_pidfd, a.namespaces)
            .ctx(|| "join the container's namespaces".into())?;
    }
    if a.namespaces.contains(UnshareFlags::NEWUSER) {
        let g = rustix::process::Gid::ROOT;
        let u = rustix::process::Uid::ROOT;
        rustix::thread::set_thread_res_gid(g, g, g).ctx(|| "setgid 0 in user namespace".into())?;
        rustix::thread::set_thread_res_uid(u, u, u).ctx(|| "setuid 0 in user namespace".into())?;
    }
    if let Some(console) = &a.console {
        tty::setup_console(console.as_fd(), a.process.console_size().as_ref())?;
    }
    become_process(a.process, a.seccomp, None, &a.chan, None, a.preserve_fds)
}
