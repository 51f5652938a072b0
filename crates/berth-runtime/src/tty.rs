//! Terminals: the container's pty, created inside the container (its devpts instance) and
//! handed to whoever listens on the console socket with SCM_RIGHTS, as runc does.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::init::{Ctx, InitError};
use crate::sys;

/// Creates the pty, sends its master over `console`, and makes the slave the init's
/// controlling terminal and stdio.
pub fn setup_console(
    console: BorrowedFd<'_>,
    size: Option<&oci_spec::runtime::Box>,
) -> Result<(), InitError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "open /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let slave_path = ptsname_r(&master).ctx(|| "ptsname".into())?;
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {slave_path}"))?;
    if let Some(size) = size {
        sys::set_winsize(slave.as_fd(), size.height() as u16, size.width() as u16)
            .ctx(|| "set console size".into())?;
    }
    let fds = [master.as_raw_fd()];
    let name = slave_path.as_bytes();
    sendmsg::<()>(
        console.as_raw_fd(),
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .ctx(|| "send the console to the console socket".into())?;
    drop(master);
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    sys::set_controlling_terminal(slave.as_fd()).ctx(|| "set controlling terminal".into())?;
    for fd in 0..3 {
        sys::dup_onto(slave.as_fd(), fd).ctx(|| format!("dup console to fd {fd}"))?;
    }
    Ok(())
}

/// Receives a pty master sent with SCM_RIGHTS over a console socket.
pub fn recv_console(sock: BorrowedFd<'_>) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::IoSliceMut;
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                return Ok(sys::own_fd(*fd));
            }
        }
    }
    Err(std::io::Error::other(
        "the console socket carried no file descriptor",
    ))
}
