//! User namespaces: uid and gid mappings seen from inside, and a non-root user running
//! containers with berth. These tests run as root (they make the non-root user).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use common::*;
use serde_json::{json, Value};

const ROOTLESS_USER: &str = "berth-rootless";

/// Creates the test's non-root user (with /etc/subuid and /etc/subgid ranges) once.
fn rootless_user() -> Option<(u32, u32)> {
    let ids = |flag: &str| -> Option<u32> {
        let out = std::process::Command::new("id")
            .args([flag, ROOTLESS_USER])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if ids("-u").is_none() {
        let _ = std::process::Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", ROOTLESS_USER])
            .status();
    }
    Some((ids("-u")?, ids("-g")?))
}

/// Runs berth as the rootless user with its own XDG_RUNTIME_DIR.
fn as_user(runtime_dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("runuser")
        .args(["-u", ROOTLESS_USER, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR={}", runtime_dir.display()))
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]

fn user_namespace_maps_ids() {
    let mut c = Ctr::new(
        "userns",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u",
        ],
    );
    c.patch(|cfg| {
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let out = run_ok(&c);
    let norm: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        norm,
        vec![
            vec!["0", "100000", "65536"],
            vec!["0", "100000", "65536"],
            vec!["0"]
        ],
        "{out}"
    );
}

/// A user namespace with uid/gid mappings written by berth while the init waits: the
/// container's root is an unprivileged host uid.
#[test]
fn user_namespace_with_mappings() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let mut cfg = berth.bundle(
        bundle.path(),
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; \
             cat /proc/self/setgroups; (echo x > /proc/sysrq-trigger) 2>/dev/null || echo denied",
        ],
    );
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    cfg["linux"]["uidMappings"] = map.clone();
    cfg["linux"]["gidMappings"] = map;
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("userns"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let words: Vec<&str> = t.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "200000", "65536", "0", "200000", "65536", "0", "allow", "denied"],
        "{t}"
    );
}

/// A non-root user runs containers: `spec --rootless`, state under
/// $XDG_RUNTIME_DIR/berth, no cgroup (a warning, not a failure), one mapping written
/// directly and several through newuidmap/newgidmap; supplementary groups and resource
/// limits are clear errors.
#[test]
fn rootless_user_runs_containers() {
    if !need_root() {
        return;
    }
    let Some((uid, gid)) = rootless_user() else {
        berth_common::skip!("cannot create user {ROOTLESS_USER} (useradd)");
    };
    let bundle = Bundle::new();
    let runtime_dir = tempfile::tempdir().unwrap();
    for p in [bundle.path(), runtime_dir.path()] {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let bundle_arg = bundle.path().to_str().unwrap();
    let out = as_user(
        runtime_dir.path(),
        &["spec", "--rootless", "--bundle", bundle_arg],
    );
    assert!(out.status.success(), "{}", text(&out));
    let read = || -> Value {
        serde_json::from_slice(&std::fs::read(bundle.path().join("config.json")).unwrap()).unwrap()
    };
    let mut cfg = read();
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = json!(["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    cfg["root"]["path"] = json!(bundle.rootfs());
    Berth::write_config(bundle.path(), &cfg);

    let id = id("rootless");
    let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", &uid.to_string(), "1"], "{t}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without a cgroup"),
        "{t}"
    );
    // State lived under $XDG_RUNTIME_DIR/berth (and is gone after run).
    assert!(runtime_dir.path().join("berth").is_dir());

    // Supplementary groups cannot be set with setgroups denied.
    let mut groups = cfg.clone();
    groups["process"]["user"]["additionalGids"] = json!([5]);
    Berth::write_config(bundle.path(), &groups);
    let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
    assert!(!out.status.success());
    assert!(text(&out).contains("setgroups is denied"), "{}", text(&out));
    let _ = as_user(runtime_dir.path(), &["delete", "--force", &id]);

    // Limits need a cgroup this user cannot make.
    let mut limits = cfg.clone();
    limits["linux"]["resources"] = json!({"pids": {"limit": 10}});
    Berth::write_config(bundle.path(), &limits);
    let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
    assert!(!out.status.success());
    assert!(text(&out).contains("needs a cgroup"), "{}", text(&out));
    let _ = as_user(runtime_dir.path(), &["delete", "--force", &id]);

    // More than one mapping goes through newuidmap/newgidmap.
    if Path::new("/usr/bin/newuidmap").exists() {
        let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        let start = subuid
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{ROOTLESS_USER}:")))
            .and_then(|r| r.split(':').next()?.parse::<u32>().ok());
        if let Some(start) = start {
            let mut multi = cfg.clone();
            for (key, own) in [("uidMappings", uid), ("gidMappings", gid)] {
                multi["linux"][key] = json!([
                    {"containerID": 0, "hostID": own, "size": 1},
                    {"containerID": 1, "hostID": start, "size": 1000}
                ]);
            }
            multi["process"]["args"] = json!(["sh", "-c", "cat /proc/self/uid_map"]);
            Berth::write_config(bundle.path(), &multi);
            let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
            let t = text(&out);
            assert!(out.status.success(), "{t}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let words: Vec<&str> = stdout.split_whitespace().collect();
            let (own, sub) = (uid.to_string(), start.to_string());
            assert_eq!(
                words,
                ["0", own.as_str(), "1", "1", sub.as_str(), "1000"],
                "{t}"
            );
        } else {
            eprintln!("note: no /etc/subuid range for {ROOTLESS_USER}: multi-mapping not tried");
        }
    } else {
        eprintln!("note: newuidmap missing (Debian uidmap): multi-mapping not tried");
    }
}
