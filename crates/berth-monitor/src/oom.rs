//! Whether the kernel OOM-killed a process of the container: the `oom_kill` counter of its
//! memory cgroup (cgroup v1 memory.oom_control, v2 memory.events), read once the container
//! is created and again after the init's exit, before the teardown removes the cgroup.

use std::path::{Path, PathBuf};

/// The counter's file and its value at the start.
pub struct OomCounter {
    file: PathBuf,
    at_start: u64,
}

impl OomCounter {
    /// The counter of the memory cgroup process `pid` is in; None without a memory controller.
    pub fn of(pid: i32) -> Option<OomCounter> {
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        // v1's memory hierarchy if it is mounted, else v2's with the memory controller.
        let v1 = cgroups.lines().find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then_some(path)
        });
        let v2 = cgroups.lines().find_map(|l| l.strip_prefix("0::"));
        let file = match v1 {
            Some(path) => mounted("cgroup", &mounts, path)?.join("memory.oom_control"),
            None => mounted("cgroup2", &mounts, v2?)?.join("memory.events"),
        };
        let at_start = count(&file)?;
        Some(OomCounter { file, at_start })
    }

    /// Whether a process was OOM-killed since the start.
    pub fn fired(&self) -> bool {
        count(&self.file).is_some_and(|n| n > self.at_start)
    }
}

/// Where cgroup `path` is, on the mount of `fstype` (for v1: the one with the memory
/// controller) whose root holds it.
fn mounted(fstype: &str, mountinfo: &str, path: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let (mount, sb) = l.split_once(" - ")?;
        let mut sb = sb.split(' ');
        let (ty, superopts) = (sb.next()?, sb.nth(1).unwrap_or_default());
        if ty != fstype || (fstype == "cgroup" && !superopts.split(',').any(|o| o == "memory")) {
            return None;
        }
        let mut f = mount.split(' ').skip(3);
        let root = berth_common::mountinfo::unescape(f.next()?);
        let point = PathBuf::from(berth_common::mountinfo::unescape(f.next()?));
        let rel = Path::new(path).strip_prefix(&root).ok()?;
        Some(point.join(rel))
    })
}

/// The `oom_kill N` line of a memory.oom_control or memory.events file.
fn count(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_hierarchy_is_found_by_type_and_controller() {
        let mounts = "\
30 24 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
31 24 0:27 / /sys/fs/cgroup/cpu rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
32 24 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
";
        assert_eq!(
            mounted("cgroup", mounts, "/berth/c1"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/berth/c1"))
        );
        assert_eq!(
            mounted("cgroup2", mounts, "/x"),
            Some(PathBuf::from("/sys/fs/cgroup/unified/x"))
        );
        assert_eq!(mounted("cgroup", "", "/x"), None);
    }
}
