//! `kill`: signal the init through a pidfd (no pid-reuse race), or with --all every
//! process of the container (runc: everything in its cgroup), and never a process that is
//! not the container's own.

use std::os::fd::{AsFd, OwnedFd};

use oci_spec::runtime::LinuxNamespaceType;

use rustix::process::{Pid, Signal};

use super::{init_pidfd, Error, Result};
use crate::state::{State, StateRoot, Status};
use crate::steps::step;

/// runc's forms: a number, or a name with or without "SIG", in any case.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::InvalidSignal(format!("{s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS
        .iter()
        .position(|n| *n == name)
        .map(|i| i as i32 + 1)
        .ok_or_else(|| Error::InvalidSignal(format!("{s:?}")))
}

/// The names of signals 1 to 31, in order (x86_64).
const SIGNALS: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

pub fn kill(root: &StateRoot, id: &str, signal: i32, all: bool) -> Result<()> {
    let dir = root.open(id)?;
    let state = dir.load()?;
    let status = dir.status(&state);
    if all {
        return kill_all(&state, signal);
    }
    // runc's words: containerd's shim matches on "container not running".
    let not_running = || Error::NotRunning(id.to_string());
    if status == Status::Stopped {
        return Err(not_running());
    }
    let pidfd = init_pidfd(&state).ok_or_else(not_running)?;
    crate::sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(|source| Error::Signal {
        signal,
        pid: state.pid,
        source,
    })
}

/// Signals every process of the container ([`own_pids`]); a frozen container is thawed
/// after, so the signal is delivered. SIGKILL to a cgroup that holds nothing but the
/// container's processes goes through `cgroup.kill` where the host has it (pure v2,
/// kernel ≥ 5.14): the kernel kills them all at once, forks racing the kill included.
pub(crate) fn kill_all(state: &State, signal: i32) -> Result<()> {
    let sig =
        Signal::from_named_raw(signal).ok_or_else(|| Error::InvalidSignal(signal.to_string()))?;
    let init = init_pidfd(state);
    let Some(paths) = &state.cgroup else {
        if let Some(pidfd) = &init {
            // The init by its pidfd; it may be exiting already.
            let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), signal);
        }
        return Ok(());
    };
    let mgr = berth_cgroups::manager_from_paths(paths.clone());
    let at_once = signal == libc::SIGKILL && whole_cgroup_is_own(state, &*mgr, init.as_ref()) && {
        let _step = step("kill: every process of the cgroup (cgroup.kill)");
        berth_cgroups::kill_all(paths)?
    };
    if !at_once {
        if let Some(pidfd) = &init {
            let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), signal);
        }
        for pid in own_pids(state, init.as_ref()) {
            // A process may exit between listing and signalling.
            if pid != state.pid {
                if let Some(pid) = Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, sig);
                }
            }
        }
    }
    if matches!(mgr.freezer_state(), Ok(berth_cgroups::FreezerState::Frozen)) {
        mgr.freeze(berth_cgroups::FreezerState::Thawed)?;
    }
    Ok(())
}

/// Whether every process in the container's cgroup is its own, so the whole cgroup may be
/// killed: it is not shared, and with a pid namespace of its own, each process in it is in
/// that namespace.
fn whole_cgroup_is_own(
    state: &State,
    mgr: &dyn berth_cgroups::Manager,
    init: Option<&OwnedFd>,
) -> bool {
    if is_shared(state, mgr) {
        return false;
    }
    if !has_own_pid_ns(state) {
        return true;
    }
    let Ok(pids) = mgr.pids() else {
        return false;
    };
    let all = pids.len();
    in_init_pid_ns(state, init, pids).len() == all
}

/// Whether the container has a pid namespace of its own (not joined by path).
pub(crate) fn has_own_pid_ns(state: &State) -> bool {
    crate::namespaces::NamespacePlan::of(&state.config).is_new(LinuxNamespaceType::Pid)
}

/// Whether the container's cgroup holds, or held, processes that are not its own: it held
/// some when the container was created, or a later create found this container's processes
/// in it and marked the cgroup.
pub(crate) fn is_shared(state: &State, mgr: &dyn berth_cgroups::Manager) -> bool {
    state.cgroup_shared || mgr.is_marked_shared()
}

/// The processes in the container's cgroup that are the container's own:
/// - with its own pid namespace, those in that namespace (none once the init is gone: the
///   kernel has killed the namespace), so nothing else in the cgroup is ever touched;
/// - without one, everything in the cgroup (runc's meaning), unless the cgroup is shared
///   ([`is_shared`]): then only the init, which the caller signals by its pidfd.
pub(crate) fn own_pids(state: &State, init: Option<&OwnedFd>) -> Vec<i32> {
    let Some(paths) = &state.cgroup else {
        return Vec::new();
    };
    let mgr = berth_cgroups::manager_from_paths(paths.clone());
    let pid_ns = has_own_pid_ns(state);
    if !pid_ns && is_shared(state, &*mgr) {
        return Vec::new();
    }
    let pids = match mgr.pids() {
        Ok(p) => p,
        // The cgroup is already gone: nothing left to signal.
        Err(_) => return Vec::new(),
    };
    if !pid_ns {
        return pids;
    }
    in_init_pid_ns(state, init, pids)
}

/// Those of `pids` in the pid namespace of the container's init (none once the init is
/// gone), read while the pidfd pins the init, so the namespace is the container's.
fn in_init_pid_ns(state: &State, init: Option<&OwnedFd>, pids: Vec<i32>) -> Vec<i32> {
    let ns_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(own) = init.and_then(|_| ns_of(state.pid)) else {
        return Vec::new();
    };
    pids.into_iter()
        .filter(|p| ns_of(*p).as_ref() == Some(&own))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("sigusr1").unwrap(), libc::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
    }
}
