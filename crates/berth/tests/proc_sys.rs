//! /proc and /sys as an attacker sees them, checked for real: binds into /proc (directly and
//! through an image symlink), writes to /proc that a mount redirects, read-only and masked
//! paths (with nested mounts and a symlinked /dev/null), and a bound host /sys read-only all
//! the way down. Each test runs real containers as root (docs/SECURITY.md).

mod common;

use std::fs;
use std::os::unix::fs::symlink;

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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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

/// In a user namespace without a network namespace of its own, /sys is a bind of the
/// host's: every mount below it (cgroup, securityfs, …) is read-only too, not just the top.
#[test]
fn a_bound_host_sys_is_readonly_all_the_way_down() {
    if !need_root() {
        return;
    }
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

#[test]
fn masked_paths_are_unreadable() {
    if !need_root() {
        return;
    }
    // /proc/kcore and /proc/sysrq-trigger do not exist on every kernel (not on this VM's):
    // use masked paths that do, plus a file and a directory of the rootfs.
    let mut c = Ctr::new(
        "masked",
        &[
            "sh",
            "-c",
            "wc -c < /proc/keys; wc -c < /proc/timer_list; wc -c < /etc/passwd; \
             ls -A /home | wc -l; \
             grep -c -E ' /proc/(keys|timer_list) ' /proc/self/mountinfo",
        ],
    );
    c.patch(|cfg| {
        let m = cfg["linux"]["maskedPaths"].as_array_mut().unwrap();
        m.push(json!("/etc/passwd"));
        m.push(json!("/home"));
        m.push(json!("/does/not/exist"));
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "0\n0\n0\n0\n2\n", "stderr {:?}", stderr(&o));
}

#[test]
fn readonly_paths_are_unwritable_even_with_cap_sys_admin() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "rdonly",
        &[
            "sh",
            "-c",
            "if echo x > /proc/sys/kernel/hostname; then echo hostname-writable; \
             else echo hostname-denied; fi; \
             if touch /dev/shm/x; then echo shm-writable; else echo shm-denied; fi; \
             hostname; \
             for p in /proc/sys /proc/bus /proc/fs /proc/irq /dev/shm; do \
               grep \" $p \" /proc/self/mountinfo | tail -n 1 | cut -d' ' -f6 | cut -d, -f1; done",
        ],
    );
    c.with_cap("CAP_SYS_ADMIN");
    c.patch(|cfg| {
        cfg["hostname"] = json!("unchanged");
        cfg["linux"]["readonlyPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/dev/shm"));
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(
        stdout(&o),
        "hostname-denied\nshm-denied\nunchanged\nro\nro\nro\nro\nro\n"
    );
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
}
