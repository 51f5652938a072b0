//! The `linux` object: sysctls, devices (and the default ones), namespaces, cgroup limits.

use crate::procfs;
use crate::tap::Tap;
use crate::Host;
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

pub fn check(t: &mut Tap, c: &Value, host: &Host) {
    let l = &c["linux"];
    sysctls(t, l);
    devices(t, l);
    namespaces(t, l, host);
    cgroups(t, l);
}

pub fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

fn major(dev: u64) -> u64 {
    ((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff)
}

fn minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffffff00) | (dev & 0xff)
}

fn sysctls(t: &mut Tap, l: &Value) {
    for (key, want) in l["sysctl"].as_object().into_iter().flatten() {
        let want = want.as_str().unwrap_or("");
        let got = procfs::read(&format!("/proc/sys/{}", key.replace('.', "/")));
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        t.check(
            &format!("sysctl {key}"),
            got.and_then(|g| {
                if words(&g) == words(want) {
                    Ok(())
                } else {
                    Err(format!("got {:?}, want {want:?}", g.trim()))
                }
            }),
        );
    }
}

/// The devices the spec says every container has, and the config's own.
fn devices(t: &mut Tap, l: &Value) {
    for (path, maj, min) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let got = std::fs::metadata(path).map(|m| {
            (
                m.file_type().is_char_device(),
                major(m.rdev()),
                minor(m.rdev()),
            )
        });
        t.check(
            &format!("default device {path}"),
            match got {
                Ok(g) if g == (true, maj, min) => Ok(()),
                Ok(g) => Err(format!("got {g:?}, want char {maj}:{min}")),
                Err(e) => Err(e.to_string()),
            },
        );
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let got = std::fs::read_link(link)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| e.to_string());
        t.check(
            &format!("default link {link}"),
            got.and_then(|g| {
                if g == target {
                    Ok(())
                } else {
                    Err(format!("-> {g}"))
                }
            }),
        );
    }

    for d in l["devices"].as_array().into_iter().flatten() {
        let path = d["path"].as_str().unwrap_or("");
        let what = format!("device {path}");
        let md = match std::fs::symlink_metadata(path) {
            Ok(md) => md,
            Err(e) => {
                t.fail(&what, &e.to_string());
                continue;
            }
        };
        let ft = md.file_type();
        let ty = d["type"].as_str().unwrap_or("");
        let type_ok = match ty {
            "c" | "u" => ft.is_char_device(),
            "b" => ft.is_block_device(),
            "p" => ft.is_fifo(),
            _ => false,
        };
        t.check(
            &format!("{what} type"),
            if type_ok {
                Ok(())
            } else {
                Err(format!("mode {:o}, want type {ty}", md.mode()))
            },
        );
        if ty != "p" {
            let want = (
                d["major"].as_u64().unwrap_or(0),
                d["minor"].as_u64().unwrap_or(0),
            );
            t.eq(
                &format!("{what} major:minor"),
                (major(md.rdev()), minor(md.rdev())),
                want,
            );
        }
        if let Some(mode) = d["fileMode"].as_u64() {
            t.eq(
                &format!("{what} fileMode"),
                format!("{:o}", md.mode() & 0o7777),
                format!("{:o}", mode & 0o7777),
            );
        }
        if let Some(uid) = d["uid"].as_u64() {
            t.eq(&format!("{what} uid"), u64::from(md.uid()), uid);
        }
        if let Some(gid) = d["gid"].as_u64() {
            t.eq(&format!("{what} gid"), u64::from(md.gid()), gid);
        }
    }
}

/// Config type → its /proc/self/ns name.
const NAMESPACES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

/// Each namespace is new (absent from the host's), joined (the path's inode) or shared with the
/// runtime's caller (the host's inode), as the harness recorded them.
fn namespaces(t: &mut Tap, l: &Value, host_info: &Host) {
    let entries = l["namespaces"].as_array().cloned().unwrap_or_default();
    for (ty, name) in NAMESPACES {
        let what = format!("namespace {ty}");
        let Some(host) = host_info.get("ns", name) else {
            t.skip(&what, "no host inode given");
            continue;
        };
        let got = match std::fs::metadata(format!("/proc/self/ns/{name}")) {
            Ok(m) => m.ino().to_string(),
            Err(e) => {
                t.skip(&what, &format!("/proc/self/ns/{name}: {e}"));
                continue;
            }
        };
        let entry = entries.iter().find(|e| e["type"].as_str() == Some(ty));
        let outcome = match entry.map(|e| e["path"].as_str()) {
            None if got == host => Ok(()),
            None => Err(format!("inode {got}, want the host's {host}")),
            Some(None) if got != host => Ok(()),
            Some(None) => Err(format!("inode {got} is the host's, want a new one")),
            Some(Some(path)) => match host_info.get("nspath", path) {
                Some(want) if want == got => Ok(()),
                Some(want) => Err(format!("inode {got}, want {want} ({path})")),
                None => Err(format!("no inode given for {path}")),
            },
        };
        t.check(&what, outcome);
        if *ty == "pid" && entry.is_some_and(|e| e["path"].is_null()) {
            t.eq("pid namespace: the process is pid 1", std::process::id(), 1);
        }
    }
}

/// Limits read back from the container's own cgroup (v1 controllers), where it can see them.
fn cgroups(t: &mut Tap, l: &Value) {
    let r = &l["resources"];
    let mut want: Vec<(&str, &str, String)> = Vec::new();
    let mut num = |ctrl, file, v: &Value| {
        // 0 leaves the kernel's default (runc and crun write nothing).
        if let Some(n) = v.as_i64().filter(|n| *n != 0) {
            want.push((ctrl, file, if n < 0 { "max".into() } else { n.to_string() }));
        }
    };
    num("memory", "memory.limit_in_bytes", &r["memory"]["limit"]);
    num(
        "memory",
        "memory.soft_limit_in_bytes",
        &r["memory"]["reservation"],
    );
    num("pids", "pids.max", &r["pids"]["limit"]);
    num("cpu", "cpu.shares", &r["cpu"]["shares"]);
    num("cpu", "cpu.cfs_quota_us", &r["cpu"]["quota"]);
    num("cpu", "cpu.cfs_period_us", &r["cpu"]["period"]);
    for (ctrl, file, key) in [
        ("cpuset", "cpuset.cpus", "cpus"),
        ("cpuset", "cpuset.mems", "mems"),
    ] {
        if let Some(s) = r["cpu"][key].as_str() {
            want.push((ctrl, file, s.into()));
        }
    }
    // A throttle file lists one "major:minor rate" line per device.
    for (key, file) in [
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
        ),
    ] {
        for d in r["blockIO"][key].as_array().into_iter().flatten() {
            let dev = format!(
                "{}:{}",
                d["major"].as_u64().unwrap_or(0),
                d["minor"].as_u64().unwrap_or(0)
            );
            want.push((
                "blkio",
                file,
                format!("{dev} {}", d["rate"].as_u64().unwrap_or(0)),
            ));
        }
    }
    let own = procfs::read("/proc/self/cgroup").unwrap_or_default();
    for (ctrl, file, value) in want {
        let what = format!("cgroup {file}");
        let path = own.lines().find_map(|line| {
            let mut f = line.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|c| c == ctrl)
                .then(|| path.to_string())
        });
        // The hierarchy is mounted whole (path under it) or as the container's own cgroup.
        let candidates = path
            .iter()
            .map(|p| format!("/sys/fs/cgroup/{ctrl}{p}/{file}"))
            .chain([format!("/sys/fs/cgroup/{ctrl}/{file}")]);
        let Some(got) = candidates
            .into_iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
        else {
            t.skip(&what, "the cgroup is not visible in the container");
            continue;
        };
        // v1 shows "no limit" as the largest page-aligned value; "max" stands for it.
        let got = got.trim();
        let unlimited = got == "max" || got.parse::<u64>().is_ok_and(|n| n >= 1 << 62);
        let ok = got == value || (value == "max" && unlimited) || got.lines().any(|l| l == value);
        t.check(
            &what,
            if ok {
                Ok(())
            } else {
                Err(format!("got {got:?}, want {value:?}"))
            },
        );
    }
}
