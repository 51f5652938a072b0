//! Runtime-spec corners where berth does what runc and crun do (issue 12): the features
//! document, repeated global flags, FIFO devices, blkio on cgroup v1, exec into a config
//! without a `linux` section, and containers without a mount namespace of their own.
//! These tests run as root and start real containers.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// `features` parses as the spec's Features structure and states every section as it is.
#[test]
fn features_document_is_complete_and_true() {
    let o = Command::new(BERTH).arg("features").output().unwrap();
    assert_ok(&o, "features");
    let typed: Result<oci_spec::runtime::Features, _> = serde_json::from_slice(&o.stdout);
    assert!(typed.is_ok(), "not a Features document: {typed:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert_eq!(v["ociVersionMax"], "1.3.0");
    let linux = &v["linux"];
    assert_eq!(
        linux["intelRdt"],
        json!({"enabled": false, "schemata": false})
    );
    assert_eq!(
        linux["memoryPolicy"]["modes"].as_array().map(Vec::len),
        Some(7)
    );
    assert_eq!(
        linux["memoryPolicy"]["flags"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        linux["mountExtensions"],
        json!({"idmap": {"enabled": false}})
    );
    assert_eq!(linux["netDevices"], json!({"enabled": true}));
    assert_eq!(linux["cgroup"]["rdma"], true);
    assert_eq!(
        v["potentiallyUnsafeConfigAnnotations"],
        json!(["dev.berth."])
    );
}

/// What `features` says is not supported is refused at create, not silently ignored.
#[test]
fn unsupported_linux_sections_are_refused() {
    // Without resctrl (spec13.rs checks the message), or berth's own refusal with it.
    let mut c = Ctr::new("unsup", &["true"]);
    c.patch(|cfg| cfg["linux"]["intelRdt"] = json!({"closID": "berth"}));
    assert_one_line_error(&c.create(), &["intelRdt"]);
    assert!(!c.state_dir().exists(), "intelRdt: state left behind");
}

/// Clients put their own --root in front of a user's: the last one wins (runc, crun).
#[test]
fn repeated_root_takes_the_last() {
    let c = Ctr::new("twice", &["true"]);
    let decoy = tempfile::tempdir().unwrap();
    let o = run_detached_stdio({
        let mut cmd = Command::new(BERTH);
        cmd.arg("--root").arg(decoy.path());
        cmd.arg("--root").arg(c.root.path());
        cmd.args(["--debug", "--debug", "create", "--bundle"]);
        cmd.arg(c.bundle.path()).arg(&c.id);
        cmd
    });
    assert_ok(&o, "create with --root twice");
    assert!(c.state_dir().exists(), "state not in the last --root");
    assert!(
        fs::read_dir(decoy.path()).unwrap().next().is_none(),
        "the first --root was used"
    );
    assert_eq!(c.status(), "created");
}

/// A FIFO in linux.devices (type p): the node is made and no cgroup rule is written for it
/// (the v1 controller refuses "p …" rules; the v2 program is never asked about FIFOs).
#[test]
fn fifo_device_is_created_without_a_cgroup_rule() {
    let mut c = Ctr::new(
        "fifo",
        &[
            "sh",
            "-c",
            "ls -ln /dev/myfifo; [ -p /dev/myfifo ] && echo fifo",
        ],
    );
    c.patch(|cfg| {
        cfg["linux"]["devices"] = json!([{
            "path": "/dev/myfifo", "type": "p", "major": 8, "minor": 666,
            "fileMode": 0o640, "uid": 7, "gid": 8
        }]);
        // A deny-all rule for p as a client could write: it must not reach the kernel either.
        cfg["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": false, "type": "p", "access": "rwm"}));
    });
    let o = c.run();
    assert_ok(&o, "run with a FIFO device");
    let out = stdout(&o);
    assert!(
        out.starts_with("prw-r-----") && out.contains(" 7 ") && out.contains(" 8 "),
        "{out}"
    );
    assert!(out.ends_with("fifo\n"), "{out}");
}

/// blkio on cgroup v1 through create: zero weights, empty lists and throttles on a real
/// device run (as runc); a setting the host cannot honour is one error line naming it.
#[test]
fn blkio_settings_apply_what_the_host_offers() {
    let blkio = std::path::Path::new("/sys/fs/cgroup/blkio");
    if !blkio.join("cgroup.procs").exists() {
        eprintln!("skipped: no cgroup v1 blkio hierarchy");
        return;
    }
    let dev = fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("dev")).ok())
        .map(|d| d.trim().to_string())
        .min();
    let Some(dev) = dev else {
        eprintln!("skipped: no block device");
        return;
    };
    let (maj, min) = dev.split_once(':').unwrap();
    let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
    let mut c = Ctr::new("blkio", &["true"]);
    c.patch(|cfg| {
        cfg["linux"]["resources"]["blockIO"] = json!({
            "weight": 0, "leafWeight": 0,
            "weightDevice": [{"major": maj, "minor": min, "weight": 0, "leafWeight": 0}],
            "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
            "throttleWriteBpsDevice": [], "throttleReadIOPSDevice": [],
            "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 300}]
        })
    });
    assert_ok(&c.create(), "create with blkio throttles");
    let dir = blkio.join(c.cgroup.trim_start_matches('/'));
    let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(
        read("blkio.throttle.read_bps_device"),
        format!("{dev} 1048576\n")
    );
    assert_eq!(
        read("blkio.throttle.write_iops_device"),
        format!("{dev} 300\n")
    );
    if !blkio.join("blkio.leaf_weight").exists() {
        let mut c = Ctr::new("blkleaf", &["true"]);
        c.patch(|cfg| cfg["linux"]["resources"]["blockIO"] = json!({"leafWeight": 300}));
        assert_one_line_error(&c.create(), &["blockIO.leafWeight", "not supported"]);
    }
}

/// A rootfs of the test's own: a container without a mount namespace leaves its mounts in
/// the caller's namespace (as runc and crun do), under this rootfs; dropping it detaches
/// them and removes the tree.
struct OwnRootfs(tempfile::TempDir);

impl OwnRootfs {
    fn new(marker: &str) -> OwnRootfs {
        let t = tempfile::Builder::new()
            .prefix("berth-ownroot-")
            .tempdir()
            .unwrap();
        common::rootfs::write(t.path());
        fs::write(t.path().join("etc/marker"), marker).unwrap();
        OwnRootfs(t)
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for OwnRootfs {
    fn drop(&mut self) {
        // The self-bind holds every mount the container made: one lazy unmount frees all.
        while nix::mount::umount2(self.path(), nix::mount::MntFlags::MNT_DETACH).is_ok() {}
    }
}

/// The config of a container that shares the caller's mount namespace: no `mount` entry,
/// and no masked or read-only paths (runc refuses those without a mount namespace).
fn sharing_mounts(c: &mut Ctr, root: &OwnRootfs) {
    let path = root.path().to_path_buf();
    c.without_ns("mount").patch(|cfg| {
        cfg["root"] = json!({"path": path, "readonly": true});
        let linux = cfg["linux"].as_object_mut().unwrap();
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
    });
}

/// The mountinfo line of this process's "/".
fn root_mount_line() -> String {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap()
        .to_string()
}

fn host_mnt_ns() -> String {
    fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// No mount namespace: the container runs in the caller's mount namespace, chrooted into
/// its rootfs with its mounts; exec lands in the same root.
#[test]
fn without_a_mount_namespace_the_callers_is_shared() {
    let root = OwnRootfs::new("own-root");
    let mut c = Ctr::new("nomnt", &["sleep", "60"]);
    sharing_mounts(&mut c, &root);
    let slash = root_mount_line();
    c.create_and_start();
    // The caller's "/" (its propagation included) is left as it was.
    assert_eq!(root_mount_line(), slash);
    let script = "readlink /proc/self/ns/mnt; cat /etc/marker; echo; \
                  [ -d /proc/1 ] && [ -e /dev/null ] && echo mounts-ok";
    let o = c.cmd(&["exec", &c.id, "sh", "-c", script]);
    assert_ok(&o, "exec");
    assert_eq!(
        stdout(&o),
        format!("{}\nown-root\nmounts-ok\n", host_mnt_ns())
    );
    // The host sees the container's /proc under the rootfs: the namespace is shared.
    assert!(
        root.path().join("proc/1/ns").exists(),
        "no container proc under the rootfs on the host"
    );
    assert!(!mounts_under(root.path()).is_empty());
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    // Unlike runc, the container's mounts leave with it.
    assert_eq!(mounts_under(root.path()), Vec::<String>::new());
}

/// The mount points at or under `dir` in the test's mount namespace.
fn mounts_under(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    host_mount_points()
        .into_iter()
        .filter(|m| m == dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

/// Without a mount namespace, a create that fails after some mounts were made takes them
/// all back from the caller's namespace.
#[test]
fn without_a_mount_namespace_a_failed_create_leaves_no_mount() {
    let root = OwnRootfs::new("failed");
    let mut c = Ctr::new("nomntfail", &["true"]);
    sharing_mounts(&mut c, &root);
    c.patch(|cfg| {
        // After /proc, /dev and the others: the last mount fails.
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt",
            "type": "bind",
            "source": "/nonexistent-berth-source",
            "options": ["bind"]
        }));
    });
    assert_one_line_error(&c.create(), &["nonexistent-berth-source"]);
    assert!(!c.state_dir().exists(), "state left behind");
    assert_eq!(mounts_under(root.path()), Vec::<String>::new());
}

/// Without a mount namespace, a create killed while its mounts are made is cleaned up by
/// `delete --force`, mounts included.
#[test]
fn without_a_mount_namespace_delete_of_a_half_made_container_leaves_no_mount() {
    let root = OwnRootfs::new("half");
    let mut c = Ctr::new("nomnthalf", &["true"]);
    sharing_mounts(&mut c, &root);
    let marker = c.bundle.path().join("hook-pid");
    let script = format!(
        "echo $$ > {}.tmp && mv {0}.tmp {0} && exec sleep 60",
        marker.display()
    );
    c.patch(|cfg| {
        cfg["hooks"] =
            json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
    });
    let mut create = c.berth();
    create
        .arg("create")
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut create = create.spawn().unwrap();
    // The hook runs once every mount is made.
    wait_until(
        "the createRuntime hook",
        std::time::Duration::from_secs(60),
        || marker.exists(),
    );
    create.kill().unwrap();
    create.wait().unwrap();
    let hook: i32 = fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hook),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = fs::remove_file(&marker);
    assert!(!mounts_under(root.path()).is_empty());
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    assert_eq!(mounts_under(root.path()), Vec::<String>::new());
}

/// Masked and read-only paths without a mount namespace are refused, as runc does.
#[test]
fn without_a_mount_namespace_masks_are_refused() {
    let mut c = Ctr::new("nomntmask", &["true"]);
    c.without_ns("mount");
    assert_one_line_error(&c.create(), &["maskedPaths", "mount namespace"]);
    assert!(!c.state_dir().exists(), "state left behind");
}

/// A config without a `linux` section: no namespace at all, and exec into it works (it
/// failed with EINVAL from setns with no namespace to join).
#[test]
fn exec_into_a_container_without_linux_section() {
    let root = OwnRootfs::new("no-linux");
    let mut c = Ctr::new("nolinux", &["sleep", "60"]);
    let path = root.path().to_path_buf();
    c.patch(|cfg| {
        cfg["root"] = json!({"path": path, "readonly": true});
        // Without linux.namespaces nothing is new: a hostname would be the host's (refused).
        cfg.as_object_mut().unwrap().remove("linux");
        cfg.as_object_mut().unwrap().remove("hostname");
    });
    c.create_and_start();
    let o = c.cmd(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "cat /etc/marker; echo; readlink /proc/self/ns/mnt",
    ]);
    assert_ok(&o, "exec without linux");
    assert_eq!(stdout(&o), format!("no-linux\n{}\n", host_mnt_ns()));
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
}

/// A mount namespace joined by path: the container sets itself up inside that namespace
/// (runc), which here is a namespace held by a bind of its nsfs file.
#[test]
fn a_mount_namespace_joined_by_path_is_used() {
    let holder = tempfile::Builder::new()
        .prefix("berth-mntns-")
        .tempdir()
        .unwrap();
    let dir = holder.path();
    let sh = |script: &str| {
        let o = Command::new("sh").args(["-c", script]).output().unwrap();
        assert_ok(&o, script);
    };
    // unshare --mount=FILE needs FILE on a private mount.
    sh(&format!(
        "mount --bind {d} {d} && mount --make-private {d} && touch {d}/mnt && unshare --mount={d}/mnt true",
        d = dir.display()
    ));
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0.join("mnt"), nix::mount::MntFlags::MNT_DETACH);
            let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _unmount = Unmount(dir);
    let ns_file = dir.join("mnt");
    use std::os::unix::fs::MetadataExt;
    let want = format!("mnt:[{}]", fs::metadata(&ns_file).unwrap().ino());
    let mut c = Ctr::new("joinmnt", &["readlink", "/proc/self/ns/mnt"]);
    c.patch(|cfg| {
        for ns in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "mount" {
                ns["path"] = json!(ns_file);
            }
        }
    });
    let o = c.run();
    assert_ok(&o, "run in a joined mount namespace");
    assert_eq!(stdout(&o), format!("{want}\n"));
    c.assert_nothing_left();
}

#[test]
fn hostname_without_a_uts_namespace_is_refused() {
    let before = nix_hostname();
    let mut c = Ctr::new("noutsname", &["true"]);
    c.without_ns("uts");
    c.patch(|cfg| cfg["hostname"] = json!("renamed-by-berth-test"));
    assert_one_line_error(&c.create(), &["hostname", "UTS namespace"]);
    assert!(!c.state_dir().exists(), "state left behind");
    assert_eq!(nix_hostname(), before, "the host was renamed");
}

fn nix_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").unwrap()
}
