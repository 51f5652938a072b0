//! What runs inside the new container between clone and execve.
//!
//! The init is a fork-like copy of berth (single-threaded, so allocation is safe) that
//! joins and creates namespaces, builds the root, sets up the terminal, drops privileges,
//! reports `Ready`, and waits on the start socket until `start`. It never returns: it
//! either becomes the container's program or sends `Failed` and exits — to the parent
//! before `Ready`, to `start` after it.
//!
//! This file is create's init; `exec` is exec's child, `become_process` the tail both end
//! with, `rootfs` and `security` the steps, `error` the one error type they all return.

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_cgroups::CgroupPaths;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::thread::UnshareFlags;

use crate::namespaces::{self, NamespacePlan};
use crate::process::{Channel, StartSocket, ToParent};
use crate::sys;

mod become_process;
mod copyup;
mod error;
mod exec;
mod handshake;
pub mod procfs;
pub mod rootfs;
pub mod security;
mod shared_mnt;
pub mod tty;

use become_process::{become_process, StartWait};
pub use error::{Ctx, InitError};
pub use exec::{exec, ExecArgs};
use handshake::{container_hooks, expect_continue, with_own_pid, Placement};

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
    /// What is new, joined or shared; what the clone did not create the init unshares.
    pub plan: &'a NamespacePlan,
    /// linux.seccomp compiled by the parent (or taken from its cache).
    pub seccomp: Option<&'a security::CompiledFilter>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Run prestart/createRuntime hooks in the parent before entering the root.
    pub create_hooks: bool,
    /// Bind sources the parent opened (and idmapped), index by index with the mounts.
    pub sources: Vec<Option<rootfs::Source>>,
}

pub fn run(args: InitArgs) -> ! {
    let err = match setup_and_exec(&args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = args.chan.send(&ToParent::failed(&err.0));
    sys::exit_now(1)
}

fn setup_and_exec(a: &InitArgs) -> Result<Infallible, InitError> {
    // Named before create records the container as made; execve gives the program's name:
    // how `state` tells a created container from a running one (`state::INIT_NAME`).
    rustix::thread::set_name(crate::state::INIT_NAME).ctx(|| "name the init".into())?;
    // If berth dies before the container is fully created, so does the init.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .ctx(|| "set parent-death signal".into())?;
    // Until execve the init holds host state (the handshake socket, the start socket,
    // berth's own image): nothing in the container may ptrace it or open its /proc files,
    // even once its capabilities match the container's (CVE-2016-9962, CVE-2019-5736).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx(|| "set non-dumpable".into())?;
    let spec = a.spec;
    let linux = spec.linux().as_ref();
    let plan = a.plan;
    let new_ns = |t: LinuxNamespaceType| plan.is_new(t);

    // Joined namespaces first, the user namespace before the others (the plan's order):
    // what we create afterwards belongs to the joined user namespace.
    for (typ, path) in plan.joins() {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("open {typ} namespace {path:?}"))?;
        // Already in it (a pod sharing the host's uts namespace names the host's): nothing
        // to join, and setns would need privilege over its owner, which a joined user
        // namespace does not give.
        if already_in(fd.as_fd(), *typ) {
            continue;
        }
        // The declared type goes to setns, so the kernel refuses a file of another type.
        namespaces::setns(fd.as_fd(), namespaces::flag(*typ)).map_err(|e| match e {
            rustix::io::Errno::INVAL => InitError(format!(
                "join {typ} namespace {path:?}: not a {typ} namespace"
            )),
            e => InitError(format!("join {typ} namespace {path:?}: {e}")),
        })?;
    }
    let unshare_flags = plan.unshare_flags();
    if !unshare_flags.is_empty() {
        sys::unshare(unshare_flags).ctx(|| "create namespaces".into())?;
    }
    let new_userns = new_ns(LinuxNamespaceType::User);
    // New or joined: either way the init is root of it below.
    let in_userns = plan.is_own(LinuxNamespaceType::User);
    // A non-dumpable process's /proc files belong to root: a parent that is not root could
    // not write the id maps. Nothing of the container runs yet in this window.
    if new_userns {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::Dumpable)
            .ctx(|| "set dumpable for the id maps".into())?;
    }
    a.chan
        .send(&ToParent::NamespacesReady)
        .ctx(|| "report namespaces".into())?;
    // Hooks run in the container see the pid the container sees.
    let hook_state = expect_continue(&a.chan)?.map(with_own_pid);
    // The parent now joins the cgroup while the init builds the root.
    let mut placement = Placement::new(&a.chan);
    if new_userns {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .ctx(|| "set non-dumpable".into())?;
    }

    if in_userns {
        // The parent wrote (or, joined, checked) the maps: become the namespace's root;
        // host root is no id there, and files it made would fail with EOVERFLOW.
        let root_g = rustix::process::Gid::ROOT;
        let root_u = rustix::process::Uid::ROOT;
        rustix::thread::set_thread_res_gid(root_g, root_g, root_g)
            .ctx(|| "setgid 0 in user namespace".into())?;
        rustix::thread::set_thread_res_uid(root_u, root_u, root_u)
            .ctx(|| "setuid 0 in user namespace".into())?;
    }
    // Only now, inside its cgroup, may the init take a cgroup namespace rooted there.
    if new_ns(LinuxNamespaceType::Cgroup) {
        placement.wait()?;
        sys::unshare(UnshareFlags::NEWCGROUP).ctx(|| "create cgroup namespace".into())?;
    }
    if new_ns(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname() {
            rustix::system::sethostname(h.as_bytes()).ctx(|| format!("set hostname {h:?}"))?;
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

    let os: &dyn rootfs::Syscall = &rootfs::Host;
    // New or joined: the container's own mount namespace. Without one it shares the
    // caller's, where neither "/" nor the root may change, and the parent has bound the
    // rootfs onto itself for the mounts to go under (shared_mnt).
    let own_mount_ns = plan.is_own(LinuxNamespaceType::Mount);
    if own_mount_ns {
        rootfs::prepare(os, spec, a.rootfs)?;
    }
    rootfs::mount_all(
        os, spec, a.rootfs, a.bundle, a.cgroup, in_userns, &a.sources,
    )?;
    let hooks = spec.hooks().as_ref();
    let create_container = hooks
        .and_then(|h| h.create_container().as_ref())
        .filter(|h| !h.is_empty());
    if a.create_hooks || create_container.is_some() {
        placement.wait()?;
    }
    if a.create_hooks {
        a.chan
            .send(&ToParent::RunCreateHooks)
            .ctx(|| "request hooks".into())?;
        expect_continue(&a.chan)?;
    }
    container_hooks(
        "createContainer",
        create_container,
        hook_state.as_ref().unwrap_or(&Default::default()),
    )?;
    if own_mount_ns {
        rootfs::enter(os, a.rootfs, a.no_pivot)?;
    } else {
        shared_mnt::enter(os, a.rootfs)?;
    }
    rootfs::finish(os, spec, Path::new("/"))?;

    let process = spec.process().as_ref().expect("validated: process present");
    if let Some(console) = &a.console {
        tty::setup_init_console(console.as_fd(), process.console_size().as_ref())?;
    } else {
        // A session of its own, as runc's every init (setup_console makes one with the
        // terminal): CRIU refuses to checkpoint a container whose session leader is outside
        // it, and the container gets no signals meant for its caller's session.
        rustix::process::setsid().ctx(|| "setsid".into())?;
    }
    if !a.no_new_keyring {
        // EPERM/ENOSYS where keyrings are not allowed (e.g. a seccomp'd host): runc ignores it.
        let _ = sys::join_session_keyring(c"_ses.berth");
    }
    let start = StartWait {
        socket: &a.start,
        hooks: hooks
            .and_then(|h| h.start_container().clone())
            .unwrap_or_default(),
        state: hook_state.unwrap_or_default(),
    };
    let personality = linux.and_then(|l| l.personality().as_ref());
    if let Some(policy) = linux.and_then(|l| l.memory_policy().as_ref()) {
        security::apply_memory_policy(policy)?;
    }
    placement.wait()?;
    become_process(
        process,
        a.seccomp,
        personality,
        &a.chan,
        Some(start),
        a.preserve_fds,
    )
}

/// Whether `ns` is the namespace of that type this process is in (same nsfs inode).
fn already_in(ns: std::os::fd::BorrowedFd<'_>, typ: LinuxNamespaceType) -> bool {
    let own = std::fs::metadata(format!("/proc/self/ns/{}", namespaces::proc_name(typ)));
    let target = rustix::fs::fstat(ns);
    matches!((own, target), (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.st_dev, b.st_ino))
}

fn set_domainname(name: &str) -> Result<(), InitError> {
    sys::set_domainname(name).ctx(|| format!("set domainname {name:?}"))
}
