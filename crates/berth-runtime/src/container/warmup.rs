//! The cgroup warm-up of `create` on a v1 or hybrid host.
//!
//! Moving the init into its cgroup is a write of cgroup.procs, and the kernel's cgroup write
//! lock (cgroup_threadgroup_rwsem) makes its first taker after a quiet while wait for an RCU
//! grace period: 3–20 ms on this kind of machine, the largest single cost of a create (bench/
//! README.md, session 5). A helper process cloned as create begins takes that wait instead:
//! it writes "0" into its own cgroup.procs (it moves itself where it already is) while create
//! loads the bundle, claims the ID, makes the cgroup and clones the init. The kernel keeps
//! the lock's slow mode for one more grace period after its last writer, so by the time the
//! init is moved the wait is over or shorter. On a pure v2 host the init is cloned into its
//! cgroup (no write, no wait) and there is no helper.

use std::os::fd::OwnedFd;

use berth_cgroups::{Host, Layout};
use rustix::process::{waitpid, Pid, WaitOptions};

use crate::sys::{self, Cloned};

/// The helper, reaped when dropped.
pub(crate) struct Warmup {
    pid: Pid,
    _pidfd: OwnedFd,
}

impl Warmup {
    /// Starts the helper. None on a pure v2 host (one statfs tells) or if the clone fails:
    /// only speed depends on it, so it never fails a create.
    pub(crate) fn start() -> Option<Warmup> {
        let fs = rustix::fs::statfs("/sys/fs/cgroup").ok()?;
        if fs.f_type == CGROUP2_SUPER_MAGIC {
            return None;
        }
        match sys::clone3(0, None).ok()? {
            Cloned::Child => {
                // Single-threaded copy of create: the layout is read here, off create's path.
                let host = Host::default();
                if let Ok(Some(procs)) = Layout::detect(&host).and_then(|l| l.own_v1_procs(&host))
                {
                    let _ = std::fs::OpenOptions::new()
                        .write(true)
                        .open(procs)
                        .and_then(|mut f| std::io::Write::write_all(&mut f, b"0"));
                }
                sys::exit_now(0)
            }
            Cloned::Parent { pid, pidfd } => Some(Warmup {
                pid: Pid::from_raw(pid)?,
                _pidfd: pidfd,
            }),
        }
    }
}

impl Drop for Warmup {
    fn drop(&mut self) {
        let _ = waitpid(Some(self.pid), WaitOptions::empty());
    }
}

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
