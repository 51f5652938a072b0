//! The only module with `unsafe`: thin wrappers over the syscalls rustix does not offer
//! safely (clone3, any-signal pidfd_send_signal, close_range, keyctl, mount_setattr,
//! interface flags, signal masks and dispositions, signalfd, execve, unshare, personality,
//! io priority, scheduler, `_exit`), and the few calls the runtime makes in its own terms
//! (pid numbers, terminal sizes, detached mounts), there made with rustix.
//!
//! Every wrapper reports failure as `io::Error` and takes or returns owned/borrowed fds,
//! never bare integers that outlive the call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::io::Errno;
use rustix::mount::{open_tree, MoveMountFlags, OpenTreeFlags};

/// What `clone3` returned in each process.
pub enum Cloned {
    Child,
    Parent { pid: i32, pidfd: OwnedFd },
}

/// `clone3` with fork semantics (no new stack): the child continues from this call on a
/// copy of the parent's memory. `flags` may carry CLONE_NEW* bits; a pidfd for the child is
/// always requested so the parent can signal and wait without pid-reuse races.
///
/// The caller must be single-threaded: the child gets only the calling thread.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Cloned> {
    let mut pidfd: libc::c_int = -1;
    let mut args: libc::clone_args = unsafe {
        // SAFETY: clone_args is a plain C struct of integers; all-zero is its documented
        // "nothing requested" value.
        std::mem::zeroed()
    };
    args.flags = flags | libc::CLONE_PIDFD as u64;
    args.pidfd = &mut pidfd as *mut libc::c_int as u64;
    // With CLONE_PARENT the kernel refuses an exit signal: the child takes the caller's
    // own (SIGCHLD for every process berth clones).
    if flags & libc::CLONE_PARENT as u64 == 0 {
        args.exit_signal = libc::SIGCHLD as u64;
    }
    if let Some(fd) = cgroup {
        // CLONE_INTO_CGROUP: the libc constant is deprecated for overflowing c_int.
        args.flags |= 0x2_0000_0000;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: args is a valid clone_args of the size passed; with stack = 0 clone3 behaves as
    // fork, so the child resumes here with its own copy of the address space. The pidfd
    // pointer stays valid for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent {
            pid: pid as i32,
            // SAFETY: the kernel wrote a fresh pidfd owned by nobody else.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// A pidfd for an existing process.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid).ok_or(Errno::INVAL)?;
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// Sleeps on `pidfd` until its process exits (true: a pidfd polls readable then) or
/// `deadline` passes (false); no polling interval, and a signal does not end the wait.
pub fn pidfd_wait_exit(
    pidfd: BorrowedFd<'_>,
    deadline: Option<std::time::Instant>,
) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                Some(Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: i64::MAX,
                    tv_nsec: 0,
                }))
            }
        };
        let mut fds = [PollFd::from_borrowed_fd(pidfd, PollFlags::IN)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `sig` to the process a pidfd pins (no pid-reuse race). Any number, as kill(1)
/// takes: rustix's `pidfd_send_signal` takes only the named signals (no SIGRTMIN+n).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2)".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Closes every fd >= `first` except those in `keep` (each close-on-exec already), so no
/// fd berth inherited or opened — the state dir it locks, the caller's files — is open
/// while the init changes directory or after execve (CVE-2024-21626). Fds below `first`
/// (stdio and preserved fds) stay open.
pub fn close_fds_except(first: u32, keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|fd| u32::try_from(*fd).ok())
        .filter(|fd| *fd >= first)
        .collect();
    keep.sort_unstable();
    let mut from = first;
    for k in keep.into_iter().chain([u32::MAX]) {
        if k > from {
            // SAFETY: plain syscall with integer arguments; the fds closed here are owned
            // by nothing in this process that is used or dropped afterwards (the caller's
            // contract: the init never returns, it execs or exits).
            let ret = unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0) };
            if ret < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        from = k.saturating_add(1);
    }
    Ok(())
}

/// Closes the descriptor `fd` borrows, in a process cloned from the one that owns it, where
/// that owner is never used or dropped again (the child execs or ends with [`exit_now`]):
/// the child's copy must not keep what the parent holds (a flock) alive.
pub fn close_in_clone(fd: BorrowedFd<'_>) {
    // SAFETY: close touches no memory; by the contract above nothing in this process uses
    // or closes the number again.
    unsafe { libc::close(fd.as_raw_fd()) };
}

/// Marks every fd >= `first` close-on-exec, so nothing of the host's reaches the
/// container's program (CVE-2024-21626) while fds below `first` (stdio and preserved fds)
/// stay open.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the process a fresh session keyring, so containers do not share the host's keys.
pub fn join_session_keyring(name: &std::ffi::CStr) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl reads a NUL-terminated string that outlives the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the terminal on `fd` the controlling terminal of this (session-leader) process.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::process::ioctl_tiocsctty(fd)?)
}

/// Window size of a terminal: (rows, cols).
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(fd)?;
    Ok((ws.ws_row, ws.ws_col))
}

pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    Ok(rustix::termios::tcsetwinsize(fd, ws)?)
}

/// Ends the process at once, without running destructors or atexit handlers: the only
/// correct way out of a cloned child that shares nothing it should flush.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

pub const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
pub const SECCOMP_FILTER_FLAG_LOG: u32 = 2;
pub const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 4;
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 8;
pub const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: u32 = 16;

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) for a BPF program of `struct sock_filter`
/// instructions (8 bytes each); the notify fd, owned, when `flags` asks for a listener.
pub fn seccomp_set_mode_filter(flags: u32, bpf: &[u8]) -> io::Result<Option<OwnedFd>> {
    if bpf.is_empty()
        || !bpf
            .len()
            .is_multiple_of(std::mem::size_of::<libc::sock_filter>())
    {
        return Err(io::Error::from(io::ErrorKind::InvalidData));
    }
    let len = bpf.len() / std::mem::size_of::<libc::sock_filter>();
    let prog = libc::sock_fprog {
        len: u16::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?,
        // The kernel copies the instructions during the call and only reads them.
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` instructions in `bpf`, alive for the call; the kernel
    // validates the program and copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = RawFd::try_from(ret).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: with NEW_LISTENER the syscall returned a new descriptor that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// dup2 onto a fixed descriptor number (stdio for the container's terminal).
pub fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    match target {
        0 => rustix::stdio::dup2_stdin(fd)?,
        1 => rustix::stdio::dup2_stdout(fd)?,
        2 => rustix::stdio::dup2_stderr(fd)?,
        _ => return Err(Errno::BADF.into()),
    }
    Ok(())
}

/// A detached, read-only bind mount of the single file at `path` (open_tree with
/// OPEN_TREE_CLONE, then mount_setattr MOUNT_ATTR_RDONLY). The mount is in no mount
/// namespace: it lives as long as the returned fd, or a process executing from it.
pub fn readonly_detached_clone(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let tree = open_tree(
        rustix::fs::CWD,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    mount_setattr(tree.as_fd(), false, libc::MOUNT_ATTR_RDONLY, 0, 0)?;
    Ok(tree)
}

/// A detached copy (open_tree OPEN_TREE_CLONE) of the mount tree at the file `fd` refers
/// to, with its submounts when `recursive`: bound elsewhere with [`move_mount`], it is
/// exactly that object, whatever paths lead to it now.
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    Ok(open_tree(fd, c"", flags)?)
}

/// Attaches the detached mount `tree` on the file `target` refers to (move_mount with
/// both paths empty: no path is resolved).
pub fn move_mount(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    let flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
    Ok(rustix::mount::move_mount(tree, c"", target, c"", flags)?)
}

/// mount_setattr(2) on the mount `fd` refers to (and every mount below it when
/// `recursive`): set and clear MOUNT_ATTR_* bits, and change propagation (0: keep it).
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    setattr(fd, recursive, &attr)
}

/// Makes the detached mount `fd` (and every mount below it when `recursive`) idmapped
/// through the user namespace `userns` (MOUNT_ATTR_IDMAP): files show and are written
/// with their ids mapped by that namespace's maps.
pub fn mount_setattr_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    setattr(fd, recursive, &attr)
}

fn setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &libc::mount_attr) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the empty path and attr are valid for the call; the size matches the struct.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The ID of the mount `fd` is on (statx STATX_MNT_ID), as /proc/self/mountinfo shows it.
pub fn mount_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    use rustix::fs::{statx, AtFlags, StatxFlags};
    let buf = statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)?;
    if buf.stx_mask & StatxFlags::MNT_ID.bits() == 0 {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    Ok(buf.stx_mnt_id)
}

/// A new detached tmpfs mount with the MOUNT_ATTR_* bits `attrs` (fsopen, fsconfig
/// create, fsmount): a runtime-made empty directory to mask with.
pub fn detached_tmpfs(attrs: u64) -> io::Result<OwnedFd> {
    use rustix::mount::{fsconfig_create, fsmount, fsopen, FsMountFlags, FsOpenFlags};
    let fs = fsopen(c"tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_create(&fs)?;
    let attrs = rustix::mount::MountAttrFlags::from_bits_retain(attrs as u32);
    Ok(fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
}

/// The peer of a pty master, opened by the kernel from the master itself (TIOCGPTPEER):
/// no /dev/pts path is resolved, so no symlink or mount can substitute another file.
pub fn pty_peer(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use rustix::pty::OpenptFlags;
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    Ok(rustix::pty::ioctl_tiocgptpeer(master, flags)?)
}

/// setdomainname(2): the NIS domain name of this process's uts namespace, set without a
/// path (/proc/sys/kernel/domainname could be redirected by a mount).
pub fn set_domainname(name: &str) -> io::Result<()> {
    Ok(rustix::system::setdomainname(name.as_bytes())?)
}

/// personality(2): the execution domain of this process and its children.
pub fn set_personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: personality takes an integer and touches no memory of ours.
    if unsafe { libc::personality(persona) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// set_mempolicy(2): the NUMA memory policy of this thread, inherited across fork and execve.
/// `nodes` is the nodemask; the kernel reads `max_node - 1` bits of it.
pub fn set_mempolicy(mode: i32, nodes: &[libc::c_ulong], max_node: u64) -> io::Result<()> {
    // SAFETY: the pointer and bit count describe `nodes`, which outlives the call.
    if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, nodes.as_ptr(), max_node) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0 = this process, class << 13 | level).
pub fn set_io_priority(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let value = (class << 13) | (level & 0x1fff);
    // SAFETY: plain syscall with integer arguments.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's struct sched_attr (first version, 48 bytes: no utilisation clamps).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// sched_setattr(2) for this thread (the whole process: it is single-threaded here).
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: the pointer is valid for the call and `size` says how much the kernel reads.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts `sig` back to its default action. Rust's runtime ignores SIGPIPE, and an ignored
/// signal stays ignored across execve: a program berth starts itself (not through
/// `std::process::Command`, which resets it) must get the default back first.
pub fn default_signal_action(sig: i32) -> io::Result<()> {
    // SAFETY: SIG_DFL installs no handler, so no Rust code can run from signal context.
    if unsafe { libc::signal(sig, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ignores `sig`: for SIGPIPE, a write to a closed pipe or socket fails with EPIPE instead
/// of killing berth.
pub fn ignore_signal(sig: i32) -> io::Result<()> {
    // SAFETY: SIG_IGN installs no handler, so no Rust code can run from signal context.
    if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Which of fds 0, 1 and 2 are closed, in one poll(2) (the check Rust's runtime makes).
pub fn closed_std_fds() -> io::Result<[bool; 3]> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: the array is valid for the call, and its length is passed with it; poll only
    // reports on the numbers, it takes no ownership of them.
    if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fds.map(|p| p.revents & libc::POLLNVAL != 0))
}

/// Gives `sig` a handler that does nothing. A pid namespace's init gets no signal from outside
/// the namespace whose action is the default: an init that takes signals through a signalfd
/// (with them blocked) must install a handler first, or `kill` from the host never reaches it.
pub fn catch_signal(sig: i32) -> io::Result<()> {
    extern "C" fn ignore(_: libc::c_int) {}
    // SAFETY: the handler touches nothing, so it is async-signal-safe.
    if unsafe { libc::signal(sig, ignore as *const () as libc::sighandler_t) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace (SIOCGIFFLAGS/SIOCSIFFLAGS
/// on a datagram socket: no netlink round trip for one flag).
pub fn loopback_up() -> io::Result<()> {
    use rustix::net::{socket_with, AddressFamily, SocketFlags, SocketType};
    let sock = socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain integers and arrays; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: the pointer is valid for the call; SIOCGIFFLAGS fills ifr_flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS just wrote the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: the pointer is valid for the call; SIOCSIFFLAGS only reads it.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// unshare(2) for this process. rustix marks it unsafe for a multi-threaded caller (CLONE_FS
/// or CLONE_FILES change state other threads share); the init that calls it is one thread.
pub fn unshare(flags: rustix::thread::UnshareFlags) -> io::Result<()> {
    // SAFETY: the caller (the container's init, or a forked child) is single-threaded: no
    // other thread shares the fs or fd-table state unshare may change.
    Ok(unsafe { rustix::thread::unshare_unsafe(flags) }?)
}

/// A set of signal numbers (sigset_t).
pub struct SigSet(libc::sigset_t);

impl SigSet {
    /// No signal.
    pub fn empty() -> SigSet {
        // SAFETY: sigset_t is plain integers; all-zero is the empty set on Linux.
        SigSet(unsafe { std::mem::zeroed() })
    }

    /// Every signal.
    pub fn all() -> SigSet {
        let mut set = SigSet::empty();
        // SAFETY: the pointer is to a valid sigset_t, which sigfillset only writes.
        unsafe { libc::sigfillset(&mut set.0) };
        set
    }

    pub fn remove(&mut self, sig: i32) {
        // SAFETY: the pointer is to a valid sigset_t; an invalid number is refused (EINVAL)
        // without touching it.
        unsafe { libc::sigdelset(&mut self.0, sig) };
    }

    /// Adds these signals to the calling thread's blocked set.
    pub fn thread_block(&self) -> io::Result<()> {
        self.thread_mask(libc::SIG_BLOCK)
    }

    /// Makes this set the calling thread's blocked set.
    pub fn thread_set_mask(&self) -> io::Result<()> {
        self.thread_mask(libc::SIG_SETMASK)
    }

    fn thread_mask(&self, how: libc::c_int) -> io::Result<()> {
        // SAFETY: the set is valid for the call; a null old set asks for nothing back.
        let ret = unsafe { libc::pthread_sigmask(how, &self.0, std::ptr::null_mut()) };
        if ret != 0 {
            return Err(io::Error::from_raw_os_error(ret));
        }
        Ok(())
    }
}

/// A signalfd (close-on-exec) receiving the signals of a set, which the caller blocks.
pub struct SignalFd(OwnedFd);

impl SignalFd {
    pub fn new(mask: &SigSet) -> io::Result<SignalFd> {
        // SAFETY: -1 asks for a new descriptor; the mask is valid for the call.
        let fd = unsafe { libc::signalfd(-1, &mask.0, libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: signalfd just made `fd`; nothing else owns it.
        Ok(SignalFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The number of the next pending signal (blocks until one is).
    pub fn read_signal(&self) -> io::Result<i32> {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        let n = rustix::io::read(&self.0, &mut info)?;
        // ssi_signo is the record's first field.
        match info.get(..4).filter(|_| n == info.len()) {
            Some(signo) => Ok(i32::from_ne_bytes([signo[0], signo[1], signo[2], signo[3]])),
            None => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
        }
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// NULL-terminated pointer array for execve: valid as long as `strings` is.
fn exec_array(strings: &[std::ffi::CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain([std::ptr::null()])
        .collect()
}

/// execve(2): returns only on failure, with the error.
pub fn execve(
    program: &std::ffi::CStr,
    argv: &[std::ffi::CString],
    envp: &[std::ffi::CString],
) -> io::Error {
    let (argv, envp) = (exec_array(argv), exec_array(envp));
    // SAFETY: every pointer is to a NUL-terminated string that outlives the call, and both
    // arrays end with NULL.
    unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// execveat(program, "", argv, envp, AT_EMPTY_PATH): runs the file the descriptor is
/// open on, with no path resolved. Returns only on failure, with the error.
pub fn execveat(
    program: BorrowedFd<'_>,
    argv: &[std::ffi::CString],
    envp: &[std::ffi::CString],
) -> io::Error {
    let (argv, envp) = (exec_array(argv), exec_array(envp));
    // SAFETY: the fd is borrowed, the path is an empty NUL-terminated string, every pointer
    // is to a NUL-terminated string that outlives the call, and both arrays end with NULL.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            program.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}
