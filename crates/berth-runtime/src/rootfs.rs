//! The container's filesystem view, built inside its new mount namespace: propagation,
//! the config's mounts, device nodes and /dev links, pivot_root, sysctls, read-only and
//! masked paths.
//!
//! Every mount target is resolved with openat2(RESOLVE_IN_ROOT) and mounted through its
//! /proc/self/fd path, so a symlink planted in the rootfs (or racing into it) can never
//! redirect a mount outside the root (CVE-2019-19921, CVE-2021-30465).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_cgroups::CgroupPaths;
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mkdirat, mknodat, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, chroot, fchdir, fchownat, pivot_root, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::copyup;
use crate::init::{Ctx, InitError};

/// The device nodes every container gets when its /dev is a fresh tmpfs, as runc.
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// A mount's options split the way mount(2) wants them.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options (mode=755, size=…) joined with commas.
    pub data: String,
    /// runc's `tmpcopyup`: a tmpfs starts with a copy of the directory it covers.
    pub copy_up: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            copy_up: false,
        }
    }
}

/// Splits OCI mount options into flags, propagation and data, as runc does.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            // An instruction to the runtime, not to the kernel (which would reject it).
            "tmpcopyup" => {
                out.copy_up = true;
                continue;
            }
            other => {
                if let Some(p) = propagation_flag(other) {
                    out.propagation.push(p);
                } else {
                    data.push(other.to_string());
                }
                continue;
            }
        };
        out.flags.insert(set);
        out.flags.remove(clear);
    }
    out.data = data.join(",");
    out
}

fn in_root_how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// Opens `path` inside the root `root`, never leaving it.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    openat2(root, relative(path), in_root_how(flags))
}

fn relative(path: &Path) -> &Path {
    match path.strip_prefix("/").unwrap_or(path) {
        p if p.as_os_str().is_empty() => Path::new("."),
        p => p,
    }
}

/// The /proc/self/fd path of an fd: mounting on it targets exactly the resolved file.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Creates every missing directory of `path` inside `root` and returns an O_PATH fd of it.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, InitError> {
    let mut cur = PathBuf::from("/");
    let mut fd = open_in_root(root, &cur, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .ctx(|| "open rootfs".to_string())?;
    for comp in path.components() {
        let name = match comp {
            Component::Normal(n) => n,
            Component::ParentDir => {
                return Err(InitError(format!("path {path:?} contains '..'")));
            }
            _ => continue,
        };
        cur.push(name);
        fd = match open_in_root(root, &cur, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(next) => next,
            Err(Errno::ENOENT) => {
                match mkdirat(fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(InitError(format!("mkdir {cur:?} in rootfs: {e}"))),
                }
                open_in_root(root, &cur, OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .ctx(|| format!("open {cur:?} in rootfs"))?
            }
            Err(e) => return Err(InitError(format!("open {cur:?} in rootfs: {e}"))),
        };
    }
    Ok(fd)
}

/// Makes sure a mount target exists inside the root (a directory, or an empty file when
/// the source is not a directory) and returns an O_PATH fd of it.
fn ensure_target(root: BorrowedFd<'_>, dest: &Path, dir: bool) -> Result<OwnedFd, InitError> {
    if dir {
        return mkdir_all_in_root(root, dest);
    }
    if let Ok(fd) = open_in_root(root, dest, OFlag::O_PATH) {
        return Ok(fd);
    }
    let parent = mkdir_all_in_root(root, dest.parent().unwrap_or(Path::new("/")))?;
    let name = dest
        .file_name()
        .ok_or_else(|| InitError(format!("mount destination {dest:?} has no file name")))?;
    match openat(
        parent.as_fd(),
        name,
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) | Err(Errno::ELOOP) => {}
        Err(e) => return Err(InitError(format!("create {dest:?} in rootfs: {e}"))),
    }
    open_in_root(root, dest, OFlag::O_PATH).ctx(|| format!("open {dest:?} in rootfs"))
}

/// procfs and sysfs must land exactly on their destination: reached through a symlink
/// (CVE-2019-19921) they would leave /proc a path that masking and LSM rules do not cover.
fn refuse_symlinked(root: BorrowedFd<'_>, target: &OwnedFd, dest: &Path) -> Result<(), InitError> {
    let root_path = std::fs::read_link(fd_path(&root)).ctx(|| "read rootfs path".into())?;
    let actual = std::fs::read_link(fd_path(target)).ctx(|| format!("read {dest:?} path"))?;
    let wanted: PathBuf = dest
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .fold(root_path.clone(), |p, c| p.join(c));
    if actual != wanted {
        let inside = Path::new("/").join(actual.strip_prefix(&root_path).unwrap_or(&actual));
        return Err(InitError(format!(
            "{dest:?} is a symlink (to {inside:?} in the rootfs): proc and sysfs must be mounted on a real directory"
        )));
    }
    Ok(())
}

/// Everything before the config's mounts: propagation and the rootfs as a mount point.
pub fn prepare(spec: &Spec, rootfs: &Path) -> Result<(), InitError> {
    let linux = spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // pivot_root refuses a shared root: a shared rootfsPropagation is applied in
    // `finish`, after the pivot; until then receive from the host but send nothing back.
    let own = if prop.contains(MsFlags::MS_SHARED) {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    } else {
        prop
    };
    mount(None::<&str>, "/", None::<&str>, own, None::<&str>).ctx(|| "make / private".into())?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind rootfs {rootfs:?}"))?;
    Ok(())
}

/// Mounts the config's mounts, in order, inside `rootfs`.
pub fn mount_all(
    spec: &Spec,
    rootfs: &Path,
    bundle: &Path,
    cgroup: Option<&CgroupPaths>,
    in_userns: bool,
) -> Result<(), InitError> {
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open rootfs {rootfs:?}"))?;
    for m in spec.mounts().iter().flatten() {
        mount_one(root.as_fd(), m, bundle, cgroup)
            .map_err(|e| InitError(format!("mount {:?}: {}", m.destination(), e.0)))?;
    }
    if dev_is_fresh(spec) {
        create_default_devices(root.as_fd(), in_userns)?;
    }
    for dev in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        create_device(root.as_fd(), dev, in_userns)?;
    }
    Ok(())
}

/// runc creates device nodes and /dev links only when the config mounts a fresh /dev.
fn dev_is_fresh(spec: &Spec) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new("/dev") && m.typ().as_deref() != Some("bind"))
}

fn mount_one(
    root: BorrowedFd<'_>,
    m: &Mount,
    bundle: &Path,
    cgroup: Option<&CgroupPaths>,
) -> Result<(), InitError> {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    let is_bind = typ == "bind" || opts.flags.contains(MsFlags::MS_BIND);

    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(root, dest, &opts, cgroup);
    }

    let source = m.source().as_deref().map(|s| {
        if is_bind && s.is_relative() {
            bundle.join(s)
        } else {
            s.to_path_buf()
        }
    });
    let source_is_dir = match (&source, is_bind) {
        (Some(src), true) => std::fs::metadata(src)
            .ctx(|| format!("bind source {src:?}"))?
            .is_dir(),
        _ => true,
    };
    let target = ensure_target(root, dest, source_is_dir)?;
    let target_path = fd_path(&target);
    if typ == "proc" || typ == "sysfs" {
        refuse_symlinked(root, &target, dest)?;
    }

    if is_bind {
        let src = source.ok_or_else(|| InitError("bind mount without a source".into()))?;
        let bind_flags = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        mount(
            Some(&src),
            &target_path,
            None::<&str>,
            bind_flags,
            None::<&str>,
        )
        .ctx(|| format!("bind {src:?}"))?;
        let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        // The bind itself ignores every other flag: apply them with a remount of the new
        // mount (reopened, since the old fd points below it).
        let mounted =
            open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopen bind target".into())?;
        if !extra.is_empty() {
            remount(&fd_path(&mounted), extra)?;
        }
        for p in &opts.propagation {
            mount(
                None::<&str>,
                &fd_path(&mounted),
                None::<&str>,
                *p,
                None::<&str>,
            )
            .ctx(|| "set propagation".into())?;
        }
        return Ok(());
    }

    let lower = match opts.copy_up && typ == "tmpfs" {
        true => Some(copyup::open_lower(target.as_fd())?),
        false => None,
    };
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    let flags = opts.flags & !MsFlags::MS_REMOUNT;
    let res = mount(source.as_deref(), &target_path, Some(typ), flags, data);
    match res {
        Ok(()) => {}
        // Without its own network namespace (or under a user namespace) sysfs cannot be
        // mounted fresh: bind the host's, read-only, as runc does.
        Err(Errno::EPERM) if typ == "sysfs" => {
            mount(
                Some("/sys"),
                &target_path,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .ctx(|| "bind /sys".into())?;
            let mounted = open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopen sysfs".into())?;
            remount(&fd_path(&mounted), flags | MsFlags::MS_RDONLY)?;
        }
        Err(e) => return Err(InitError(format!("mount {typ}: {e}"))),
    }
    if let Some(lower) = lower {
        let upper = open_in_root(root, dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .ctx(|| "open the new tmpfs".into())?;
        copyup::copy_into(lower, upper.as_fd())?;
    }
    if !opts.propagation.is_empty() {
        let mounted = open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopen target".into())?;
        for p in &opts.propagation {
            mount(
                None::<&str>,
                &fd_path(&mounted),
                None::<&str>,
                *p,
                None::<&str>,
            )
            .ctx(|| "set propagation".into())?;
        }
    }
    Ok(())
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks on mounts that a
/// user namespace inherited (nodev, nosuid, noexec, and the atime mode).
fn remount(path: &Path, flags: MsFlags) -> Result<(), InitError> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    let first = mount(None::<&str>, path, None::<&str>, base | flags, None::<&str>);
    match first {
        Ok(()) => Ok(()),
        // Locked flags are the usual cause; in a user namespace, always.
        Err(Errno::EPERM) => {
            let st = statvfs(path).ctx(|| "statvfs".into())?;
            let mut locked = MsFlags::empty();
            for (fs, ms) in [
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
                (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            ] {
                if st.flags().contains(fs) {
                    locked |= ms;
                }
            }
            mount(
                None::<&str>,
                path,
                None::<&str>,
                base | flags | locked,
                None::<&str>,
            )
            .ctx(|| "remount".into())
        }
        Err(e) => Err(InitError(format!("remount: {e}"))),
    }
}

/// A cgroup filesystem for the container: a tmpfs with the container's own cgroup
/// directory of every hierarchy bound under it (v1, hybrid), or the unified hierarchy
/// directly (v2).
fn mount_cgroup(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    cgroup: Option<&CgroupPaths>,
) -> Result<(), InitError> {
    // Only a rootless container runs without a cgroup of its own (create warned): like
    // runc's rootless mode it then gets no cgroup filesystem, rather than the host's.
    let Some(paths) = cgroup else {
        return Ok(());
    };
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let flags = opts.flags & !(MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC);
    let target = mkdir_all_in_root(root, dest)?;
    if paths.layout == berth_cgroups::LayoutKind::V2 {
        let dir = &paths
            .dirs
            .first()
            .ok_or_else(|| InitError("no cgroup dir".into()))?
            .1;
        mount(
            Some(dir),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("bind {dir:?}"))?;
        if ro {
            let m = open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopen".into())?;
            remount(&fd_path(&m), flags | MsFlags::MS_RDONLY)?;
        }
        return Ok(());
    }
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .ctx(|| "mount cgroup tmpfs".into())?;
    for (key, dir) in &paths.dirs {
        let name = match key.as_str() {
            "" => "unified",
            k => k.strip_prefix("name=").unwrap_or(k),
        };
        let sub = dest.join(name);
        let t = mkdir_all_in_root(root, &sub)?;
        mount(
            Some(dir),
            &fd_path(&t),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("bind {dir:?}"))?;
        let m = open_in_root(root, &sub, OFlag::O_PATH).ctx(|| "reopen".into())?;
        let mut f = flags;
        if ro {
            f |= MsFlags::MS_RDONLY;
        }
        remount(&fd_path(&m), f)?;
    }
    if ro {
        let m = open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopen".into())?;
        mount(
            None::<&str>,
            &fd_path(&m),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            Some("mode=755"),
        )
        .ctx(|| "remount cgroup tmpfs read-only".into())?;
    }
    Ok(())
}

fn create_default_devices(root: BorrowedFd<'_>, in_userns: bool) -> Result<(), InitError> {
    for (path, major, minor) in DEFAULT_DEVICES {
        let dev = oci_spec::runtime::LinuxDeviceBuilder::default()
            .path(path)
            .typ(LinuxDeviceType::C)
            .major(major as i64)
            .minor(minor as i64)
            .file_mode(0o666u32)
            .uid(0u32)
            .gid(0u32)
            .build()
            .map_err(|e| InitError(e.to_string()))?;
        create_device(root, &dev, in_userns)?;
    }
    let dev = mkdir_all_in_root(root, Path::new("/dev"))?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        match nix::unistd::symlinkat(target, dev.as_fd(), link) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(InitError(format!("symlink /dev/{link}: {e}"))),
        }
    }
    Ok(())
}

fn create_device(
    root: BorrowedFd<'_>,
    dev: &LinuxDevice,
    in_userns: bool,
) -> Result<(), InitError> {
    let path = dev.path();
    let parent = mkdir_all_in_root(root, path.parent().unwrap_or(Path::new("/")))?;
    let name = path
        .file_name()
        .ok_or_else(|| InitError(format!("device path {path:?} has no file name")))?;
    if in_userns {
        // mknod is not allowed in a user namespace: bind the host's node instead.
        let target = ensure_target(root, path, false)?;
        return mount(
            Some(path),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("bind device {path:?}"));
    }
    let kind = match dev.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err(InitError(format!("device {path:?} has type 'a'"))),
    };
    let mode = Mode::from_bits_truncate(dev.file_mode().unwrap_or(0o666));
    let rdev = makedev(dev.major() as u64, dev.minor() as u64);
    match mknodat(parent.as_fd(), name, kind, mode, rdev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            // An image may ship a placeholder: replace it so the node is the one asked for.
            nix::unistd::unlinkat(
                parent.as_fd(),
                name,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .ctx(|| format!("replace {path:?}"))?;
            mknodat(parent.as_fd(), name, kind, mode, rdev).ctx(|| format!("mknod {path:?}"))?;
        }
        Err(e) => return Err(InitError(format!("mknod {path:?}: {e}"))),
    }
    // mknod applies the umask; the config's mode is exact.
    nix::sys::stat::fchmodat(
        parent.as_fd(),
        name,
        mode,
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .or_else(|e| {
        if e == Errno::EOPNOTSUPP {
            Ok(())
        } else {
            Err(e)
        }
    })
    .ctx(|| format!("chmod {path:?}"))?;
    fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(dev.uid().unwrap_or(0))),
        Some(Gid::from_raw(dev.gid().unwrap_or(0))),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown {path:?}"))
}

/// Makes `rootfs` the root: pivot_root without a put-old directory (as runc), or a
/// MS_MOVE + chroot with --no-pivot.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<(), InitError> {
    if no_pivot {
        chdir(rootfs).ctx(|| format!("chdir {rootfs:?}"))?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .ctx(|| "move rootfs to /".into())?;
        chroot(".").ctx(|| "chroot".into())?;
        return chdir("/").ctx(|| "chdir /".into());
    }
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = nix::fcntl::open("/", dir, Mode::empty()).ctx(|| "open /".into())?;
    let new = nix::fcntl::open(rootfs, dir, Mode::empty()).ctx(|| "open rootfs".into())?;
    fchdir(new.as_fd()).ctx(|| "fchdir rootfs".into())?;
    pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    // The old root is now stacked under the new one: detach it without letting the
    // unmount propagate to the host.
    fchdir(old.as_fd()).ctx(|| "fchdir old root".into())?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make old root slave".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root".into())?;
    chdir("/").ctx(|| "chdir /".into())
}

/// After entering the root: sysctls, read-only and masked paths, a read-only root, and
/// the root's final propagation.
pub fn finish(spec: &Spec) -> Result<(), InitError> {
    let linux = spec.linux().as_ref();
    for (key, value) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value).ctx(|| format!("sysctl {key}"))?;
    }
    for path in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        match mount(
            Some(path.as_str()),
            path.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => remount(Path::new(path), MsFlags::MS_RDONLY | MsFlags::MS_REC)
                .map_err(|e| InitError(format!("readonly path {path}: {}", e.0)))?,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(InitError(format!("readonly path {path}: {e}"))),
        }
    }
    for path in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let res = match std::fs::metadata(path) {
            Err(_) => continue,
            Ok(md) if md.is_dir() => mount(
                Some("tmpfs"),
                path.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            ),
            Ok(_) => mount(
                Some("/dev/null"),
                path.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
        };
        res.ctx(|| format!("mask {path}"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
    {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .ctx(|| "set root propagation".into())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(&s(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rprivate",
        ]));
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.copy_up);
    }

    #[test]
    fn tmpcopyup_is_for_the_runtime_not_the_kernel() {
        let o = parse_options(&s(&["rw", "nosuid", "tmpcopyup"]));
        assert!(o.copy_up);
        assert_eq!(o.data, "");
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse_options(&s(&["ro", "rw", "rbind"]));
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    }
}
