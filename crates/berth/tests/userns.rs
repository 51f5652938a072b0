//! User-namespace pods as containerd 2.3 starts them (issue 14 §4) and idmapped mounts:
//! the captured configs (tests/scripts/fixtures/client-configs/containerd-2.3) with their
//! paths moved to a scratch pod, a pinned user namespace joined by path, idmapped binds on
//! a plain directory and on overlayfs, and a new user namespace on the host network whose
//! bind sources sit under a 0700 directory. These tests run as root and start real
//! containers.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// The pods' mapping: container ids 0..65536 are host ids 200000..265536.
const HOST_ROOT: u32 = 200000;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scripts/fixtures/client-configs/containerd-2.3")
        .join(name);
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

fn run(cmd: &str, args: &[&str]) {
    let o = Command::new(cmd).args(args).output().unwrap();
    assert_ok(&o, &format!("{cmd} {args:?}"));
}

/// What containerd keeps for a pod, in a scratch directory: the image's rootfs owned by the
/// pod's root (containerd idmaps or chowns the layers before the runtime sees them), the
/// sandbox's files under a 0700 directory as containerd's are, a hostPath volume, and
/// mounts made here (pinned namespaces, an overlay) taken down when dropped.
struct Pod {
    dir: TempDir,
    mounts: Vec<PathBuf>,
}

impl Pod {
    fn new() -> Pod {
        let dir = tempfile::Builder::new()
            .prefix("berth-pod-")
            .tempdir()
            .unwrap();
        // Traversable, as containerd's state directories: the pod's root must reach its rootfs.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
        let p = Pod {
            dir,
            mounts: Vec::new(),
        };
        common::rootfs::write(&p.rootfs());
        let ids = format!("{HOST_ROOT}:{HOST_ROOT}");
        run("chown", &["-R", "-h", &ids, p.rootfs().to_str().unwrap()]);
        let sandbox = p.sandbox();
        fs::create_dir_all(sandbox.join("shm")).unwrap();
        fs::set_permissions(&sandbox, fs::Permissions::from_mode(0o700)).unwrap();
        for f in ["hosts", "hostname", "resolv.conf"] {
            fs::write(sandbox.join(f), format!("{f} of the pod\n")).unwrap();
        }
        fs::create_dir_all(p.path("hostpath")).unwrap();
        fs::write(p.path("hostpath/f"), "volume\n").unwrap();
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn rootfs(&self) -> PathBuf {
        self.path("rootfs")
    }

    fn sandbox(&self) -> PathBuf {
        self.path("sandbox")
    }

    /// Pins a new user namespace with the pods' mapping and a network namespace it owns, as
    /// containerd 2.3 does for a pod: (user, net) files.
    fn pin_namespaces(&mut self) -> (PathBuf, PathBuf) {
        let holder = Command::new("unshare")
            .args(["--user", "--net", "sh", "-c", "read x"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = holder.id();
        wait_until(
            "the namespace holder",
            std::time::Duration::from_secs(5),
            || {
                fs::read_link(format!("/proc/{pid}/ns/user")).ok()
                    != fs::read_link("/proc/self/ns/user").ok()
            },
        );
        let map = format!("0 {HOST_ROOT} 65536\n");
        fs::write(format!("/proc/{pid}/uid_map"), &map).unwrap();
        fs::write(format!("/proc/{pid}/gid_map"), &map).unwrap();
        let user = self.pin(pid, "user");
        let net = self.pin(pid, "net");
        end(holder);
        (user, net)
    }

    fn pin(&mut self, pid: u32, ns: &str) -> PathBuf {
        let file = self.path(&format!("pinned-{ns}"));
        fs::write(&file, "").unwrap();
        let from = format!("/proc/{pid}/ns/{ns}");
        run("mount", &["--bind", &from, file.to_str().unwrap()]);
        self.mounts.push(file.clone());
        file
    }

    /// A fixture config moved into this pod: its rootfs, sources, cgroup and namespaces.
    /// `ns_pid`: the sandbox whose /proc/<pid>/ns/* a container joins; `pinned`: the
    /// sandbox's pinned user and network namespaces.
    fn adapt(
        &self,
        c: &mut Ctr,
        name: &str,
        ns_pid: Option<i32>,
        pinned: Option<&(PathBuf, PathBuf)>,
    ) {
        let mut cfg = fixture(name);
        cfg["root"]["path"] = json!(self.rootfs());
        // The pause image's program and a container's shell, from busybox.
        cfg["process"]["args"] = json!(["sleep", "600"]);
        cfg["linux"]["cgroupsPath"] = json!(c.cgroup);
        for m in cfg["mounts"].as_array_mut().unwrap() {
            let src = m["source"].as_str().unwrap_or("").to_string();
            if src.contains("/sandboxes/") {
                let last = src.rsplit('/').next().unwrap();
                m["source"] = json!(self.sandbox().join(last));
            } else if m["destination"] == "/data" {
                m["source"] = json!(self.path("hostpath"));
            }
        }
        for ns in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            let Some(path) = ns["path"].as_str() else {
                continue;
            };
            // /proc/<pause pid>/ns/<file>: the same file of our sandbox.
            let file = path.rsplit('/').next().unwrap();
            ns["path"] = match (ns_pid, pinned, ns["type"].as_str().unwrap()) {
                (Some(pid), _, _) => json!(format!("/proc/{pid}/ns/{file}")),
                (None, Some((user, _)), "user") => json!(user),
                (None, Some((_, net)), "network") => json!(net),
                (_, _, t) => panic!("no stand-in for the {t} namespace at {path}"),
            };
        }
        c.config = cfg;
        c.write();
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg(m).status();
        }
    }
}

fn end(mut holder: Child) {
    drop(holder.stdin.take());
    let _ = holder.wait();
}

/// A host process's effective uid and gid (/proc/<pid>/status).
fn host_ids(pid: i32) -> (u32, u32) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u32 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    (field("Uid:"), field("Gid:"))
}

fn exec(c: &Ctr, script: &str) -> String {
    let o = c.cmd(&["exec", &c.id, "sh", "-c", script]);
    assert_ok(&o, &format!("exec {script}"));
    stdout(&o)
}

/// The checks every pod's container passes: it runs as the mapped root on the host, sees
/// the image and the idmapped /etc files as its root's, the hostPath as nobody's, and its
/// /etc/hosts is an idmapped mount.
fn check_container(c: &Ctr) {
    assert_eq!(
        host_ids(c.pid()),
        (HOST_ROOT, HOST_ROOT),
        "the container's host ids"
    );
    let out = exec(
        c,
        "id -u; cat /proc/self/uid_map; stat -c '%u:%g' / /bin/busybox /etc/hosts /data/f; \
         cat /etc/hosts; grep ' /etc/hosts ' /proc/self/mountinfo",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    // The image is the pod root's; /etc/hosts (host root's file) shows as root's through
    // its idmapped bind; the hostPath (no mapping) as nobody's.
    assert_eq!(lines[2..6], ["0:0", "0:0", "0:0", "65534:65534"], "{out}");
    assert_eq!(lines[6], "hosts of the pod");
    assert!(
        lines[7].contains("idmapped"),
        "/etc/hosts is not idmapped: {out}"
    );
}

fn delete(c: &Ctr) {
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    c.assert_nothing_left();
}

/// containerd 2.3's user-namespace pod: the sandbox joins the pod's pinned user namespace
/// (by path, with the mappings) and network namespace and makes its pid namespace, which
/// must belong to the joined user namespace; the container joins the sandbox's.
#[test]
fn containerd_userns_pod_runs_with_the_mapped_ids() {
    if !need_root() {
        return;
    }
    let mut pod = Pod::new();
    let pinned = pod.pin_namespaces();
    let mut sandbox = Ctr::new("k8s-userns-sb", &["true"]);
    pod.adapt(&mut sandbox, "userns-sandbox.json", None, Some(&pinned));
    sandbox.create_and_start();
    // The pause process runs as user 65535 of the pod: 265535 on the host.
    assert_eq!(
        host_ids(sandbox.pid()),
        (HOST_ROOT + 65535, HOST_ROOT + 65535)
    );
    let mut ctr = Ctr::new("k8s-userns-ctr", &["true"]);
    pod.adapt(&mut ctr, "userns-container.json", Some(sandbox.pid()), None);
    ctr.create_and_start();
    check_container(&ctr);
    // The container's processes are in the sandbox's pid namespace: its `sleep` is there.
    assert!(
        exec(&ctr, "ps -o comm")
            .lines()
            .filter(|l| l.trim() == "sleep")
            .count()
            >= 2
    );
    delete(&ctr);
    delete(&sandbox);
}

/// containerd 2.3's user-namespace pod on the host network: the sandbox makes a new user
/// namespace itself, and its /dev/shm and /etc/resolv.conf come from a 0700 directory the
/// pod's root cannot enter: berth opens them before the clone.
#[test]
fn containerd_userns_hostnet_pod_binds_sources_it_cannot_reach() {
    if !need_root() {
        return;
    }
    let pod = Pod::new();
    let mut sandbox = Ctr::new("k8s-hostnet-sb", &["true"]);
    pod.adapt(&mut sandbox, "userns-hostnet-sandbox.json", None, None);
    sandbox.create_and_start();
    assert_eq!(
        host_ids(sandbox.pid()),
        (HOST_ROOT + 65535, HOST_ROOT + 65535)
    );
    let shm = exec(
        &sandbox,
        "cat /etc/resolv.conf; grep -c ' /dev/shm ' /proc/self/mountinfo",
    );
    assert_eq!(shm, "resolv.conf of the pod\n1\n");
    let mut ctr = Ctr::new("k8s-hostnet-ctr", &["true"]);
    pod.adapt(
        &mut ctr,
        "userns-hostnet-container.json",
        Some(sandbox.pid()),
        None,
    );
    ctr.create_and_start();
    check_container(&ctr);
    // The host's network: the container sees the host's interfaces.
    let host_links = fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(
        exec(&ctr, "ls /sys/class/net | wc -l").trim(),
        host_links.to_string()
    );
    delete(&ctr);
    delete(&sandbox);
}

/// Mappings that are not the joined user namespace's are refused, naming both.
#[test]
fn a_joined_user_namespace_with_other_mappings_is_refused() {
    if !need_root() {
        return;
    }
    let mut pod = Pod::new();
    let pinned = pod.pin_namespaces();
    let mut sandbox = Ctr::new("k8s-mismatch", &["true"]);
    pod.adapt(&mut sandbox, "userns-sandbox.json", None, Some(&pinned));
    sandbox.patch(|c| c["linux"]["uidMappings"][0]["hostID"] = json!(300000));
    assert_one_line_error(
        &sandbox.create(),
        &[
            "uidMappings",
            "0 300000 65536",
            "0 200000 65536",
            "pinned-user",
        ],
    );
    sandbox.assert_nothing_left();
}

/// A container on the pod's rootfs in a new user namespace with the pods' mapping and
/// `mounts` added.
fn idmapped_ctr(pod: &Pod, tag: &str, script: &str, mounts: Vec<Value>) -> Ctr {
    let mut c = Ctr::new(tag, &["sh", "-c", script]);
    let map = json!([{"containerID": 0, "hostID": HOST_ROOT, "size": 65536}]);
    c.patch(|cfg| {
        cfg["root"]["path"] = json!(pod.rootfs());
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        cfg["linux"]["uidMappings"] = map.clone();
        cfg["linux"]["gidMappings"] = map;
        cfg["mounts"].as_array_mut().unwrap().extend(mounts);
    });
    c
}

/// Host root's files on a plain directory bound idmapped (the mount's own mappings, and
/// `ridmap` with the container's): the container's root sees them as its own and writes
/// files that are host root's; bound without a mapping they are nobody's and read-only.
/// A tmpfs mounted below the directory is idmapped with `ridmap` (AT_RECURSIVE) only.
#[test]
fn idmapped_binds_on_a_plain_dir() {
    if !need_root() {
        return;
    }
    let mut pod = Pod::new();
    fs::create_dir_all(pod.path("plain/sub")).unwrap();
    fs::write(pod.path("plain/f"), "plain\n").unwrap();
    let sub = pod.path("plain/sub");
    run("mount", &["-t", "tmpfs", "tmpfs", sub.to_str().unwrap()]);
    pod.mounts.push(sub.clone());
    fs::write(sub.join("g"), "below\n").unwrap();
    let map = json!([{"containerID": 0, "hostID": HOST_ROOT, "size": 65536}]);
    let c = idmapped_ctr(
        &pod,
        "idmap",
        "stat -c '%u:%g' /plain/f /rplain/f /raw/f /plain/sub/g /rplain/sub/g && \
         touch /plain/new && \
         (touch /raw/new 2>/dev/null && echo raw-writable || echo raw-refused)",
        vec![
            json!({"destination": "/plain", "type": "bind", "source": pod.path("plain"),
                   "options": ["rbind"], "uidMappings": map, "gidMappings": map}),
            json!({"destination": "/rplain", "type": "bind", "source": pod.path("plain"),
                   "options": ["rbind", "ridmap"]}),
            json!({"destination": "/raw", "type": "bind", "source": pod.path("plain"),
                   "options": ["bind"]}),
        ],
    );
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(
        stdout(&o),
        "0:0\n0:0\n65534:65534\n65534:65534\n0:0\nraw-refused\n"
    );
    let m = fs::metadata(pod.path("plain/new")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "the new file as the host sees it"
    );
}

/// An overlay mount bound idmapped: where the kernel allows it the container's root sees
/// its files as its own; where it does not (overlayfs has no idmapped-mount support up to
/// at least 6.x: containerd idmaps the layers below the overlay instead) create fails
/// with the clear error naming the source.
#[test]
fn idmap_on_overlayfs_works_or_names_the_filesystem() {
    if !need_root() {
        return;
    }
    let mut pod = Pod::new();
    for d in ["lower", "upper", "work", "merged"] {
        fs::create_dir(pod.path(d)).unwrap();
    }
    fs::write(pod.path("lower/f"), "lower\n").unwrap();
    let ovl = format!(
        "lowerdir={},upperdir={},workdir={}",
        pod.path("lower").display(),
        pod.path("upper").display(),
        pod.path("work").display()
    );
    let merged = pod.path("merged");
    run(
        "mount",
        &[
            "-t",
            "overlay",
            "overlay",
            "-o",
            &ovl,
            merged.to_str().unwrap(),
        ],
    );
    pod.mounts.push(merged.clone());
    let c = idmapped_ctr(
        &pod,
        "idmap-ovl",
        "stat -c '%u:%g' /ovl/f && touch /ovl/new",
        vec![
            json!({"destination": "/ovl", "type": "bind", "source": merged,
                    "options": ["rbind", "ridmap"]}),
        ],
    );
    let o = c.run();
    if o.status.success() {
        assert_eq!(stdout(&o), "0:0\n");
        let m = fs::metadata(pod.path("upper/new")).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (0, 0),
            "the new file as the host sees it"
        );
    } else {
        eprintln!("this kernel cannot idmap an overlay mount: checking the error");
        assert_one_line_error(&o, &["merged", "does not support idmapped mounts"]);
    }
}

/// A filesystem without idmapped-mount support (sysfs) is a clear error at create.
#[test]
fn idmap_on_a_filesystem_without_support_is_a_clear_error() {
    if !need_root() {
        return;
    }
    let pod = Pod::new();
    let c = idmapped_ctr(
        &pod,
        "idmap-sysfs",
        "true",
        vec![
            json!({"destination": "/k", "type": "bind", "source": "/sys/kernel",
                    "options": ["rbind", "idmap"]}),
        ],
    );
    assert_one_line_error(
        &c.create(),
        &["/sys/kernel", "does not support idmapped mounts"],
    );
    c.assert_nothing_left();
}

/// `features` says what containerd looks for before it starts user-namespace pods.
#[test]
fn features_offer_idmapped_mounts() {
    if !need_root() {
        return;
    }
    let o = Command::new(BERTH).arg("features").output().unwrap();
    assert_ok(&o, "features");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    let opts = v["mountOptions"].as_array().unwrap();
    for o in ["idmap", "ridmap"] {
        assert!(opts.contains(&json!(o)), "{o} not in mountOptions");
    }
}
