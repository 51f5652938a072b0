//! The only module with `unsafe`: thin wrappers over syscalls that nix does not cover
//! (clone3, pidfds, close_range, keyctl, terminal ioctls, interface flags, signal
//! dispositions, the new mount API (open_tree, move_mount, mount_setattr, fsmount), personality, io priority, scheduler, `_exit`).
//!
//! Every wrapper returns `io::Result` and takes or returns owned/borrowed fds, never bare
//! integers that outlive the call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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
    args.exit_signal = libc::SIGCHLD as u64;
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
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sleeps on `pidfd` until its process exits (true: a pidfd polls readable then) or
/// `deadline` passes (false); no polling interval, and a signal does not end the wait.
pub fn pidfd_wait_exit(
    pidfd: BorrowedFd<'_>,
    deadline: Option<std::time::Instant>,
) -> io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                // Rounded up, so the wait never ends just short of the deadline.
                PollTimeout::try_from(left.as_millis() + 1).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut [PollFd::new(pidfd, PollFlags::POLLIN)], timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `sig` to the process a pidfd pins (no pid-reuse race).
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
    // SAFETY: TIOCSCTTY takes an integer argument.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Window size of a terminal: (rows, cols).
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    // SAFETY: winsize is plain integers; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((ws.ws_row, ws.ws_col))
}

pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the pointer is valid for the call; TIOCSWINSZ only reads it.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ends the process at once, without running destructors or atexit handlers: the only
/// correct way out of a cloned child that shares nothing it should flush.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Accepts a connection on `listener`, close-on-exec.
pub fn accept_cloexec(listener: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let fd = nix::sys::socket::accept4(
        listener.as_raw_fd(),
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: accept4 just installed `fd` in our table; nothing else knows it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The notify fd of the filter just loaded, owned: libseccomp hands out the descriptor the
/// load made and never closes it itself.
pub fn seccomp_notify_fd(
    filter: &libseccomp::ScmpFilterContext,
) -> Result<OwnedFd, libseccomp::error::SeccompError> {
    let fd = filter.get_notify_fd()?;
    // SAFETY: the descriptor was made by this process's seccomp load and is owned by no Rust
    // value; libseccomp keeps only the number.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// dup2 onto a fixed descriptor number (stdio for the container's terminal).
pub fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 only manipulates the fd table; `target` is one of stdio, which the
    // process owns and means to replace.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A detached, read-only bind mount of the single file at `path` (open_tree with
/// OPEN_TREE_CLONE, then mount_setattr MOUNT_ATTR_RDONLY). The mount is in no mount
/// namespace: it lives as long as the returned fd, or a process executing from it.
pub fn readonly_detached_clone(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: open_tree reads a NUL-terminated path that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    mount_setattr(tree.as_fd(), false, libc::MOUNT_ATTR_RDONLY, 0, 0)?;
    Ok(tree)
}

/// A detached copy (open_tree OPEN_TREE_CLONE) of the mount tree at the file `fd` refers
/// to, with its submounts when `recursive`: bound elsewhere with [`move_mount`], it is
/// exactly that object, whatever paths lead to it now.
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: the empty path is a valid NUL-terminated string; the fd is borrowed.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Attaches the detached mount `tree` on the file `target` refers to (move_mount with
/// both paths empty: no path is resolved).
pub fn move_mount(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are valid empty strings; the fds are borrowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
            &attr as *const libc::mount_attr,
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
    // SAFETY: statx is plain data, valid when zeroed.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the empty path is NUL-terminated, buf is a valid statx the kernel fills.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut buf,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if buf.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    Ok(buf.stx_mnt_id)
}

/// A new detached tmpfs mount with the MOUNT_ATTR_* bits `attrs` (fsopen, fsconfig
/// create, fsmount): a runtime-made empty directory to mask with.
pub fn detached_tmpfs(attrs: u64) -> io::Result<OwnedFd> {
    // SAFETY: fsopen reads a NUL-terminated name that outlives the call.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), libc::FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux argument.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain syscall with integer arguments.
    let mnt = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs,
        )
    };
    if mnt < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as RawFd) })
}

/// The peer of a pty master, opened by the kernel from the master itself (TIOCGPTPEER):
/// no /dev/pts path is resolved, so no symlink or mount can substitute another file.
pub fn pty_peer(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as an integer and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setdomainname(2): the NIS domain name of this process's uts namespace, set without a
/// path (/proc/sys/kernel/domainname could be redirected by a mount).
pub fn set_domainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`, which outlives the call.
    if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

/// Sets IFF_UP on `lo` in the calling thread's network namespace (SIOCGIFFLAGS/SIOCSIFFLAGS
/// on a datagram socket: no netlink round trip for one flag).
pub fn loopback_up() -> io::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
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
