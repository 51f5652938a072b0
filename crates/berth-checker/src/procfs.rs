//! Readers for what the kernel shows a process about itself.

use std::collections::HashMap;

pub fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// /proc/self/status as key → value (trimmed).
pub fn status() -> HashMap<String, String> {
    read("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// A host id as this process's user namespace names it (/proc/self/uid_map or gid_map).
pub fn id_inside(map: &str, host: u64) -> Option<u64> {
    read(&format!("/proc/self/{map}"))
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            match f[..] {
                [inside, outside, count] if (outside..outside + count).contains(&host) => {
                    Some(inside + host - outside)
                }
                _ => None,
            }
        })
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub mount_point: String,
    /// Per-mount options (ro, nosuid, relatime, ...).
    pub options: Vec<String>,
    /// Optional fields: shared:N, master:N, propagate_from:N, unbindable.
    pub optional: Vec<String>,
    pub fstype: String,
    /// Superblock options (mode=755, size=65536k, gid=5, ...).
    pub super_options: Vec<String>,
}

impl MountInfo {
    pub fn has(&self, opt: &str) -> bool {
        self.options.iter().any(|o| o == opt)
    }

    /// The propagation as mount(8) names it: shared, slave, private or unbindable.
    pub fn propagation(&self) -> &'static str {
        let tag = |p: &str| self.optional.iter().any(|o| o.starts_with(p));
        if tag("unbindable") {
            "unbindable"
        } else if tag("shared:") {
            "shared"
        } else if tag("master:") {
            "slave"
        } else {
            "private"
        }
    }
}

/// A mountinfo path field, decoded (see `berth_common::mountinfo`).
fn unescape(s: &str) -> String {
    berth_common::mountinfo::unescape(s)
        .to_string_lossy()
        .into_owned()
}

pub fn mountinfo() -> Vec<MountInfo> {
    read("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let f: Vec<&str> = head.split(' ').collect();
            if f.len() < 6 {
                return None;
            }
            let t: Vec<&str> = tail.split(' ').collect();
            Some(MountInfo {
                mount_point: unescape(f[4]),
                options: f[5].split(',').map(String::from).collect(),
                optional: f[6..].iter().map(|s| s.to_string()).collect(),
                fstype: t.first().unwrap_or(&"").to_string(),
                super_options: t
                    .get(2)
                    .map(|s| s.split(',').map(String::from).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The mount that `path` is on: the last mount at the longest mount point containing it.
pub fn mount_of<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    mounts
        .iter()
        .filter(|m| is_under(path, &m.mount_point))
        .max_by_key(|m| m.mount_point.len())
        .and_then(|best| {
            mounts
                .iter()
                .rev()
                .find(|m| m.mount_point == best.mount_point)
        })
}

/// Whether `path` is `dir` or below it.
pub fn is_under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// A path as the kernel shows it: symlinks resolved, no trailing slash.
pub fn canonical(path: &str) -> String {
    std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| {
            let t = path.trim_end_matches('/');
            if t.is_empty() {
                "/".into()
            } else {
                t.into()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mount_point: &str, optional: &[&str]) -> MountInfo {
        MountInfo {
            mount_point: mount_point.into(),
            options: vec!["rw".into()],
            optional: optional.iter().map(|s| s.to_string()).collect(),
            fstype: "tmpfs".into(),
            super_options: Vec::new(),
        }
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b\011c\134d"), "/a b\tc\\d");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }

    #[test]
    fn propagation_from_optional_fields() {
        assert_eq!(entry("/", &[]).propagation(), "private");
        assert_eq!(entry("/", &["shared:3"]).propagation(), "shared");
        assert_eq!(
            entry("/", &["shared:3", "master:1"]).propagation(),
            "shared"
        );
        assert_eq!(entry("/", &["master:1"]).propagation(), "slave");
        assert_eq!(entry("/", &["unbindable"]).propagation(), "unbindable");
    }

    #[test]
    fn mount_of_takes_the_last_mount_at_the_deepest_point() {
        let m = [
            entry("/", &[]),
            entry("/proc", &[]),
            entry("/proc/sys", &[]),
            entry("/proc/sys", &["shared:9"]),
        ];
        assert_eq!(
            mount_of(&m, "/proc/sys/kernel").unwrap().optional,
            ["shared:9"]
        );
        assert_eq!(mount_of(&m, "/proc/system").unwrap().mount_point, "/proc");
        assert_eq!(mount_of(&m, "/etc").unwrap().mount_point, "/");
    }
}
