//! Mounts as an attacker and as the runtime spec see them, checked for real: binds into
//! /proc, writes to /proc that a mount redirects, read-only and masked paths with nested
//! mounts and symlinked devices, the console, recursive mount attributes and propagation.
//! Each test runs real containers as root (docs/SECURITY.md, docs/testing.md).

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use common::*;
use serde_json::json;

const BURST: &str = "/proc/sys/kernel/printk_ratelimit_burst";

fn host_burst() -> String {
    fs::read_to_string(BURST).unwrap()
}

/// A different value than the host's, to write through the redirected sysctl.
fn other_burst() -> String {
    let now: u32 = host_burst().trim().parse().unwrap();
    (now + 7).to_string()
}

/// A container on a rootfs of its own (a copy of the busybox tree) that a test may change.
fn private_rootfs(c: &mut Ctr) -> std::path::PathBuf {
    let rootfs = c.bundle.path().join("rootfs");
    common::rootfs::write(&rootfs);
    c.patch(|cfg| cfg["root"] = json!({"path": "rootfs", "readonly": true}));
    rootfs
}

/// Issue 11 §2, the exact config: a bind of procfs' kernel/ over /proc/sys/net/ipv4 plus a
/// net.* sysctl that would land in the host's kernel.printk_ratelimit_burst.
#[test]
fn a_bind_into_proc_sys_is_refused_and_the_host_sysctl_is_unchanged() {
    let before = host_burst();
    let mut c = Ctr::new("procbind", &["true"]);
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/proc/sys/net/ipv4", "type": "bind",
            "source": "rootfs/proc/sys/kernel", "options": ["rbind"]
        }));
        cfg["linux"]["sysctl"] = json!({"net.ipv4.printk_ratelimit_burst": other_burst()});
    });
    let o = c.create();
    assert_one_line_error(&o, &["/proc/sys/net/ipv4", "inside /proc"]);
    assert_eq!(host_burst(), before, "the host's sysctl changed");
}

/// The same bind reached through a symlink of the image: the destination looks harmless,
/// where it really lands is refused.
#[test]
fn a_bind_into_proc_through_a_symlink_is_refused() {
    let before = host_burst();
    let mut c = Ctr::new("procsym", &["true"]);
    let rootfs = private_rootfs(&mut c);
    symlink("/proc", rootfs.join("etc/pp")).unwrap();
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/etc/pp/sys/net/ipv4", "type": "bind",
            "source": "rootfs/proc/sys/kernel", "options": ["rbind"]
        }));
        cfg["linux"]["sysctl"] = json!({"net.ipv4.printk_ratelimit_burst": other_burst()});
    });
    let o = c.create();
    assert_one_line_error(&o, &["/proc/sys/net/ipv4", "inside /proc"]);
    assert_eq!(host_burst(), before, "the host's sysctl changed");
}

/// A mount made behind berth's back (here by a createContainer hook, which runs in the
/// container's mount namespace) cannot redirect a sysctl write: /proc is written only
/// through a walk that crosses no mount.
#[test]
fn a_sysctl_write_is_not_redirected_by_a_mount_over_proc() {
    let before = host_burst();
    let mut c = Ctr::new("sysctlredir", &["true"]);
    let proc_dir = rootfs().join("proc");
    let script = format!(
        "mount --bind {p}/sys/kernel {p}/sys/net/ipv4",
        p = proc_dir.display()
    );
    c.patch(|cfg| {
        cfg["hooks"] =
            json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
        cfg["linux"]["sysctl"] = json!({"net.ipv4.printk_ratelimit_burst": other_burst()});
    });
    let o = c.create();
    assert_one_line_error(&o, &["sysctl net.ipv4.printk_ratelimit_burst", "mount"]);
    assert_eq!(host_burst(), before, "the host's sysctl changed");
}

/// A bind of the host's /proc on /proc is allowed (as runc), but berth's writes into it
/// name the container's process as that procfs sees it: oomScoreAdj must not land on the
/// host process that has the container init's pid (1: the host's init).
#[test]
fn oom_score_adj_through_a_bound_host_proc_is_the_containers_own() {
    let host_init = || fs::read_to_string("/proc/1/oom_score_adj").unwrap();
    let before = host_init();
    let mut c = Ctr::new("hostproc", &["cat", "/proc/self/oom_score_adj"]);
    c.patch(|cfg| {
        for m in cfg["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/proc" {
                *m = json!({"destination": "/proc", "type": "bind", "source": "/proc",
                            "options": ["rbind", "nosuid", "nodev", "noexec"]});
            }
        }
        cfg["process"]["oomScoreAdj"] = json!(456);
    });
    let o = c.run();
    let after = host_init();
    if after != before {
        // Put the host back before failing.
        fs::write("/proc/1/oom_score_adj", &before).unwrap();
    }
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "456\n");
    assert_eq!(after, before, "the host init's oom_score_adj changed");
}

/// lxcfs-style: a plain file bind onto an allow-listed /proc file works.
#[test]
fn a_file_bind_onto_an_lxcfs_proc_file_works() {
    let mut c = Ctr::new("lxcfs", &["cat", "/proc/uptime"]);
    fs::write(c.bundle.path().join("uptime"), "4242.00 17.00\n").unwrap();
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/proc/uptime", "type": "bind",
            "source": "uptime", "options": ["bind", "ro"]
        }));
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "4242.00 17.00\n");
}

/// readonlyPaths are read-only all the way down: a mount below /proc/sys (here a tmpfs a
/// createContainer hook puts on /proc/sys/kernel/random) is read-only too.
#[test]
fn a_mount_under_a_readonly_proc_sys_stays_readonly() {
    let mut c = Ctr::new(
        "rorec",
        &[
            "sh",
            "-c",
            "grep -q ' /proc/sys/kernel/random ' /proc/self/mountinfo && echo mounted; \
             if touch /proc/sys/kernel/random/x; then echo writable; else echo denied; fi",
        ],
    );
    c.with_cap("CAP_SYS_ADMIN");
    let script = format!(
        "mount -t tmpfs tmpfs {}/sys/kernel/random",
        rootfs().join("proc").display()
    );
    c.patch(|cfg| {
        cfg["hooks"] =
            json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "mounted\ndenied\n", "stderr {}", stderr(&o));
}

/// CVE-2025-31133: an image whose /dev/null is a symlink to a procfs file, no /dev tmpfs.
/// berth makes the device nodes itself (replacing the symlink) and masks with a verified
/// null device: /proc/keys and /proc/timer_list read empty.
#[test]
fn masks_do_not_follow_an_image_dev_null_symlink() {
    let mut c = Ctr::new(
        "nullsym",
        &[
            "sh",
            "-c",
            "stat -c '%F %t:%T' /dev/null; wc -c < /proc/keys; wc -c < /proc/timer_list",
        ],
    );
    let rootfs = private_rootfs(&mut c);
    symlink("/proc/self/status", rootfs.join("dev/null")).unwrap();
    c.patch(|cfg| {
        let m = cfg["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["destination"] != "/dev");
        // Without a /dev tmpfs these would land in the image: keep the test to /dev/null.
        m.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev/"));
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(
        stdout(&o),
        "character special file 1:3\n0\n0\n",
        "stderr {}",
        stderr(&o)
    );
}

/// With a terminal, /dev/console exists and is the container's pty.
#[test]
fn the_console_is_the_pty() {
    let mut c = Ctr::new(
        "console",
        &[
            "sh",
            "-c",
            "stat -c %t:%T $(tty); stat -c %t:%T /dev/console; echo ok > /dev/console",
        ],
    );
    c.patch(|cfg| cfg["process"]["terminal"] = json!(true));
    let o = c.run();
    assert_ok(&o, "run");
    let out = stdout(&o).replace("\r\n", "\n");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?} stderr {}", stderr(&o));
    assert_eq!(lines[0], lines[1], "/dev/console is not the pty: {out:?}");
    assert_eq!(lines[2], "ok");
}

/// Runs `script` in a private mount namespace of its own (so host mounts it makes vanish
/// with it), with `$BERTH` set.
fn in_private_mount_ns(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-ec", script])
        .env("BERTH", BERTH)
        .output()
        .unwrap()
}

fn berth_run(c: &Ctr) -> String {
    format!(
        "\"$BERTH\" --root {} run --bundle {} {} </dev/null",
        c.root.path().display(),
        c.bundle.path().display(),
        c.id
    )
}

/// Issue 12 §1: rbind,rro,rnoexec make the bind and the mount below it read-only and
/// noexec (plain ro/noexec would reach the top mount only).
#[test]
fn recursive_mount_attributes_reach_submounts() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path().display();
    let mut c = Ctr::new(
        "rro",
        &[
            "sh",
            "-c",
            "for d in /data /data/sub; do \
               if touch $d/new 2>/dev/null; then echo $d-writable; else echo $d-ro; fi; \
               if $d/bb true 2>/dev/null; then echo $d-exec; else echo $d-noexec; fi; \
             done",
        ],
    );
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": src.path(),
            "options": ["rbind", "rro", "rnoexec"]
        }));
    });
    let o = in_private_mount_ns(&format!(
        "mkdir {s}/sub; mount -t tmpfs tmpfs {s}/sub; \
         cp /bin/busybox {s}/bb; cp /bin/busybox {s}/sub/bb; {}",
        berth_run(&c)
    ));
    assert_ok(&o, "run");
    assert_eq!(
        stdout(&o),
        "/data-ro\n/data-noexec\n/data/sub-ro\n/data/sub-noexec\n"
    );
}

/// `berth features` lists every recursive option it honours (containerd reads rro there).
#[test]
fn features_list_the_recursive_mount_options() {
    let o = Command::new(BERTH).arg("features").output().unwrap();
    assert_ok(&o, "features");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let opts: Vec<&str> = doc["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for o in [
        "rro",
        "rrw",
        "rnoexec",
        "rexec",
        "rnosuid",
        "rsuid",
        "rnodev",
        "rdev",
        "rnoatime",
        "ratime",
        "rnodiratime",
        "rdiratime",
        "rrelatime",
        "rnorelatime",
        "rstrictatime",
        "rnosymfollow",
        "rsymfollow",
    ] {
        assert!(opts.contains(&o), "features lacks {o}: {opts:?}");
    }
}

/// The peer group of the mount at `point` in a mountinfo text (`shared:N`).
fn peer_group(mountinfo: &str, point: &str) -> Option<String> {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))?
        .split(' ')
        .find_map(|f| f.strip_prefix("shared:").map(str::to_string))
}

/// Issue 12 §2 (Kubernetes' Bidirectional): with rootfsPropagation rshared, a rbind,rshared
/// bind stays in the host mount's peer group, and a mount made inside shows on the host.
#[test]
fn rshared_binds_share_mounts_with_the_host() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path().display();
    let mut c = Ctr::new(
        "rshared",
        &[
            "sh",
            "-c",
            "cat /proc/self/mountinfo; mkdir -p /shared/inner; \
             mount -t tmpfs inner /shared/inner",
        ],
    );
    c.with_cap("CAP_SYS_ADMIN");
    c.patch(|cfg| {
        cfg["linux"]["rootfsPropagation"] = json!("rshared");
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": src.path(),
            "options": ["rbind", "rshared"]
        }));
    });
    let o = in_private_mount_ns(&format!(
        "mount -t tmpfs outer {s}; mount --make-shared {s}; \
         echo ==host; cat /proc/self/mountinfo; echo ==container; {}; \
         echo ==after; grep -c ' {s}/inner ' /proc/self/mountinfo",
        berth_run(&c)
    ));
    assert_ok(&o, "run");
    let out = stdout(&o);
    let host = out.split("==host\n").nth(1).unwrap().split("==container\n");
    let mut parts = host;
    let host_info = parts.next().unwrap();
    let rest = parts.next().unwrap();
    let (inside, after) = rest.split_once("==after\n").unwrap();
    let host_group = peer_group(host_info, &s.to_string()).expect("the host mount is shared");
    assert_eq!(
        peer_group(inside, "/shared").as_deref(),
        Some(host_group.as_str()),
        "the container's copy left the host's peer group: {inside}"
    );
    assert_eq!(after, "1\n", "the mount made inside did not reach the host");
}

/// crun accepts rootfsPropagation "unbindable" (berth said EINVAL): the root ends up so.
#[test]
fn unbindable_root_propagation_is_accepted() {
    let mut c = Ctr::new(
        "unbindable",
        &["awk", "$5 == \"/\"", "/proc/self/mountinfo"],
    );
    c.patch(|cfg| cfg["linux"]["rootfsPropagation"] = json!("unbindable"));
    let o = c.run();
    assert_ok(&o, "run");
    assert!(stdout(&o).contains("unbindable"), "{}", stdout(&o));
}

/// In a user namespace without a network namespace of its own, /sys is a bind of the
/// host's: every mount below it (cgroup, securityfs, …) is read-only too, not just the top.
#[test]
fn a_bound_host_sys_is_readonly_all_the_way_down() {
    let mut c = Ctr::new(
        "sysrec",
        &[
            "awk",
            "$5 ~ /^\\/sys/ { n++; if ($6 !~ /^ro/) print \"writable \" $5 } END { print n }",
            "/proc/self/mountinfo",
        ],
    );
    c.without_ns("network");
    c.patch(|cfg| {
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let o = c.run();
    assert_ok(&o, "run");
    let out = stdout(&o);
    assert!(!out.contains("writable"), "{out}");
    let mounts: u32 = out.trim().parse().unwrap();
    assert!(mounts > 1, "no submount of /sys to check: {out}");
}
