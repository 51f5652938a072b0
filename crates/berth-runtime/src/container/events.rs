//! `events`: statistics, OOM and memory-pressure notifications of a container, as JSON
//! lines in runc's shape.

use std::time::{Duration, Instant};

use berth_cgroups::{Changes, Event, MemoryWatch};

use super::{Error, Result};
use crate::state::{StateRoot, Status};

/// With `stats_once`, one stats event; otherwise stats every `interval`, an `oom` event
/// per OOM kill and a `memory-pressure` event when memory.events' low, high or max count
/// rises (v2), until the container stops. On v2 those come from the kernel's change
/// notifications on memory.events (berth-cgroups `MemoryWatch`), on v1 at each interval.
/// Each event goes to `out`.
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
    let mut memory = MemoryWatch::new(mgr.paths())?;
    let mut next_stats = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_stats {
            match mgr.stats() {
                Ok(s) => out(&Event::stats(id, s)),
                // The cgroup went away with the container.
                Err(_) => return Ok(()),
            }
            next_stats = now + interval;
        }
        // On v2 the kernel wakes this at once when memory.events or cgroup.events changes.
        let changes = memory.wait(next_stats.saturating_duration_since(Instant::now()))?;
        let emptied = changes.emptied;
        report(id, changes, out);
        let alive = root
            .open(id)
            .and_then(|d| d.load().map(|s| d.status(&s)))
            .is_ok_and(|s| s != Status::Stopped);
        if !alive || emptied {
            // An OOM kill of the init itself ends the container: count what came with it.
            report(id, memory.poll()?, out);
            return Ok(());
        }
    }
}

/// One `oom` event per OOM kill, one `memory-pressure` event for risen counters.
fn report(id: &str, c: Changes, out: &mut dyn FnMut(&Event)) {
    for _ in 0..c.oom_kills {
        out(&Event::oom(id));
    }
    if let Some(counters) = c.pressure {
        out(&Event::memory_pressure(id, counters));
    }
}
