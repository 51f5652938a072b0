//! The container's namespaces, held from the start until the exit is recorded. When a
//! container's init exits, the kernel tears down the namespaces only it held (its mount
//! namespace: the whole tree unmounted, then an RCU grace period; its network, IPC, UTS and
//! cgroup namespaces) inside the exit, before the init's parent and its pidfd learn of it: on
//! `stop`'s critical path, 0.4 ms of the wait (bench/README.md, "Session 7: stop"). Held
//! here, that teardown happens when the monitor closes them, after the record `stop` waits
//! for and before the runtime container's teardown.

use std::os::fd::OwnedFd;

/// The kinds held: each one a container usually has of its own. Not the pid namespace: its
/// init's exit ends it (every process in it is killed), whoever holds it.
const KINDS: [&str; 5] = ["mnt", "net", "ipc", "uts", "cgroup"];

/// Open descriptors of a process's namespaces; dropping it lets them go.
pub struct Held(#[allow(dead_code)] Vec<OwnedFd>);

impl Held {
    /// The namespaces of `pid`, the monitor's child (its pid is not reused before the monitor
    /// reaps it). A kind that cannot be opened is left out: a process that has already
    /// exited has no namespaces left to hold, and a kernel without the kind has nothing to
    /// tear down; either way only the time saved is lost, never a resource.
    pub fn of(pid: i32) -> Held {
        let fds = KINDS
            .iter()
            .filter_map(|kind| std::fs::File::open(format!("/proc/{pid}/ns/{kind}")).ok())
            .map(OwnedFd::from)
            .collect();
        Held(fds)
    }
}
