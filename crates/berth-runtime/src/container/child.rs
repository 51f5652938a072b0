//! A process berth cloned into a container (create's init, exec's process) until it is
//! handed over: a guard dropped on a failure path kills and reaps it, so no error return
//! leaves it running or a zombie.

use std::os::fd::{AsFd, OwnedFd};

use crate::sys;

pub(crate) struct ChildGuard {
    pid: i32,
    /// Taken by `keep`; present while the guard still owns the child.
    pidfd: Option<OwnedFd>,
}

impl ChildGuard {
    pub(crate) fn new(pid: i32, pidfd: OwnedFd) -> ChildGuard {
        ChildGuard {
            pid,
            pidfd: Some(pidfd),
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// Hands the child over: from here it is the caller's to wait for.
    pub(crate) fn keep(mut self) -> OwnedFd {
        self.pidfd.take().expect("kept once")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(pidfd) = self.pidfd.take() {
            // Best effort on a path that already fails: the error being returned says why.
            let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            let _ = rustix::process::waitpid(
                rustix::process::Pid::from_raw(self.pid),
                rustix::process::WaitOptions::empty(),
            );
        }
    }
}
