//! Mounts (type, flags, recursive flags, propagation), the root's read-only flag and
//! propagation, masked and read-only paths: all from /proc/self/mountinfo as the container sees it.

use crate::procfs::{self, MountInfo};
use crate::tap::Tap;
use crate::Host;
use serde_json::Value;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;

/// A flag the config can ask for, and how mountinfo's per-mount options show it.
#[derive(Clone, Copy)]
enum Flag {
    /// The option is shown.
    Set(&'static str),
    /// The option is not shown.
    Clear(&'static str),
    /// Neither noatime nor relatime (strictatime).
    Strict,
}

/// Mount options → the flag they set, each with a slot: a later option for the same slot wins.
fn flag(opt: &str) -> Option<(&'static str, Flag)> {
    use Flag::*;
    Some(match opt {
        "ro" => ("ro", Set("ro")),
        "rw" => ("ro", Set("rw")),
        "nosuid" => ("suid", Set("nosuid")),
        "suid" => ("suid", Clear("nosuid")),
        "nodev" => ("dev", Set("nodev")),
        "dev" => ("dev", Clear("nodev")),
        "noexec" => ("exec", Set("noexec")),
        "exec" => ("exec", Clear("noexec")),
        "noatime" => ("atime", Set("noatime")),
        "relatime" => ("atime", Set("relatime")),
        "strictatime" => ("atime", Strict),
        "nodiratime" => ("diratime", Set("nodiratime")),
        "diratime" => ("diratime", Clear("nodiratime")),
        "nosymfollow" => ("symfollow", Set("nosymfollow")),
        "symfollow" => ("symfollow", Clear("nosymfollow")),
        _ => return None,
    })
}

fn holds(m: &MountInfo, f: Flag) -> bool {
    match f {
        Flag::Set(o) => m.has(o),
        Flag::Clear(o) => !m.has(o),
        Flag::Strict => !m.has("noatime") && !m.has("relatime"),
    }
}

/// Propagation options (recursive or not) → what mountinfo shows.
fn propagation(opt: &str) -> Option<&'static str> {
    Some(match opt.strip_prefix('r').unwrap_or(opt) {
        "shared" => "shared",
        "slave" => "slave",
        "private" => "private",
        "unbindable" => "unbindable",
        _ => return None,
    })
}

pub fn check(t: &mut Tap, c: &Value, host: &Host) {
    let mounts = procfs::mountinfo();
    let root = mounts.iter().rev().find(|m| m.mount_point == "/");

    let ro = c["root"]["readonly"].as_bool().unwrap_or(false);
    t.check(
        "root.readonly",
        match root {
            Some(m) if m.has("ro") == ro => Ok(()),
            Some(m) => Err(format!("/ is mounted {}", m.options.join(","))),
            None => Err("no / in mountinfo".into()),
        },
    );
    if let Some(p) = c["linux"]["rootfsPropagation"].as_str() {
        let want = propagation(p).unwrap_or("?");
        let got = root.map(MountInfo::propagation);
        t.eq("linux.rootfsPropagation", got, Some(want));
    }

    for m in c["mounts"].as_array().into_iter().flatten() {
        one_mount(t, m, &mounts, host);
    }

    for p in c["linux"]["maskedPaths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        t.check(&format!("maskedPaths {p}"), masked(p));
    }
    for p in c["linux"]["readonlyPaths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let what = format!("readonlyPaths {p}");
        if std::fs::symlink_metadata(p).is_err() {
            t.skip(&what, "absent in the container");
            continue;
        }
        let m = procfs::mount_of(&mounts, &procfs::canonical(p));
        t.check(
            &what,
            match m {
                Some(m) if m.has("ro") => Ok(()),
                Some(m) => Err(format!(
                    "on {} mounted {}",
                    m.mount_point,
                    m.options.join(",")
                )),
                None => Err("on no mount".into()),
            },
        );
    }
}

fn one_mount(t: &mut Tap, spec: &Value, mounts: &[MountInfo], host: &Host) {
    let dest = spec["destination"].as_str().unwrap_or("");
    let what = format!("mount {dest}");
    let path = procfs::canonical(dest);
    let Some(m) = mounts.iter().rev().find(|m| m.mount_point == path) else {
        t.fail(&what, "not mounted");
        return;
    };
    let opts: Vec<&str> = spec["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let ty = spec["type"].as_str().unwrap_or("");
    let bind = ty == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
    if bind || ty.is_empty() {
        t.ok(&what);
    } else if ty == "cgroup" && m.fstype != "cgroup" && m.fstype != "cgroup2" {
        // On cgroup v1 runc mounts a tmpfs and one cgroup mount per hierarchy under it.
        t.check(
            &what,
            if m.fstype == "tmpfs" {
                Ok(())
            } else {
                Err(format!("type {}", m.fstype))
            },
        );
    } else {
        t.eq(&format!("{what} type"), m.fstype.as_str(), ty);
    }

    // The last option for each flag wins; r-prefixed ones apply to every mount below too.
    let mut slots: Vec<(&str, Flag, bool, &str)> = Vec::new();
    let mut prop = None;
    for o in &opts {
        // "rw" and "ro" are not "r" + a flag; "rro", "rnoexec", ... are.
        let (recursive, base) = match o.strip_prefix('r') {
            Some(b) if flag(b).is_some() => (true, b),
            _ => (false, *o),
        };
        if let Some((slot, f)) = flag(base) {
            slots.retain(|s| s.0 != slot);
            slots.push((slot, f, recursive, o));
        } else if let Some(p) = propagation(o) {
            prop = Some(p);
        }
    }
    for (_, f, recursive, o) in slots {
        let below: Vec<&MountInfo> = if recursive {
            mounts
                .iter()
                .filter(|x| procfs::is_under(&x.mount_point, &path) && x.mount_point != path)
                .collect()
        } else {
            Vec::new()
        };
        let bad: Vec<String> = std::iter::once(m)
            .chain(below)
            .filter(|x| !holds(x, f))
            .map(|x| format!("{} is {}", x.mount_point, x.options.join(",")))
            .collect();
        t.check(
            &format!("{what} option {o}"),
            if bad.is_empty() {
                Ok(())
            } else {
                Err(bad.join("; "))
            },
        );
    }
    if !bind {
        for o in &opts {
            if let Some((key, value)) = o.split_once('=') {
                data_option(t, &what, m, key, value);
            }
        }
    }
    if let Some(want) = prop {
        // A shared bind mount stays in its source's peer group, so mounts reach the host both ways.
        let peer = spec["source"]
            .as_str()
            .and_then(|s| host.get("peer", s))
            .filter(|_| bind && want == "shared");
        let group = |m: &MountInfo| {
            m.optional
                .iter()
                .find_map(|o| o.strip_prefix("shared:"))
                .map(String::from)
        };
        match peer {
            Some(peer) if m.propagation() == "shared" => t.check(
                &format!("{what} propagation"),
                match group(m) {
                    Some(g)
                        if g == peer && !m.optional.iter().any(|o| o.starts_with("master:")) =>
                    {
                        Ok(())
                    }
                    _ => Err(format!(
                        "{}, want shared:{peer} (the source's peer group)",
                        m.optional.join(" ")
                    )),
                },
            ),
            _ => t.eq(&format!("{what} propagation"), m.propagation(), want),
        }
    }
}

/// A filesystem option the kernel shows back (tmpfs, devpts, mqueue): modes in octal, ids in
/// decimal, sizes in bytes; one it leaves out has its default (tmpfs mode 1777, ids 0).
fn data_option(t: &mut Tap, what: &str, m: &MountInfo, key: &str, value: &str) {
    let normal = |v: &str| -> Option<u64> {
        match key {
            "mode" | "ptmxmode" => u64::from_str_radix(v, 8).ok(),
            "uid" | "gid" => v.parse().ok(),
            "size" => {
                let (n, unit) = match v.char_indices().last()? {
                    (i, 'k' | 'K') => (&v[..i], 1 << 10),
                    (i, 'm' | 'M') => (&v[..i], 1 << 20),
                    (i, 'g' | 'G') => (&v[..i], 1 << 30),
                    _ => (v, 1),
                };
                n.parse::<u64>().ok().map(|n| n * unit)
            }
            _ => None,
        }
    };
    let Some(want) = normal(value) else {
        return;
    };
    let shown = m
        .super_options
        .iter()
        .find_map(|o| o.strip_prefix(key)?.strip_prefix('='));
    let got = match (shown, key) {
        // The kernel shows ids as the initial user namespace sees them.
        (Some(v), "uid") => normal(v).and_then(|id| procfs::id_inside("uid_map", id)),
        (Some(v), "gid") => normal(v).and_then(|id| procfs::id_inside("gid_map", id)),
        (Some(v), _) => normal(v),
        (None, "uid" | "gid") => Some(0),
        (None, "mode") if m.fstype == "tmpfs" => Some(0o1777),
        (None, _) => None,
    };
    // tmpfs rounds a size up to whole pages.
    let ok = match (got, key) {
        (Some(g), "size") => g >= want && g - want < 4096,
        (g, _) => g == Some(want),
    };
    t.check(
        &format!("{what} option {key}"),
        if ok {
            Ok(())
        } else {
            Err(format!("shown {}", m.super_options.join(",")))
        },
    );
}

/// A masked path reads as nothing: a directory is empty, anything else is /dev/null (or absent).
fn masked(p: &str) -> Result<(), String> {
    let md = match std::fs::metadata(p) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if md.is_dir() {
        let n = std::fs::read_dir(p).map_err(|e| e.to_string())?.count();
        return if n == 0 {
            Ok(())
        } else {
            Err(format!("directory has {n} entries"))
        };
    }
    if md.file_type().is_char_device() && md.rdev() == crate::linux::makedev(1, 3) {
        Ok(())
    } else {
        Err(format!("not /dev/null (mode {:o})", md.mode()))
    }
}
