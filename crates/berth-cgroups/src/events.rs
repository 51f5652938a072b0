//! `events` lines (runc's `{"type":..,"id":..,"data":..}`) and [`MemoryWatch`], the watch on
//! a container's memory events that produces the `oom` and `memory-pressure` ones.
//!
//! On cgroup v2 the watch sleeps in poll(2) on an inotify descriptor: the kernel reports
//! memory.events and cgroup.events as modified when one of their counters changes or the
//! cgroup empties (cgroup-v2.rst, "modified events"), so an OOM kill is reported when it
//! happens, not at the next stats interval. On v1 it reads memory.oom_control's `oom_kill`
//! counter each time it wakes, as before.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::inotify;
use serde::{Deserialize, Serialize};

use crate::{fs, CgroupError, CgroupPaths, Result, Stats};

/// One line of `events` output: `{"type":"stats"|"oom"|"memory-pressure","id":..,"data":..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<EventData>,
}

/// The data of a `stats` event (runc's) or of a `memory-pressure` event (berth's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventData {
    Stats(Box<Stats>),
    Memory(MemoryEvents),
}

impl Event {
    pub fn stats(id: &str, stats: Stats) -> Event {
        Event {
            kind: "stats".into(),
            id: id.into(),
            data: Some(EventData::Stats(Box::new(stats))),
        }
    }

    /// One OOM kill (runc prints no data).
    pub fn oom(id: &str) -> Event {
        Event {
            kind: "oom".into(),
            id: id.into(),
            data: None,
        }
    }

    /// The container's memory came under pressure: `data` holds the memory.events counters.
    pub fn memory_pressure(id: &str, counters: MemoryEvents) -> Event {
        Event {
            kind: "memory-pressure".into(),
            id: id.into(),
            data: Some(EventData::Memory(counters)),
        }
    }
}

/// memory.events (v2): how often, since the cgroup was made, it was reclaimed below
/// memory.low, throttled above memory.high, hit memory.max, went OOM, had a process OOM-killed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEvents {
    pub low: u64,
    pub high: u64,
    pub max: u64,
    pub oom: u64,
    pub oom_kill: u64,
}

impl MemoryEvents {
    fn parse(text: &str) -> MemoryEvents {
        let kv = fs::parse_keyed(text);
        let get = |k| fs::keyed_get(&kv, k).unwrap_or(0);
        MemoryEvents {
            low: get("low"),
            high: get("high"),
            max: get("max"),
            oom: get("oom"),
            oom_kill: get("oom_kill"),
        }
    }

    fn under_more_pressure_than(&self, before: &MemoryEvents) -> bool {
        self.low > before.low || self.high > before.high || self.max > before.max
    }
}

/// What changed since the previous look.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// OOM kills since then: one `oom` event each.
    pub oom_kills: u64,
    /// The counters, when low, high or max rose (v2 only).
    pub pressure: Option<MemoryEvents>,
    /// The cgroup holds no process any more (v2: cgroup.events `populated 0`), or is gone.
    pub emptied: bool,
}

/// Watches one container's memory events; see the module doc.
pub struct MemoryWatch {
    dir: PathBuf,
    /// v2: the inotify descriptor watching memory.events and cgroup.events.
    notify: Option<OwnedFd>,
    seen: MemoryEvents,
}

impl MemoryWatch {
    /// The watch on the hierarchy holding the memory controller of `paths`.
    pub fn new(paths: &CgroupPaths) -> Result<MemoryWatch> {
        let (dir, notify) = match (paths.dir_for("memory"), paths.unified_dir()) {
            (Some(v1), _) => (v1.to_path_buf(), None),
            (None, Some(u)) if fs::exists(u, "memory.events") => {
                (u.to_path_buf(), Some(watch_v2(u)?))
            }
            _ => {
                return Err(CgroupError::Unsupported(
                    "memory events (no memory controller for the container)".into(),
                ))
            }
        };
        let mut w = MemoryWatch {
            dir,
            notify,
            seen: MemoryEvents::default(),
        };
        w.seen = w.read()?;
        Ok(w)
    }

    /// Whether changes wake [`MemoryWatch::wait`] (v2) or only its timeout does (v1).
    pub fn is_notified(&self) -> bool {
        self.notify.is_some()
    }

    /// Sleeps until the kernel reports a change (v2) or `timeout` has passed, then returns
    /// what changed.
    pub fn wait(&mut self, timeout: Duration) -> Result<Changes> {
        match &self.notify {
            Some(fd) => wait_readable(fd, timeout)
                .map_err(|e| fs::io_err("wait for memory events", &self.dir, e.into()))?,
            None => std::thread::sleep(timeout),
        }
        self.poll()
    }

    /// What changed since the previous look, without waiting.
    pub fn poll(&mut self) -> Result<Changes> {
        if let Some(fd) = &self.notify {
            drain(fd);
        }
        let now = match self.read() {
            Ok(now) => now,
            // Removed with the container: gone (ENOENT), or being removed while read (ENODEV).
            Err(CgroupError::Io(e))
                if e.source.kind() == std::io::ErrorKind::NotFound
                    || e.source.raw_os_error() == Some(rustix::io::Errno::NODEV.raw_os_error()) =>
            {
                return Ok(Changes {
                    emptied: true,
                    ..Changes::default()
                })
            }
            Err(e) => return Err(e),
        };
        let changes = Changes {
            oom_kills: now.oom_kill.saturating_sub(self.seen.oom_kill),
            pressure: now
                .under_more_pressure_than(&self.seen)
                .then(|| now.clone()),
            emptied: self.notify.is_some() && !populated(&self.dir),
        };
        self.seen = now;
        Ok(changes)
    }

    fn read(&self) -> Result<MemoryEvents> {
        if self.notify.is_some() {
            return Ok(MemoryEvents::parse(&fs::read(&self.dir, "memory.events")?));
        }
        let oom_kill = fs::keyed_get(
            &fs::read_keyed(&self.dir, "memory.oom_control")?,
            "oom_kill",
        );
        Ok(MemoryEvents {
            oom_kill: oom_kill.unwrap_or(0),
            ..MemoryEvents::default()
        })
    }
}

/// An inotify descriptor (non-blocking, so draining it never sleeps) watching the two files
/// whose changes the kernel announces.
fn watch_v2(dir: &Path) -> Result<OwnedFd> {
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
        .map_err(|e| fs::io_err("inotify_init", dir, e.into()))?;
    for file in ["memory.events", "cgroup.events"] {
        let path = dir.join(file);
        inotify::add_watch(&fd, &path, inotify::WatchFlags::MODIFY)
            .map_err(|e| fs::io_err("watch", &path, e.into()))?;
    }
    Ok(fd)
}

/// poll(2) until `fd` is readable or `timeout` has passed; a signal does not end the wait.
fn wait_readable(fd: &OwnedFd, timeout: Duration) -> rustix::io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads the pending inotify events away: which file changed does not matter, both are
/// read again.
fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 1024];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// cgroup.events `populated`; a cgroup that cannot be read counts as empty.
fn populated(dir: &Path) -> bool {
    fs::read_keyed(dir, "cgroup.events")
        .ok()
        .and_then(|kv| fs::keyed_get(&kv, "populated"))
        .is_some_and(|p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LayoutKind;

    #[test]
    fn event_lines_match_runc_and_name_the_counters() {
        let oom = serde_json::to_string(&Event::oom("c1")).unwrap();
        assert_eq!(oom, r#"{"type":"oom","id":"c1"}"#);
        let p = Event::memory_pressure(
            "c1",
            MemoryEvents::parse("low 0\nhigh 7\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n"),
        );
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "memory-pressure");
        assert_eq!(v["data"]["high"], 7);
        assert_eq!(v["data"]["oom_kill"], 1);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }

    /// The v2 watch on a fixture tree (inotify works on any filesystem): writes wake it,
    /// counters turn into changes once each.
    #[test]
    fn v2_watch_wakes_on_a_write_and_counts_each_kill_once() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let counters = |high: u64, kills: u64| {
            format!("low 0\nhigh {high}\nmax 0\noom {kills}\noom_kill {kills}\n")
        };
        std::fs::write(d.join("memory.events"), counters(0, 0)).unwrap();
        std::fs::write(d.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        let paths = CgroupPaths {
            layout: LayoutKind::V2,
            dirs: vec![(String::new(), d.to_path_buf())],
            created: Vec::new(),
            systemd_unit: None,
        };
        let mut w = MemoryWatch::new(&paths).unwrap();
        assert!(w.is_notified());
        assert_eq!(w.poll().unwrap(), Changes::default());
        let writer = {
            let d = d.to_path_buf();
            let c = counters(3, 2);
            std::thread::spawn(move || std::fs::write(d.join("memory.events"), c).unwrap())
        };
        // Woken by the write (the timeout is far longer than any test run).
        let mut got = w.wait(Duration::from_secs(3600)).unwrap();
        writer.join().unwrap();
        if got == Changes::default() {
            // Woken by the open before the write landed: the write's own event follows.
            got = w.wait(Duration::from_secs(3600)).unwrap();
        }
        assert_eq!(got.oom_kills, 2);
        assert_eq!(got.pressure.map(|p| p.high), Some(3));
        assert!(!got.emptied);
        std::fs::write(d.join("cgroup.events"), "populated 0\nfrozen 0\n").unwrap();
        let got = w.wait(Duration::from_secs(3600)).unwrap();
        assert_eq!((got.oom_kills, got.emptied), (0, true));
    }
}
