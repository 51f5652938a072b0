//! The mount plan of a few configs, as the recorder saw it: which privileged calls, in
//! which order, with which flags. The in-root resolution runs for real on a scratch root,
//! so no root is needed.

use std::path::Path;

use oci_spec::runtime::Spec;
use rustix::fs::{makedev, FileType};
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};
use tempfile::TempDir;

use super::recorder::{Call, Recorder};
use super::syscall::ms;
use super::{enter, finish, mount_all, prepare};

/// A scratch rootfs and a bundle, and a recorder that names them `$root` and `$bundle`.
struct Scene {
    root: TempDir,
    bundle: TempDir,
    os: Recorder,
}

fn scene() -> Scene {
    let root = tempfile::tempdir().unwrap();
    let bundle = tempfile::tempdir().unwrap();
    let os = Recorder::new(&[(root.path(), "$root"), (bundle.path(), "$bundle")]);
    Scene { root, bundle, os }
}

impl Scene {
    fn mount_all(&self, spec: &Spec, in_userns: bool) {
        mount_all(
            &self.os,
            spec,
            self.root.path(),
            self.bundle.path(),
            None,
            in_userns,
            &[],
        )
        .unwrap();
    }
}

fn spec(json: &str) -> Spec {
    serde_json::from_str(json).unwrap()
}

fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MountFlags,
    data: Option<&str>,
) -> Call {
    Call::Mount {
        source: source.map(str::to_string),
        target: target.to_string(),
        fstype: fstype.map(str::to_string),
        flags,
        data: data.map(str::to_string),
    }
}

/// A propagation change or a remount: no source, type or data.
fn flags_on(target: &str, flags: MountFlags) -> Call {
    mount(None, target, None, flags, None)
}

#[test]
fn default_spec_mounts_then_devices_then_links() {
    use MountFlags as F;
    let s = scene();
    s.mount_all(&Spec::default(), false);
    let nosuid_noexec_nodev = F::NOSUID | F::NOEXEC | F::NODEV;
    let fs = |src, target, typ, flags, data| mount(Some(src), target, Some(typ), flags, data);
    assert_eq!(
        s.os.mounts(),
        [
            fs("proc", "$root/proc", "proc", F::empty(), None),
            fs(
                "tmpfs",
                "$root/dev",
                "tmpfs",
                F::NOSUID | F::STRICTATIME,
                Some("mode=755,size=65536k"),
            ),
            fs(
                "devpts",
                "$root/dev/pts",
                "devpts",
                F::NOSUID | F::NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
            ),
            fs(
                "shm",
                "$root/dev/shm",
                "tmpfs",
                nosuid_noexec_nodev,
                Some("mode=1777,size=65536k"),
            ),
            fs(
                "mqueue",
                "$root/dev/mqueue",
                "mqueue",
                nosuid_noexec_nodev,
                None
            ),
            fs(
                "sysfs",
                "$root/sys",
                "sysfs",
                nosuid_noexec_nodev | F::RDONLY,
                None,
            ),
            // No cgroup of its own (rootless): no cgroup filesystem.
        ]
    );
    let calls = s.os.calls();
    let devices: Vec<_> = calls.iter().skip(6).cloned().collect();
    let mut want = Vec::new();
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let path = format!("$root/dev/{name}");
        want.push(Call::Mknod {
            path: path.clone(),
            kind: FileType::CharacterDevice,
            dev: makedev(major, minor),
        });
        want.push(Call::Chown {
            path,
            uid: 0,
            gid: 0,
        });
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        want.push(Call::Symlink {
            link: format!("$root/dev/{link}"),
            target: target.into(),
        });
    }
    assert_eq!(devices, want);
}

#[test]
fn devices_in_a_user_namespace_are_binds_of_the_hosts_nodes() {
    let s = scene();
    s.mount_all(&Spec::default(), true);
    let binds: Vec<_> = s.os.mounts().into_iter().skip(6).collect();
    let bind = |name: &str| {
        let host = format!("/dev/{name}");
        let target = format!("$root/dev/{name}");
        mount(Some(&host), &target, None, MountFlags::BIND, None)
    };
    let want: Vec<_> = ["null", "zero", "full", "random", "urandom", "tty"]
        .into_iter()
        .map(bind)
        .collect();
    assert_eq!(binds, want);
    assert!(!s.os.calls().iter().any(|c| matches!(c, Call::Mknod { .. })));
}

#[test]
fn bind_with_rbind_and_rro_is_bind_then_remount_then_recursive_read_only() {
    use MountFlags as F;
    let s = scene();
    std::fs::create_dir(s.bundle.path().join("vol")).unwrap();
    let spec = spec(
        r#"{"ociVersion": "1.0.2", "mounts": [{"destination": "/data", "type": "bind",
            "source": "vol", "options": ["rbind", "rro", "nosuid"]}]}"#,
    );
    s.mount_all(&spec, false);
    // Then the default devices (a config without a /dev of its own gets them).
    assert_eq!(
        s.os.calls()[..3],
        [
            // A relative source is the bundle's.
            mount(
                Some("$bundle/vol"),
                "$root/data",
                None,
                F::BIND | F::REC,
                None
            ),
            // The bind ignores nosuid: a remount of the new mount applies it.
            flags_on("$root/data", F::BIND | ms::REMOUNT | F::NOSUID),
            // rro reaches every mount below, which a remount would not.
            Call::SetAttr {
                mount: "$root/data".into(),
                recursive: true,
                set: libc::MOUNT_ATTR_RDONLY,
                clear: 0,
            },
        ]
    );
}

#[test]
fn tmpfs_with_data_then_its_propagation() {
    use MountFlags as F;
    let s = scene();
    let spec = spec(
        r#"{"ociVersion": "1.0.2", "mounts": [{"destination": "/run/x", "type": "tmpfs",
            "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "rprivate"]}]}"#,
    );
    s.mount_all(&spec, false);
    assert_eq!(
        s.os.calls()[..2],
        [
            mount(
                Some("tmpfs"),
                "$root/run/x",
                Some("tmpfs"),
                F::NOSUID | F::NODEV,
                Some("mode=1777"),
            ),
            flags_on("$root/run/x", ms::PRIVATE | F::REC),
        ]
    );
    assert!(s.root.path().join("run/x").is_dir());
}

#[test]
fn sysfs_refused_is_the_hosts_bound_read_only_all_the_way_down() {
    use MountFlags as F;
    let mut s = scene();
    s.os = Recorder::new(&[(s.root.path(), "$root")]).refusing("sysfs", Errno::PERM);
    let spec = spec(
        r#"{"ociVersion": "1.0.2", "mounts": [{"destination": "/sys", "type": "sysfs",
            "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}]}"#,
    );
    s.mount_all(&spec, false);
    let flags = F::NOSUID | F::NOEXEC | F::NODEV | F::RDONLY;
    assert_eq!(
        s.os.calls()[..4],
        [
            mount(Some("sysfs"), "$root/sys", Some("sysfs"), flags, None),
            mount(Some("/sys"), "$root/sys", None, F::BIND | F::REC, None),
            flags_on("$root/sys", F::BIND | ms::REMOUNT | flags),
            Call::SetAttr {
                mount: "$root/sys".into(),
                recursive: true,
                set: libc::MOUNT_ATTR_RDONLY,
                clear: 0,
            },
        ]
    );
}

#[test]
fn readonly_root_with_readonly_and_masked_paths() {
    let s = scene();
    for dir in ["proc/sys", "proc/acpi"] {
        std::fs::create_dir_all(s.root.path().join(dir)).unwrap();
    }
    let spec = spec(
        r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs", "readonly": true},
            "linux": {"readonlyPaths": ["/proc/sys"],
                      "maskedPaths": ["/proc/acpi", "/proc/missing"]}}"#,
    );
    finish(&s.os, &spec, s.root.path()).unwrap();
    let masked = libc::MOUNT_ATTR_RDONLY
        | libc::MOUNT_ATTR_NOSUID
        | libc::MOUNT_ATTR_NODEV
        | libc::MOUNT_ATTR_NOEXEC;
    assert_eq!(
        s.os.calls(),
        [
            // A read-only copy of the whole tree, made read-only while detached.
            Call::CloneTree {
                from: "$root/proc/sys".into(),
                recursive: true,
                tree: "tree1".into(),
            },
            Call::SetAttr {
                mount: "tree1".into(),
                recursive: true,
                set: libc::MOUNT_ATTR_RDONLY,
                clear: 0,
            },
            Call::MoveMount {
                tree: "tree1".into(),
                target: "$root/proc/sys".into(),
            },
            // A directory is masked with a fresh read-only tmpfs; a missing path is skipped.
            Call::Tmpfs {
                attrs: masked,
                tree: "tree2".into(),
            },
            Call::MoveMount {
                tree: "tree2".into(),
                target: "$root/proc/acpi".into(),
            },
            flags_on("$root", MountFlags::BIND | ms::REMOUNT | MountFlags::RDONLY),
        ]
    );
}

#[test]
fn a_file_is_never_masked_with_a_dev_null_that_is_not_the_null_device() {
    let s = scene();
    std::fs::create_dir_all(s.root.path().join("proc")).unwrap();
    std::fs::create_dir_all(s.root.path().join("dev")).unwrap();
    std::fs::write(s.root.path().join("proc/kcore"), "").unwrap();
    std::fs::write(s.root.path().join("dev/null"), "the image's own").unwrap();
    let spec = spec(r#"{"ociVersion": "1.0.2", "linux": {"maskedPaths": ["/proc/kcore"]}}"#);
    let err = finish(&s.os, &spec, s.root.path()).unwrap_err();
    assert!(err.0.contains("not the null device"), "{err}");
    assert_eq!(s.os.calls(), []);
}

/// The calls between the root's propagation and the rootfs bind: MS_PRIVATE on the mount
/// that holds the rootfs if this host has it shared, and on "/" with `shared`; which of them
/// apply depends on the host, so only their form is checked.
fn assert_only_privates_of_what_holds(calls: &[Call], root: &Path) {
    let root = std::fs::canonicalize(root).unwrap();
    for call in calls {
        let Call::Mount { target, flags, .. } = call else {
            panic!("{call:?}")
        };
        assert!(root.starts_with(target), "{target} does not hold {root:?}");
        assert_eq!(*flags, ms::PRIVATE, "{call:?}");
    }
}

#[test]
fn rshared_root_keeps_the_rootfs_mount_private_and_applies_rshared_at_the_end() {
    use MountFlags as F;
    let s = scene();
    let spec = spec(r#"{"ociVersion": "1.0.2", "linux": {"rootfsPropagation": "rshared"}}"#);
    prepare(&s.os, &spec, s.root.path()).unwrap();
    let calls = s.os.calls();
    let n = calls.len();
    assert_eq!(calls[0], flags_on("/", ms::SHARED | F::REC));
    assert_only_privates_of_what_holds(&calls[1..n - 1], s.root.path());
    assert_eq!(
        calls[n - 1],
        mount(Some("$root"), "$root", None, F::BIND | F::REC, None)
    );
    finish(&s.os, &spec, s.root.path()).unwrap();
    assert_eq!(s.os.calls()[n..], [flags_on("$root", ms::SHARED | F::REC)]);
}

#[test]
fn default_propagation_is_rslave_and_changes_nothing_at_the_end() {
    use MountFlags as F;
    let s = scene();
    prepare(&s.os, &Spec::default(), s.root.path()).unwrap();
    let calls = s.os.calls();
    let n = calls.len();
    assert_eq!(calls[0], flags_on("/", ms::SLAVE | F::REC));
    assert_only_privates_of_what_holds(&calls[1..n - 1], s.root.path());
    assert_eq!(
        calls[n - 1],
        mount(Some("$root"), "$root", None, F::BIND | F::REC, None)
    );
    finish(&s.os, &spec(r#"{"ociVersion": "1.0.2"}"#), s.root.path()).unwrap();
    assert_eq!(s.os.calls().len(), n);
}

#[test]
fn pivot_root_then_the_old_root_detached_without_propagating() {
    let s = scene();
    enter(&s.os, s.root.path(), false).unwrap();
    assert_eq!(
        s.os.calls(),
        [
            Call::Fchdir("$root".into()),
            Call::PivotRoot(".".into(), ".".into()),
            Call::Fchdir("/".into()),
            flags_on(".", ms::SLAVE | MountFlags::REC),
            Call::Umount(".".into(), UnmountFlags::DETACH),
            Call::Chdir("/".into()),
        ]
    );
    let s = scene();
    enter(&s.os, s.root.path(), true).unwrap();
    assert_eq!(
        s.os.calls(),
        [
            Call::Chdir("$root".into()),
            mount(Some("$root"), "/", None, ms::MOVE, None),
            Call::Chroot(".".into()),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn paths_in_the_plan_are_the_ones_under_the_root() {
    // A symlink in the image cannot redirect a mount: the target is what was resolved
    // inside the root.
    let s = scene();
    std::fs::create_dir(s.root.path().join("etc")).unwrap();
    std::os::unix::fs::symlink("/etc", s.root.path().join("data")).unwrap();
    let spec = spec(
        r#"{"ociVersion": "1.0.2", "mounts": [{"destination": "/data/x", "type": "tmpfs",
            "source": "tmpfs"}]}"#,
    );
    s.mount_all(&spec, false);
    assert_eq!(
        s.os.mounts(),
        [mount(
            Some("tmpfs"),
            "$root/etc/x",
            Some("tmpfs"),
            MountFlags::empty(),
            None
        )]
    );
    assert!(Path::new(&s.root.path().join("etc/x")).is_dir());
}

/// A bind source opened (and idmapped) by the privileged side is attached with
/// move_mount, never bound by path: the init may not reach the path.
#[test]
fn an_opened_bind_source_is_attached_not_bound_by_path() {
    let s = scene();
    std::fs::create_dir(s.bundle.path().join("vol")).unwrap();
    let spec = spec(
        r#"{"ociVersion": "1.0.2", "mounts": [{"destination": "/data", "type": "bind",
            "source": "vol", "options": ["rbind", "nosuid"]}]}"#,
    );
    let opened = super::open_sources(&s.os, &spec, s.bundle.path(), true).unwrap();
    mount_all(
        &s.os,
        &spec,
        s.root.path(),
        s.bundle.path(),
        None,
        true,
        &opened,
    )
    .unwrap();
    assert_eq!(
        s.os.calls()[..3],
        [
            Call::CloneTree {
                from: "$bundle/vol".into(),
                recursive: true,
                tree: "tree1".into()
            },
            Call::MoveMount {
                tree: "tree1".into(),
                target: "$root/data".into()
            },
            flags_on(
                "$root/data",
                MountFlags::BIND | ms::REMOUNT | MountFlags::NOSUID
            ),
        ]
    );
}
