//! Host layout detection and cgroupsPath resolution.
//!
//! Owns the parsing of mountinfo (which cgroup hierarchies are mounted where) and of
//! /proc/self/cgroup (where the calling process sits in each), and turns a container's
//! cgroupsPath into one absolute directory per hierarchy, as runc's cgroupfs driver does:
//! an absolute path hangs below each hierarchy's mount point, a relative one below the
//! caller's own cgroup, and an empty one is `<own cgroup>/<id>`. On a pure v2 host the base
//! is the parent of the caller's cgroup (runc's fs2 driver does the same): the caller's own
//! cgroup holds processes, so by v2's no-internal-process rule it can have no child with
//! controllers (under systemd a service's cgroup refuses `CLONE_INTO_CGROUP` into a child).

use std::path::{Component, Path, PathBuf};

use crate::{fs, CgroupError, CgroupPaths, Host, LayoutKind, Result};

/// v1 controllers runc knows; other super options of a cgroup mount ("rw", "xattr",
/// "clone_children", "release_agent=...") are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Controller list joined by ',' ("cpu,cpuacct", "name=systemd") for v1; "" for v2.
    pub key: String,
    /// Controllers this hierarchy offers (v2: the root's cgroup.controllers).
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    /// The cgroup mounted at `mount_point` (mountinfo's root field), "/" unless bind-mounted
    /// or seen from a cgroup namespace.
    pub mount_root: PathBuf,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.key.is_empty()
    }
}

/// The cgroup hierarchies the host mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: LayoutKind,
    pub hierarchies: Vec<Hierarchy>,
}

/// Which layout the host mounts (V1, V2 or Hybrid).
pub fn layout_kind(host: &Host) -> Result<LayoutKind> {
    Ok(Layout::detect(host)?.kind)
}

impl Layout {
    /// Reads `host.mountinfo` (and, for v2, the root's cgroup.controllers).
    pub fn detect(host: &Host) -> Result<Layout> {
        let text = std::fs::read_to_string(&host.mountinfo)
            .map_err(|e| fs::io_err("read mountinfo", &host.mountinfo, e))?;
        Layout::from_mountinfo(&text)
    }

    pub fn from_mountinfo(text: &str) -> Result<Layout> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut seen_devices: Vec<String> = Vec::new();
        for line in text.lines() {
            let Some(m) = parse_mount_line(line) else {
                continue;
            };
            let hierarchy = match m.fstype {
                "cgroup2" => {
                    let mount_point = PathBuf::from(&m.mount_point);
                    let controllers =
                        std::fs::read_to_string(mount_point.join("cgroup.controllers"))
                            .map(|s| s.split_whitespace().map(str::to_string).collect())
                            .unwrap_or_default();
                    Hierarchy {
                        key: String::new(),
                        controllers,
                        mount_point,
                        mount_root: PathBuf::from(&m.root),
                    }
                }
                "cgroup" => {
                    let controllers: Vec<String> = m
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    Hierarchy {
                        key: controllers.join(","),
                        controllers,
                        mount_point: PathBuf::from(&m.mount_point),
                        mount_root: PathBuf::from(&m.root),
                    }
                }
                _ => continue,
            };
            // The same hierarchy bind-mounted twice (same superblock) counts once: the first
            // mount wins, as in runc.
            if seen_devices.iter().any(|d| d == m.device) {
                continue;
            }
            seen_devices.push(m.device.to_string());
            hierarchies.push(hierarchy);
        }
        let has_v1 = hierarchies.iter().any(|h| !h.is_v2());
        let has_v2 = hierarchies.iter().any(Hierarchy::is_v2);
        let kind = match (has_v1, has_v2) {
            (true, true) => LayoutKind::Hybrid,
            (true, false) => LayoutKind::V1,
            (false, true) => LayoutKind::V2,
            (false, false) => {
                return Err(CgroupError::Unsupported(
                    "a host without any mounted cgroup filesystem".into(),
                ))
            }
        };
        // A second cgroup2 mount would be a second unified key: keep only the first.
        let mut v2_seen = false;
        hierarchies.retain(|h| {
            if h.is_v2() {
                let keep = !v2_seen;
                v2_seen = true;
                keep
            } else {
                true
            }
        });
        Ok(Layout { kind, hierarchies })
    }

    /// The hierarchy holding `controller`: a v1 one first, then the unified one if it
    /// offers the controller.
    pub fn hierarchy_for(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| !h.is_v2() && h.controllers.iter().any(|c| c == controller))
            .or_else(|| {
                self.hierarchies
                    .iter()
                    .find(|h| h.is_v2() && h.controllers.iter().any(|c| c == controller))
            })
    }

    /// Resolves the container's directory in every hierarchy.
    pub fn resolve(
        &self,
        host: &Host,
        cgroups_path: Option<&Path>,
        id: &str,
    ) -> Result<CgroupPaths> {
        let requested = cgroups_path.filter(|p| !p.as_os_str().is_empty());
        let inner = match requested {
            Some(p) => p.to_path_buf(),
            None => {
                if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                    return Err(CgroupError::Invalid(format!(
                        "container id {id:?} cannot name a cgroup"
                    )));
                }
                PathBuf::from(id)
            }
        };
        let absolute = inner.is_absolute();
        let inner = clean(&inner);
        let own = if absolute {
            Vec::new()
        } else {
            let text = std::fs::read_to_string(&host.self_cgroup)
                .map_err(|e| fs::io_err("read own cgroup", &host.self_cgroup, e))?;
            parse_proc_cgroup(&text)
        };
        let mut dirs = Vec::new();
        let mut created = Vec::new();
        for h in &self.hierarchies {
            let base = if absolute {
                h.mount_point.clone()
            } else {
                let own_path = own_cgroup_of(&own, h).ok_or_else(|| {
                    CgroupError::Invalid(format!(
                        "{} does not list the hierarchy {:?} mounted at {}",
                        host.self_cgroup.display(),
                        h.key,
                        h.mount_point.display()
                    ))
                })?;
                // /proc/self/cgroup paths are relative to the hierarchy's root, the mount
                // shows `mount_root` of it.
                let mut rel = Path::new(&own_path)
                    .strip_prefix(&h.mount_root)
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                if self.kind == LayoutKind::V2 {
                    rel.pop();
                }
                h.mount_point.join(clean(&rel))
            };
            let dir = base.join(&inner);
            if let Some(top) = topmost_missing(&dir) {
                created.push((h.key.clone(), top));
            }
            dirs.push((h.key.clone(), dir));
        }
        Ok(CgroupPaths {
            layout: self.kind,
            dirs,
            created,
            systemd_unit: None,
        })
    }
}

struct MountLine<'a> {
    device: &'a str,
    root: String,
    mount_point: String,
    fstype: &'a str,
    super_options: &'a str,
}

fn parse_mount_line(line: &str) -> Option<MountLine<'_>> {
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    let post: Vec<&str> = post.split(' ').collect();
    if pre.len() < 6 || post.len() < 3 {
        return None;
    }
    Some(MountLine {
        device: pre[2],
        root: unescape(pre[3]),
        mount_point: unescape(pre[4]),
        fstype: post[0],
        super_options: post[2],
    })
}

/// A mountinfo path field, decoded (see `berth_common::mountinfo`).
fn unescape(s: &str) -> String {
    berth_common::mountinfo::unescape(s)
        .to_string_lossy()
        .into_owned()
}

/// One line of `/proc/<pid>/cgroup`: controllers (empty for v2) and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    pub hierarchy_id: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let id = it.next()?.parse().ok()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            Some(ProcCgroup {
                hierarchy_id: id,
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

fn own_cgroup_of(own: &[ProcCgroup], h: &Hierarchy) -> Option<String> {
    own.iter()
        .find(|p| {
            if h.is_v2() {
                p.hierarchy_id == 0 && p.controllers.is_empty()
            } else {
                !p.controllers.is_empty()
                    && p.controllers.len() == h.controllers.len()
                    && p.controllers.iter().all(|c| h.controllers.contains(c))
            }
        })
        .map(|p| p.path.clone())
}

/// Lexically cleans a cgroup path into a relative one that cannot climb out of its base:
/// ".." at the top is dropped, as runc's CleanPath does.
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The highest ancestor of `dir` (or `dir` itself) that does not exist yet.
fn topmost_missing(dir: &Path) -> Option<PathBuf> {
    if dir.exists() {
        return None;
    }
    let mut top = dir.to_path_buf();
    while let Some(parent) = top.parent() {
        if parent.exists() {
            break;
        }
        top = parent.to_path_buf();
    }
    Some(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 31 0:32 / /mnt/again rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn detects_hybrid_and_skips_duplicate_mounts() {
        let l = Layout::from_mountinfo(HYBRID).unwrap();
        assert_eq!(l.kind, LayoutKind::Hybrid);
        let keys: Vec<_> = l.hierarchies.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(keys, ["cpu", "memory", "name=systemd", ""]);
        assert_eq!(
            l.hierarchy_for("memory").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn detects_v1_and_v2() {
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let l = Layout::from_mountinfo(v1).unwrap();
        assert_eq!(l.kind, LayoutKind::V1);
        assert_eq!(l.hierarchies[0].key, "cpu,cpuacct");
        assert_eq!(
            l.hierarchies[0].mount_point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(Layout::from_mountinfo(v2).unwrap().kind, LayoutKind::V2);
        assert!(matches!(
            Layout::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/sda rw\n"),
            Err(CgroupError::Unsupported(_))
        ));
    }

    #[test]
    fn unescapes_mount_points() {
        let m = parse_mount_line("1 0 0:5 / /tmp/a\\040b rw - cgroup2 cgroup2 rw").unwrap();
        assert_eq!(m.mount_point, "/tmp/a b");
    }

    #[test]
    fn cleans_paths_without_escaping() {
        assert_eq!(clean(Path::new("/../../a/./b/../c")), Path::new("a/c"));
        assert_eq!(clean(Path::new("x/../../y")), Path::new("y"));
    }

    fn fixture_host(dir: &Path, own: &str) -> (Host, Layout) {
        let mi = format!(
            "1 0 0:40 / {d}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             2 0 0:41 /sub {d}/memory rw - cgroup cgroup rw,memory\n\
             3 0 0:42 / {d}/unified rw - cgroup2 cgroup2 rw\n",
            d = dir.display()
        );
        std::fs::write(dir.join("mountinfo"), mi).unwrap();
        std::fs::write(dir.join("cgroup"), own).unwrap();
        for sub in ["cpu,cpuacct", "memory", "unified"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let host = Host {
            mountinfo: dir.join("mountinfo"),
            self_cgroup: dir.join("cgroup"),
        };
        let layout = Layout::detect(&host).unwrap();
        (host, layout)
    }

    #[test]
    fn resolves_absolute_relative_and_default_paths() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let (host, layout) = fixture_host(d, "3:cpuacct,cpu:/user/a\n2:memory:/sub/me\n0::/self\n");
        assert_eq!(layout.kind, LayoutKind::Hybrid);

        let p = layout
            .resolve(&host, Some(Path::new("/docker/ID")), "ID")
            .unwrap();
        assert_eq!(
            p.dirs,
            vec![
                ("cpu,cpuacct".to_string(), d.join("cpu,cpuacct/docker/ID")),
                ("memory".to_string(), d.join("memory/docker/ID")),
                (String::new(), d.join("unified/docker/ID")),
            ]
        );
        // Nothing exists yet: /docker is ours to remove in every hierarchy.
        assert_eq!(
            p.created[0],
            ("cpu,cpuacct".to_string(), d.join("cpu,cpuacct/docker"))
        );

        let p = layout
            .resolve(&host, Some(Path::new("rel/x")), "ID")
            .unwrap();
        assert_eq!(p.dirs[0].1, d.join("cpu,cpuacct/user/a/rel/x"));
        // The memory mount shows the hierarchy's /sub, and we sit in /sub/me.
        assert_eq!(p.dirs[1].1, d.join("memory/me/rel/x"));
        assert_eq!(p.dirs[2].1, d.join("unified/self/rel/x"));

        std::fs::create_dir_all(d.join("memory/me")).unwrap();
        let p = layout.resolve(&host, None, "ctr1").unwrap();
        assert_eq!(p.dirs[1].1, d.join("memory/me/ctr1"));
        assert_eq!(
            p.created[1],
            ("memory".to_string(), d.join("memory/me/ctr1"))
        );
        let p = layout.resolve(&host, Some(Path::new("")), "ctr1").unwrap();
        assert_eq!(p.dirs[2].1, d.join("unified/self/ctr1"));
        assert!(layout.resolve(&host, None, "../x").is_err());
    }

    #[test]
    fn pure_v2_resolves_below_the_parent_of_the_own_cgroup() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let mi = format!("1 0 0:42 / {} rw - cgroup2 cgroup2 rw\n", d.display());
        std::fs::write(d.join("mountinfo"), mi).unwrap();
        std::fs::write(d.join("cgroup"), "0::/system.slice/x.service\n").unwrap();
        let host = Host {
            mountinfo: d.join("mountinfo"),
            self_cgroup: d.join("cgroup"),
        };
        let layout = Layout::detect(&host).unwrap();
        assert_eq!(layout.kind, LayoutKind::V2);
        let p = layout.resolve(&host, None, "c1").unwrap();
        assert_eq!(p.dirs[0].1, d.join("system.slice/c1"));
        let p = layout.resolve(&host, Some(Path::new("a/b")), "c1").unwrap();
        assert_eq!(p.dirs[0].1, d.join("system.slice/a/b"));
        std::fs::write(d.join("cgroup"), "0::/\n").unwrap();
        let p = layout.resolve(&host, None, "c1").unwrap();
        assert_eq!(p.dirs[0].1, d.join("c1"));
    }

    #[test]
    fn missing_own_hierarchy_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let (host, layout) = fixture_host(t.path(), "0::/\n");
        let err = layout
            .resolve(&host, Some(Path::new("a")), "ID")
            .unwrap_err();
        assert!(err.to_string().contains("cpu,cpuacct"), "{err}");
    }
}
