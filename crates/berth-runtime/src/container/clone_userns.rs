//! The init's clone when a user namespace is joined by path and a pid namespace is new:
//! the pid namespace must belong to the joined user namespace (containerd 2.3's pods pin
//! one), or the container could never mount its /proc. A new pid namespace only takes
//! children, and berth itself cannot join the user namespace (it could not come back), so
//! a short-lived helper joins it and clones the init as berth's own child (CLONE_PARENT).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sched::{setns, CloneFlags};

use super::child::ChildGuard;
use super::{io, Result};
use crate::sys::{self, Cloned};

/// Clones the init with `flags` (CLONE_NEWPID among them) from inside the user namespace
/// at `userns`. In the parent: the init's pid and a pidfd (the init is this process's
/// child, so its pid cannot be reused before it is reaped here).
pub(crate) fn clone_in_user_ns(userns: &Path, flags: CloneFlags) -> Result<Cloned> {
    let ns = std::fs::File::open(userns)
        .map_err(io(format!("open user namespace {}", userns.display())))?;
    let (mut ours, mut theirs) = UnixStream::pair().map_err(io("socketpair"))?;
    match sys::clone3(0, None).map_err(io("clone the user namespace helper"))? {
        Cloned::Child => {
            drop(ours);
            let cloned = setns(ns.as_fd(), CloneFlags::CLONE_NEWUSER)
                .map_err(std::io::Error::from)
                .and_then(|()| sys::clone3(flags.bits() as u64 | libc::CLONE_PARENT as u64, None));
            let report = match cloned {
                Ok(Cloned::Child) => {
                    drop(theirs);
                    return Ok(Cloned::Child);
                }
                Ok(Cloned::Parent { pid, .. }) => pid,
                Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
            };
            let code = i32::from(theirs.write_all(&report.to_ne_bytes()).is_err());
            sys::exit_now(code)
        }
        Cloned::Parent { pid, pidfd } => {
            drop(theirs);
            // Reaped when dropped: it exits right after reporting.
            let _helper = ChildGuard::new(pid, pidfd);
            let mut buf = [0u8; 4];
            ours.read_exact(&mut buf)
                .map_err(io("read the init's pid from the user namespace helper"))?;
            let init = i32::from_ne_bytes(buf);
            if init <= 0 {
                let e = std::io::Error::from_raw_os_error(-init);
                return Err(io(format!(
                    "join user namespace {} and clone the init",
                    userns.display()
                ))(e));
            }
            let pidfd = sys::pidfd_open(init).map_err(io("pidfd of the init"))?;
            Ok(Cloned::Parent { pid: init, pidfd })
        }
    }
}
