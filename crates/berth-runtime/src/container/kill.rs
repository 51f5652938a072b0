//! `kill`: signal the init through a pidfd (no pid-reuse race), or with --all every
//! process in the container's cgroup.

use std::os::fd::AsFd;

use nix::sys::signal::Signal;

use super::{init_pidfd, Error, Result};
use crate::state::{StateRoot, Status};

/// runc's forms: a number, or a name with or without "SIG", in any case.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Invalid(format!("invalid signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| Error::Invalid(format!("invalid signal {s:?}")))
}

pub fn kill(root: &StateRoot, id: &str, signal: i32, all: bool) -> Result<()> {
    let dir = root.open(id)?;
    let state = dir.load()?;
    let status = dir.status(&state);
    if all {
        return kill_all(&state, signal);
    }
    if status == Status::Stopped {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status,
            op: "kill",
        });
    }
    let pidfd = init_pidfd(&state).ok_or_else(|| Error::WrongStatus {
        id: id.to_string(),
        status: Status::Stopped,
        op: "kill",
    })?;
    crate::sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(super::io(format!(
        "send signal {signal} to pid {}",
        state.pid
    )))
}

/// Signals every process in the container's cgroup; a frozen container is thawed after, so
/// the signal is delivered (SIGKILL works even while frozen).
pub(crate) fn kill_all(state: &crate::state::State, signal: i32) -> Result<()> {
    let Some(paths) = &state.cgroup else {
        return Ok(());
    };
    let mgr = berth_cgroups::manager_from_paths(paths.clone());
    let pids = match mgr.pids() {
        Ok(p) => p,
        // The cgroup is already gone: nothing left to signal.
        Err(_) => return Ok(()),
    };
    let sig =
        Signal::try_from(signal).map_err(|_| Error::Invalid(format!("invalid signal {signal}")))?;
    for pid in pids {
        // A process may exit between listing and signalling.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
    if matches!(mgr.freezer_state(), Ok(berth_cgroups::FreezerState::Frozen)) {
        mgr.freeze(berth_cgroups::FreezerState::Thawed)?;
    }
    Ok(())
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
