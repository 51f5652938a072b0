//! Namespaces: new ones (network with loopback only, up; uts with hostname and domainname;
//! pid with the init as pid 1), namespaces joined by path (and a missing or wrong-typed path
//! refused), and containers without a mount namespace of their own (they share the caller's,
//! leave no mount behind, refuse masks, and `exec` lands in the same root). Real containers:
//! these tests run as root.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

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
        while rustix::mount::unmount(self.path(), rustix::mount::UnmountFlags::DETACH).is_ok() {}
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

/// The mount points at or under `dir` in the test's mount namespace.
fn mounts_under(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    host_mount_points()
        .into_iter()
        .filter(|m| m == dir || m.starts_with(&format!("{dir}/")))
        .collect()
}

fn nix_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").unwrap()
}

#[test]
fn new_network_namespace_has_only_loopback() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("netns", &["ls", "/sys/class/net"]);
    assert_eq!(run_ok(&c), "lo\n");
}

#[test]
fn domainname_and_sysctl_apply() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "sysctl",
        &[
            "sh",
            "-c",
            "cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_unprivileged_port_start",
        ],
    );
    c.patch(|cfg| {
        cfg["domainname"] = json!("example.test");
        cfg["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "80"});
    });
    assert_eq!(run_ok(&c), "example.test\n80\n");
}

#[test]
fn joining_a_namespace_by_path_shares_it() {
    if !need_root() {
        return;
    }
    let a = Ctr::new("nsowner", &["sleep", "100"]);
    a.create_and_start();
    let pid = a.pid();
    let mut b = Ctr::new("nsjoiner", &["readlink", "/proc/self/ns/net"]);
    b.patch(|cfg| {
        for n in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!(format!("/proc/{pid}/ns/net"));
            }
        }
    });
    let out = run_ok(&b);
    let want = fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(out.trim(), want.to_str().unwrap());
    assert_ne!(
        fs::read_link("/proc/self/ns/net").unwrap(),
        want,
        "container A should have its own netns"
    );
}

#[test]
fn joining_a_missing_namespace_path_fails_cleanly() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("nsmissing", &["true"]);
    c.patch(|cfg| {
        for n in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!("/proc/999999999/ns/net");
            }
        }
    });
    let o = c.create();
    assert_one_line_error(&o, &["/proc/999999999/ns/net"]);
    c.assert_nothing_left();
}

#[test]
fn hostname_is_set() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("host", &["hostname"]);
    c.patch(|cfg| cfg["hostname"] = json!("box-under-test"));
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "box-under-test\n");
    assert_ne!(
        fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim(),
        "box-under-test"
    );
}

#[test]
fn init_is_pid_1_in_its_pid_namespace() {
    if !need_root() {
        return;
    }
    let c = Ctr::new(
        "pid1",
        &["sh", "-c", "echo $$; ps -o pid | tail -n +2 | wc -l"],
    );
    let o = c.run();
    assert_ok(&o, "run");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "{out}");
    // Only the shell, ps and its pipeline partners: no host process is visible.
    let n: usize = lines[1].trim().parse().unwrap();
    assert!(n <= 4, "{n} processes visible: {out}");
}

/// A network namespace berth creates has `lo` up (as runc's): 127.0.0.1 answers inside, and
/// nothing else is there.
#[test]
fn a_new_network_namespace_has_loopback_up() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "lo-up",
        &[
            "sh",
            "-c",
            "cat /sys/class/net/lo/flags; ls /sys/class/net; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping-ok",
        ],
    );
    // busybox ping opens a raw socket.
    c.with_cap("CAP_NET_RAW");
    let o = c.run();
    assert_ok(&o, "run");
    // IFF_UP | IFF_LOOPBACK
    assert_eq!(stdout(&o), "0x9\nlo\nping-ok\n");
    c.assert_nothing_left();
}

/// A namespace path of another type than declared is a clear create error (setns gets the
/// declared type); the right type joins.
#[test]
fn namespace_path_of_the_wrong_type_is_refused() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("ns-type", &["true"]);
    c.without_ns("cgroup").patch(|cfg| {
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup", "path": "/proc/self/ns/ipc"}));
    });
    let o = c.create();
    assert_one_line_error(
        &o,
        &["cgroup namespace", "/proc/self/ns/ipc", "not a cgroup"],
    );
    c.assert_nothing_left();

    let host_uts = fs::read_link("/proc/self/ns/uts").unwrap();
    let mut c = Ctr::new("ns-type-ok", &["readlink", "/proc/self/ns/uts"]);
    c.without_ns("uts").patch(|cfg| {
        cfg["hostname"] = Value::Null;
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "uts", "path": "/proc/self/ns/uts"}));
    });
    let o = c.run();
    assert_ok(&o, "run joining the host's uts namespace");
    assert_eq!(stdout(&o).trim(), host_uts.to_str().unwrap());
}

/// No mount namespace: the container runs in the caller's mount namespace, chrooted into
/// its rootfs with its mounts; exec lands in the same root.
#[test]
fn without_a_mount_namespace_the_callers_is_shared() {
    if !need_root() {
        return;
    }
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

/// Without a mount namespace, a create that fails after some mounts were made takes them
/// all back from the caller's namespace.
#[test]
fn without_a_mount_namespace_a_failed_create_leaves_no_mount() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(hook).expect("a pid"),
        rustix::process::Signal::KILL,
    );
    let _ = fs::remove_file(&marker);
    assert!(!mounts_under(root.path()).is_empty());
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    assert_eq!(mounts_under(root.path()), Vec::<String>::new());
}

/// Masked and read-only paths without a mount namespace are refused, as runc does.
#[test]
fn without_a_mount_namespace_masks_are_refused() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("nomntmask", &["true"]);
    c.without_ns("mount");
    assert_one_line_error(&c.create(), &["maskedPaths", "mount namespace"]);
    assert!(!c.state_dir().exists(), "state left behind");
}

/// A config without a `linux` section: no namespace at all, and exec into it works (it
/// failed with EINVAL from setns with no namespace to join).
#[test]
fn exec_into_a_container_without_linux_section() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
            let _ = rustix::mount::unmount(self.0.join("mnt"), rustix::mount::UnmountFlags::DETACH);
            let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
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
    if !need_root() {
        return;
    }
    let before = nix_hostname();
    let mut c = Ctr::new("noutsname", &["true"]);
    c.without_ns("uts");
    c.patch(|cfg| cfg["hostname"] = json!("renamed-by-berth-test"));
    assert_one_line_error(&c.create(), &["hostname", "UTS namespace"]);
    assert!(!c.state_dir().exists(), "state left behind");
    assert_eq!(nix_hostname(), before, "the host was renamed");
}
