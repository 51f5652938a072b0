//! `events`: statistics and OOM notifications of a container, as runc prints them.

use std::time::Duration;

use berth_cgroups::{Event, OomWatcher};

use super::{Error, Result};
use crate::state::{StateRoot, Status};

/// With `stats_once`, one stats event; otherwise stats every `interval` and an `oom`
/// event per OOM kill, until the container stops. Each event goes to `out`.
pub fn events(
    root: &StateRoot,
    id: &str,
    stats_once: bool,
    interval: Duration,
    out: &mut dyn FnMut(&Event),
) -> Result<()> {
    let paths = {
        let dir = root.open(id)?;
        let state = dir.load()?;
        let status = dir.status(&state);
        if status == Status::Stopped {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status,
                op: "read events of it",
            });
        }
        state.cgroup.ok_or_else(|| Error::NoCgroup {
            id: id.to_string(),
            what: "",
        })?
    };
    let mgr = berth_cgroups::manager_from_paths(paths);
    if stats_once {
        out(&Event::stats(id, mgr.stats()?));
        return Ok(());
    }
    let mut oom = OomWatcher::new(mgr.as_ref())?;
    loop {
        for _ in 0..oom.poll().unwrap_or(0) {
            out(&Event::oom(id));
        }
        match mgr.stats() {
            Ok(s) => out(&Event::stats(id, s)),
            // The cgroup went away with the container.
            Err(_) => return Ok(()),
        }
        std::thread::sleep(interval);
        let alive = root
            .open(id)
            .and_then(|d| d.load().map(|s| d.status(&s)))
            .is_ok_and(|s| s != Status::Stopped);
        if !alive {
            // An OOM kill of the init itself ends the container while we slept.
            for _ in 0..oom.poll().unwrap_or(0) {
                out(&Event::oom(id));
            }
            return Ok(());
        }
    }
}
