//! Terminals: the container's pty, created inside the container (its devpts instance) and
//! handed to whoever listens on the console socket with SCM_RIGHTS, as runc does.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

use crate::init::error::{Ctx, InitError};
use crate::sys;

/// Creates the pty, sends its master over `console`, and makes the slave the init's
/// controlling terminal and stdio.
pub fn setup_console(
    console: BorrowedFd<'_>,
    size: Option<&oci_spec::runtime::Box>,
) -> Result<(), InitError> {
    open_console(console, size).map(drop)
}

/// [`setup_console`] for a new container, which also gets its terminal as /dev/console.
pub fn setup_init_console(
    console: BorrowedFd<'_>,
    size: Option<&oci_spec::runtime::Box>,
) -> Result<(), InitError> {
    let slave = open_console(console, size)?;
    bind_console(slave.as_fd())
}

fn open_console(
    console: BorrowedFd<'_>,
    size: Option<&oci_spec::runtime::Box>,
) -> Result<OwnedFd, InitError> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .ctx(|| "open /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let slave_path = ptsname(&master, Vec::new()).ctx(|| "ptsname".into())?;
    // From the master itself: a /dev/pts path could be a symlink or a mount of the image's.
    let slave = sys::pty_peer(master.as_fd()).ctx(|| "open the pty's peer".into())?;
    if let Some(size) = size {
        sys::set_winsize(slave.as_fd(), size.height() as u16, size.width() as u16)
            .ctx(|| "set console size".into())?;
    }
    berth_common::fdpass::send_fds(console, slave_path.as_bytes(), &[master.as_fd()])
        .ctx(|| "send the console to the console socket".into())?;
    drop(master);
    rustix::process::setsid().ctx(|| "setsid".into())?;
    sys::set_controlling_terminal(slave.as_fd()).ctx(|| "set controlling terminal".into())?;
    for fd in 0..3 {
        sys::dup_onto(slave.as_fd(), fd).ctx(|| format!("dup console to fd {fd}"))?;
    }
    Ok(slave)
}

/// Binds the pty `slave` (the very file, through a detached copy of its mount) onto the
/// /dev/console file that rootfs::mount_all made, opened without following any symlink.
fn bind_console(slave: BorrowedFd<'_>) -> Result<(), InitError> {
    let target = openat2(
        CWD,
        "/dev/console",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS,
    )
    .ctx(|| "open /dev/console".into())?;
    let tree = sys::clone_tree(slave, false).ctx(|| "copy the console's mount".into())?;
    sys::move_mount(tree.as_fd(), target.as_fd()).ctx(|| "bind the console to /dev/console".into())
}

/// Receives a pty master sent with SCM_RIGHTS over a console socket.
pub fn recv_console(sock: BorrowedFd<'_>) -> std::io::Result<std::os::fd::OwnedFd> {
    let (_, fds) = berth_common::fdpass::recv_fds(sock, &mut [0u8; 256])?;
    fds.into_iter()
        .next()
        .ok_or_else(|| std::io::Error::other("the console socket carried no file descriptor"))
}
