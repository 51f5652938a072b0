//! berth-image's one call that rustix does not offer: a file lease, to learn whether a file
//! is open anywhere else.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Whether the file `fd` refers to has no other open file description than `fd`, for reading
/// or writing, in any process: the kernel grants a write lease only then (fcntl(2),
/// F_SETLEASE; root holds CAP_LEASE). The lease is given back at once.
pub(crate) fn open_nowhere_else(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: F_SETLEASE takes an int and reads or writes no memory of this process.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) } == -1 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EBUSY) => Ok(false),
            _ => Err(e),
        };
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}
