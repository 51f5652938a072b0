//! What a pod leaves on the host, read from /proc and the cgroup filesystems.

use std::fs;
use std::path::{Path, PathBuf};

/// Pids whose command line contains `needle` (e.g. the shims started with our socket address).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// One /proc/self/mountinfo line: (mount point, filesystem type, super options).
struct MountEntry {
    target: PathBuf,
    fstype: String,
    super_opts: String,
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mountinfo() -> Vec<MountEntry> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let target = unescape(pre.split(' ').nth(4)?);
            let mut post = post.split(' ');
            let fstype = post.next()?.to_string();
            let super_opts = post.nth(1)?.to_string();
            Some(MountEntry {
                target: target.into(),
                fstype,
                super_opts,
            })
        })
        .collect()
}

/// Mount points at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    mountinfo()
        .into_iter()
        .map(|m| m.target)
        .filter(|t| t.starts_with(dir))
        .collect()
}

/// Whether `path` is a mount point (a pinned network namespace is an nsfs bind mount).
pub fn is_mount_point(path: &Path) -> bool {
    mountinfo().iter().any(|m| m.target == path)
}

fn cgroup_mounts() -> Vec<MountEntry> {
    mountinfo()
        .into_iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .collect()
}

/// Directories in every cgroup hierarchy whose name contains one of `ids`.
pub fn cgroups_named(ids: &[String]) -> Vec<PathBuf> {
    fn walk(dir: &Path, ids: &[String], found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            let name = entry.file_name();
            if ids
                .iter()
                .any(|id| name.to_string_lossy().contains(id.as_str()))
            {
                found.push(path.clone());
            }
            walk(&path, ids, found);
        }
    }
    let mut found = Vec::new();
    for m in cgroup_mounts() {
        walk(&m.target, ids, &mut found);
    }
    found
}

/// The pods' cgroup parent in each hierarchy where it exists. A cgroupfs parent is a path from
/// the hierarchy's root; a systemd slice without dashes sits at the root.
pub fn cgroup_parent_dirs(parent: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|m| m.target.join(parent.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// Child cgroups left under the pods' parent.
pub fn cgroup_parent_children(parent: &str) -> Vec<PathBuf> {
    cgroup_parent_dirs(parent)
        .iter()
        .flat_map(|dir| fs::read_dir(dir).into_iter().flatten().flatten())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Removes the pods' cgroup parent and whatever is below it: kills the processes left there
/// (the cgroups are the runtime's, made for this instance's pods), then removes the
/// directories deepest first. Best effort: for cleanup after a failure.
pub fn remove_cgroup_parent(parent: &str) {
    fn subtree(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                subtree(&entry.path(), out);
            }
        }
        out.push(dir.to_path_buf());
    }
    if parent.ends_with(".slice") {
        let _ = crate::util::run("systemctl", &["stop", parent]);
    }
    let mut dirs = Vec::new();
    for dir in cgroup_parent_dirs(parent) {
        subtree(&dir, &mut dirs);
    }
    for dir in &dirs {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace() {
            let _ = crate::util::run("kill", &["-KILL", pid]);
        }
    }
    // A killed process leaves its cgroup when it has exited: retry for a bounded while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for dir in &dirs {
        while fs::remove_dir(dir).is_err() && dir.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Where libcni caches each attachment's result (containerd 1.6 does not move it).
pub const CNI_CACHE: &str = "/var/lib/cni/results";

/// Removes the pod network namespaces of CNI network `network` and libcni's cache entries for
/// them, found through that cache (each result names its netns as an interface's `sandbox`).
/// Best effort: for cleanup after a failure, when containerd could not tear the pods down.
pub fn remove_pod_networks(network: &str) {
    let prefix = format!("{network}-");
    for entry in fs::read_dir(CNI_CACHE).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let cached: serde_json::Value = fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let interfaces = cached["result"]["interfaces"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for netns in interfaces.iter().filter_map(|i| i["sandbox"].as_str()) {
            let ours =
                netns.starts_with("/var/run/netns/cni-") || netns.starts_with("/run/netns/cni-");
            if ours && crate::util::run("umount", &[netns]).is_ok() {
                let _ = fs::remove_file(netns);
            }
        }
        // "<network>-<sandbox ID>-<ifname>", and the loopback's "cni-loopback-<sandbox ID>-lo".
        if let Some((id, _)) = rest.rsplit_once('-') {
            let _ = fs::remove_file(Path::new(CNI_CACHE).join(format!("cni-loopback-{id}-lo")));
        }
        let _ = fs::remove_file(entry.path());
    }
}

/// Reads a cgroup file of process `pid`: `v1_file` in the v1 hierarchy holding `controller`,
/// or `v2_file` in its cgroup when the host is pure cgroup v2.
pub fn cgroup_file(
    pid: u32,
    controller: &str,
    v1_file: &str,
    v2_file: &str,
) -> Result<String, String> {
    let membership = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| format!("/proc/{pid}/cgroup: {e}"))?;
    let mounts = cgroup_mounts();
    let path = if let Some(v2) = mounts
        .iter()
        .find(|m| m.fstype == "cgroup2" && m.target == Path::new("/sys/fs/cgroup"))
    {
        let rel = membership
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or("no cgroup v2 line")?;
        v2.target.join(rel.trim_start_matches('/')).join(v2_file)
    } else {
        let rel = membership
            .lines()
            .find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, rel) = (f.next()?, f.next()?, f.next()?);
                ctrls.split(',').any(|c| c == controller).then_some(rel)
            })
            .ok_or_else(|| format!("pid {pid} is in no {controller} cgroup"))?;
        let mount = mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.super_opts.split(',').any(|o| o == controller))
            .ok_or_else(|| format!("no {controller} hierarchy mounted"))?;
        mount.target.join(rel.trim_start_matches('/')).join(v1_file)
    };
    fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}
