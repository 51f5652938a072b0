//! Mounts as the runtime spec sees them, checked for real: binds from the host (rw, ro),
//! tmpfs options, unknown types refused, a relative root path, mount isolation both ways, a
//! read-only root, recursive mount attributes and propagation. Each test runs real
//! containers as root (docs/SECURITY.md, docs/testing.md).

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use serde_json::json;

/// A private bind of the shared rootfs with a host tmpfs under it; unmounted on drop.
struct HostMounts {
    dir: tempfile::TempDir,
}

impl HostMounts {
    fn new() -> HostMounts {
        let dir = tempfile::Builder::new()
            .prefix("berth-hostmnt-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let sh = |args: &[&str]| {
            let st = Command::new("mount").args(args).status().unwrap();
            assert!(st.success(), "mount {args:?}");
        };
        let ds = d.to_str().unwrap();
        sh(&["--bind", rootfs().to_str().unwrap(), ds]);
        // Private first: a tmpfs on a shared peer would propagate into the shared rootfs.
        sh(&["--make-private", ds]);
        sh(&["-t", "tmpfs", "hosttmp", &format!("{ds}/mnt")]);
        fs::write(d.join("mnt/host-marker"), "host").unwrap();
        HostMounts { dir }
    }
}

impl Drop for HostMounts {
    fn drop(&mut self) {
        let d = self.dir.path();
        let _ = Command::new("umount").arg(d.join("mnt")).status();
        let _ = Command::new("umount").arg(d).status();
    }
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

/// The peer group of the mount at `point` in a mountinfo text (`shared:N`).
fn peer_group(mountinfo: &str, point: &str) -> Option<String> {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))?
        .split(' ')
        .find_map(|f| f.strip_prefix("shared:").map(str::to_string))
}

#[test]
fn relative_root_path_resolves_against_the_bundle() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("relroot", &["echo", "relative"]);
    std::os::unix::fs::symlink(rootfs(), c.bundle.path().join("rootfs")).unwrap();
    c.patch(|cfg| cfg["root"]["path"] = json!("rootfs"));
    assert_eq!(run_ok(&c), "relative\n");
}

#[test]
fn bind_mounts_rw_and_ro_from_the_host() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "binds",
        &[
            "sh",
            "-c",
            "cat /tmp/rw/in; echo out > /tmp/rw/out; \
             if echo x > /tmp/ro/x; then echo ro-writable; else echo ro-denied; fi; cat /tmp/ro/in",
        ],
    );
    let rw = c.bundle.path().join("rw");
    let ro = c.bundle.path().join("ro");
    fs::create_dir(&rw).unwrap();
    fs::create_dir(&ro).unwrap();
    fs::write(rw.join("in"), "rw-in\n").unwrap();
    fs::write(ro.join("in"), "ro-in\n").unwrap();
    c.patch(|cfg| {
        let m = cfg["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/tmp/rw", "type": "bind", "source": rw, "options": ["rbind", "rw"]}));
        m.push(json!({"destination": "/tmp/ro", "type": "bind", "source": ro, "options": ["bind", "ro"]}));
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "rw-in\nro-denied\nro-in\n");
    assert_eq!(fs::read_to_string(rw.join("out")).unwrap(), "out\n");
    assert!(!ro.join("x").exists());
    c.assert_nothing_left();
}

#[test]
fn tmpfs_mount_options_apply() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "tmpfsopts",
        &[
            "sh",
            "-c",
            "stat -c %a /tmp/t; grep ' /tmp/t ' /proc/self/mountinfo",
        ],
    );
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp/t", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "mode=0710", "size=1m"]
        }));
    });
    let out = run_ok(&c);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("710"), "{out}");
    let mi = lines.next().unwrap_or_default();
    for opt in ["nosuid", "nodev", "noexec"] {
        assert!(
            mi.split(' ').nth(5).unwrap().contains(opt),
            "{opt} missing: {mi}"
        );
    }
    assert!(mi.contains("size=1024k"), "{mi}");
}

#[test]
fn unknown_mount_type_fails_cleanly_at_create() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("badmount", &["true"]);
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp/x", "type": "no-such-fs", "source": "none"
        }));
    });
    let o = c.create();
    assert_one_line_error(&o, &["/tmp/x"]);
    c.assert_nothing_left();
}

#[test]
fn mount_inside_is_invisible_on_the_host() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "mntiso",
        &[
            "sh",
            "-c",
            "mount -t tmpfs none /mnt && touch /mnt/marker && echo ready && sleep 100",
        ],
    );
    c.with_cap("CAP_SYS_ADMIN");
    // The container's stdio is create's (as in runc): give it a pipe it keeps.
    let mut create = c
        .berth()
        .arg("create")
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = create.stdout.take().unwrap();
    assert!(create.wait().unwrap().success());
    assert_ok(&c.start(), "start");
    let mut line = String::new();
    BufReader::new(pipe).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    assert_eq!(c.status(), "running");
    assert!(!rootfs().join("mnt/marker").exists());
    let rootfs = rootfs().to_string_lossy().into_owned();
    for m in host_mount_points() {
        assert!(
            !m.starts_with(&rootfs),
            "container mount {m} visible on the host"
        );
    }
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    c.assert_nothing_left();
}

#[test]
fn host_mounts_under_the_rootfs_are_not_affected() {
    if !need_root() {
        return;
    }
    let host = HostMounts::new();
    let mut c = Ctr::new(
        "hostmnt",
        &[
            "sh",
            "-c",
            "cat /mnt/host-marker; echo; umount /mnt && ls /mnt | wc -l",
        ],
    );
    c.with_cap("CAP_SYS_ADMIN");
    c.patch(|cfg| cfg["root"]["path"] = json!(host.dir.path()));
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "host\n0\n");
    // The container's umount did not propagate to the host.
    assert_eq!(
        fs::read_to_string(host.dir.path().join("mnt/host-marker")).unwrap(),
        "host"
    );
    let mnt = host.dir.path().join("mnt").to_string_lossy().into_owned();
    assert!(host_mount_points().contains(&mnt));
}

#[test]
fn readonly_root_is_unwritable_and_tmp_is_writable() {
    if !need_root() {
        return;
    }
    let c = Ctr::new(
        "rootro",
        &[
            "sh",
            "-c",
            "if touch /etc/x 2>/dev/null; then echo root-writable; else echo root-ro; fi; \
             echo hi > /tmp/f && cat /tmp/f",
        ],
    );
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "root-ro\nhi\n");
}

/// Issue 12 §1: rbind,rro,rnoexec make the bind and the mount below it read-only and
/// noexec (plain ro/noexec would reach the top mount only).
#[test]
fn recursive_mount_attributes_reach_submounts() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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

/// Issue 12 §2 (Kubernetes' Bidirectional): with rootfsPropagation rshared, a rbind,rshared
/// bind stays in the host mount's peer group, and a mount made inside shows on the host.
#[test]
fn rshared_binds_share_mounts_with_the_host() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "unbindable",
        &["awk", "$5 == \"/\"", "/proc/self/mountinfo"],
    );
    c.patch(|cfg| cfg["linux"]["rootfsPropagation"] = json!("unbindable"));
    let o = c.run();
    assert_ok(&o, "run");
    assert!(stdout(&o).contains("unbindable"), "{}", stdout(&o));
}
