//! The container's filesystem view, built inside its new mount namespace: propagation,
//! the config's mounts, device nodes and /dev links, pivot_root, sysctls, read-only and
//! masked paths.
//!
//! Every mount target is resolved with openat2(RESOLVE_IN_ROOT) and mounted through its
//! /proc/self/fd path, so a symlink planted in the rootfs (or racing into it) can never
//! redirect a mount outside the root (CVE-2019-19921, CVE-2021-30465).

use std::ffi::OsStr;
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

use crate::init::{Ctx, InitError};
use crate::{copyup, procfs, sys};

/// The device nodes every container gets when its /dev is a fresh tmpfs, as runc.
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// A mount's options split the way mount(2) wants them.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options (mode=755, size=…) joined with commas.
    pub data: String,
    /// runc's `tmpcopyup`: a tmpfs starts with a copy of the directory it covers.
    pub copy_up: bool,
    /// The recursive options (rro, rnoexec, …), for mount_setattr(AT_RECURSIVE).
    pub recursive: RecursiveAttrs,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            copy_up: false,
            recursive: RecursiveAttrs::default(),
        }
    }
}

/// MOUNT_ATTR_* bits to set and clear on a mount and every mount below it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecursiveAttrs {
    pub set: u64,
    pub clear: u64,
}

impl RecursiveAttrs {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }

    /// A later option overrides an earlier one for the bits it names.
    fn apply(&mut self, set: u64, clear: u64) {
        self.set = (self.set & !clear) | set;
        self.clear = (self.clear & !set) | clear;
    }
}

/// What one OCI mount option means to berth.
#[derive(Clone, Copy)]
enum Opt {
    /// mount(2) flags to set and to clear.
    Flags(libc::c_ulong, libc::c_ulong),
    /// MOUNT_ATTR_* bits to set and to clear, recursively.
    Recursive(u64, u64),
    Propagation(libc::c_ulong),
    /// An instruction to the runtime, not to the kernel (which would reject it).
    CopyUp,
}

/// An atime mode is a value, not a bit: mount_setattr wants the whole field cleared.
const fn atime(mode: u64) -> Opt {
    Opt::Recursive(mode, libc::MOUNT_ATTR__ATIME)
}

/// Every mount option berth honours, as runc: the one table `parse_options` reads and
/// `berth features` lists. Anything else is filesystem data.
const OPTIONS: &[(&str, Opt)] = &[
    ("defaults", Opt::Flags(0, 0)),
    ("ro", Opt::Flags(libc::MS_RDONLY, 0)),
    ("rw", Opt::Flags(0, libc::MS_RDONLY)),
    ("suid", Opt::Flags(0, libc::MS_NOSUID)),
    ("nosuid", Opt::Flags(libc::MS_NOSUID, 0)),
    ("dev", Opt::Flags(0, libc::MS_NODEV)),
    ("nodev", Opt::Flags(libc::MS_NODEV, 0)),
    ("exec", Opt::Flags(0, libc::MS_NOEXEC)),
    ("noexec", Opt::Flags(libc::MS_NOEXEC, 0)),
    ("sync", Opt::Flags(libc::MS_SYNCHRONOUS, 0)),
    ("async", Opt::Flags(0, libc::MS_SYNCHRONOUS)),
    ("dirsync", Opt::Flags(libc::MS_DIRSYNC, 0)),
    ("remount", Opt::Flags(libc::MS_REMOUNT, 0)),
    ("mand", Opt::Flags(libc::MS_MANDLOCK, 0)),
    ("nomand", Opt::Flags(0, libc::MS_MANDLOCK)),
    ("atime", Opt::Flags(0, libc::MS_NOATIME)),
    ("noatime", Opt::Flags(libc::MS_NOATIME, 0)),
    ("diratime", Opt::Flags(0, libc::MS_NODIRATIME)),
    ("nodiratime", Opt::Flags(libc::MS_NODIRATIME, 0)),
    ("relatime", Opt::Flags(libc::MS_RELATIME, 0)),
    ("norelatime", Opt::Flags(0, libc::MS_RELATIME)),
    ("strictatime", Opt::Flags(libc::MS_STRICTATIME, 0)),
    ("nostrictatime", Opt::Flags(0, libc::MS_STRICTATIME)),
    ("bind", Opt::Flags(libc::MS_BIND, 0)),
    ("rbind", Opt::Flags(libc::MS_BIND | libc::MS_REC, 0)),
    ("rro", Opt::Recursive(libc::MOUNT_ATTR_RDONLY, 0)),
    ("rrw", Opt::Recursive(0, libc::MOUNT_ATTR_RDONLY)),
    ("rnosuid", Opt::Recursive(libc::MOUNT_ATTR_NOSUID, 0)),
    ("rsuid", Opt::Recursive(0, libc::MOUNT_ATTR_NOSUID)),
    ("rnodev", Opt::Recursive(libc::MOUNT_ATTR_NODEV, 0)),
    ("rdev", Opt::Recursive(0, libc::MOUNT_ATTR_NODEV)),
    ("rnoexec", Opt::Recursive(libc::MOUNT_ATTR_NOEXEC, 0)),
    ("rexec", Opt::Recursive(0, libc::MOUNT_ATTR_NOEXEC)),
    (
        "rnodiratime",
        Opt::Recursive(libc::MOUNT_ATTR_NODIRATIME, 0),
    ),
    ("rdiratime", Opt::Recursive(0, libc::MOUNT_ATTR_NODIRATIME)),
    ("rnoatime", atime(libc::MOUNT_ATTR_NOATIME)),
    ("rrelatime", atime(libc::MOUNT_ATTR_RELATIME)),
    ("rstrictatime", atime(libc::MOUNT_ATTR_STRICTATIME)),
    // Leaving noatime or relatime without saying what instead: the kernel's default
    // (relatime); leaving relatime: every access updates atime (strictatime).
    ("ratime", atime(libc::MOUNT_ATTR_RELATIME)),
    ("rnostrictatime", atime(libc::MOUNT_ATTR_RELATIME)),
    ("rnorelatime", atime(libc::MOUNT_ATTR_STRICTATIME)),
    (
        "rnosymfollow",
        Opt::Recursive(libc::MOUNT_ATTR_NOSYMFOLLOW, 0),
    ),
    (
        "rsymfollow",
        Opt::Recursive(0, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ),
    ("private", Opt::Propagation(libc::MS_PRIVATE)),
    (
        "rprivate",
        Opt::Propagation(libc::MS_PRIVATE | libc::MS_REC),
    ),
    ("shared", Opt::Propagation(libc::MS_SHARED)),
    ("rshared", Opt::Propagation(libc::MS_SHARED | libc::MS_REC)),
    ("slave", Opt::Propagation(libc::MS_SLAVE)),
    ("rslave", Opt::Propagation(libc::MS_SLAVE | libc::MS_REC)),
    ("unbindable", Opt::Propagation(libc::MS_UNBINDABLE)),
    (
        "runbindable",
        Opt::Propagation(libc::MS_UNBINDABLE | libc::MS_REC),
    ),
    ("tmpcopyup", Opt::CopyUp),
];

/// The names of every mount option berth honours (for `berth features`).
pub fn option_names() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().map(|(name, _)| *name)
}

fn lookup(name: &str) -> Option<Opt> {
    OPTIONS.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    match lookup(name)? {
        Opt::Propagation(p) => Some(MsFlags::from_bits_truncate(p)),
        _ => None,
    }
}

/// Splits OCI mount options into flags, recursive attributes, propagation and data, as
/// runc does.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        match lookup(opt) {
            Some(Opt::Flags(set, clear)) => {
                out.flags.remove(MsFlags::from_bits_truncate(clear));
                out.flags.insert(MsFlags::from_bits_truncate(set));
            }
            Some(Opt::Recursive(set, clear)) => out.recursive.apply(set, clear),
            Some(Opt::Propagation(p)) => out.propagation.push(MsFlags::from_bits_truncate(p)),
            Some(Opt::CopyUp) => out.copy_up = true,
            None => data.push(opt.as_str()),
        }
    }
    out.data = data.join(",");
    out
}

/// The /proc files a plain file bind may cover: what lxcfs emulates (as runc allows).
const PROC_FILE_BINDS: [&str; 8] = [
    "cpuinfo",
    "diskstats",
    "loadavg",
    "meminfo",
    "slabinfo",
    "stat",
    "swaps",
    "uptime",
];

/// What may be mounted at `dest` (a path inside the container, already resolved) when it
/// lies in /proc: procfs itself on /proc, or a file bind onto one of the lxcfs files.
/// Anything else there would sit between berth and the kernel knobs it writes (sysctls,
/// oom_score_adj) or hide what masking covers, and a bind of another procfs into
/// /proc/sys would reach the host's sysctls.
pub fn check_proc_destination(dest: &Path, typ: &str, is_bind: bool) -> Result<(), String> {
    let Ok(rest) = dest.strip_prefix("/proc") else {
        return Ok(());
    };
    if rest.as_os_str().is_empty() {
        return match typ == "proc" || is_bind {
            true => Ok(()),
            false => Err(format!("only procfs may be mounted on /proc, not {typ:?}")),
        };
    }
    if is_bind && PROC_FILE_BINDS.iter().any(|f| rest == Path::new(f)) {
        return Ok(());
    }
    Err(format!(
        "{dest:?} is inside /proc: only procfs on /proc, or a file bind onto /proc/{{{}}}, may be mounted there",
        PROC_FILE_BINDS.join(",")
    ))
}

/// `path` made absolute with `.` and `..` folded lexically (as the kernel would inside a
/// root, where `..` at the top stays at the top).
pub fn clean_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
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

/// Where `target` (an fd under the root `root`) is, as a path inside the container.
fn path_in_root(root: BorrowedFd<'_>, target: &OwnedFd) -> Result<PathBuf, InitError> {
    let root_path = std::fs::read_link(fd_path(&root)).ctx(|| "read rootfs path".into())?;
    let actual = std::fs::read_link(fd_path(target)).ctx(|| "read mount target path".into())?;
    let inside = actual
        .strip_prefix(&root_path)
        .map_err(|_| InitError(format!("{actual:?} is outside the rootfs")))?;
    Ok(Path::new("/").join(inside))
}

/// procfs and sysfs must land exactly on their destination: reached through a symlink
/// (CVE-2019-19921) they would leave /proc a path that masking and LSM rules do not cover.
fn refuse_symlinked(inside: &Path, dest: &Path) -> Result<(), InitError> {
    if inside != clean_path(dest) {
        return Err(InitError(format!(
            "{dest:?} is a symlink (to {inside:?} in the rootfs): proc and sysfs must be mounted on a real directory"
        )));
    }
    Ok(())
}

/// The /proc rule of [`check_proc_destination`] on where a mount really lands, plus what
/// only the source can tell: a bind on /proc must bring a procfs, a bind onto a /proc
/// file a regular file.
fn check_proc_target(
    inside: &Path,
    typ: &str,
    source: Option<&Path>,
    is_bind: bool,
) -> Result<(), InitError> {
    check_proc_destination(inside, typ, is_bind).map_err(InitError)?;
    let (Some(src), true) = (source, is_bind && inside.starts_with("/proc")) else {
        return Ok(());
    };
    if inside == Path::new("/proc") {
        let fs = nix::sys::statfs::statfs(src).ctx(|| format!("statfs {src:?}"))?;
        if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            return Err(InitError(format!(
                "a bind on /proc must bring a procfs; {src:?} is not one"
            )));
        }
    } else if !std::fs::symlink_metadata(src).is_ok_and(|m| m.is_file()) {
        return Err(InitError(format!(
            "a bind onto {inside:?} must bring a regular file; {src:?} is not one"
        )));
    }
    Ok(())
}

/// Everything before the config's mounts: propagation and the rootfs as a mount point.
///
/// As runc's prepareRoot: the root propagation is applied to every mount at once, so with
/// "rshared" the copies of the host's shared mounts stay in the host's peer groups (and a
/// bind of one joins that group: Kubernetes' Bidirectional mounts). Only the mount that
/// holds the rootfs is made private if it is shared, so that neither the rootfs bind nor
/// pivot_root (which refuses a shared parent) reaches the host. Unbindable modes wait for
/// `finish`: the rootfs could not be bound from an unbindable mount.
pub fn prepare(spec: &Spec, rootfs: &Path) -> Result<(), InitError> {
    let linux = spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
        .filter(|p| !p.contains(MsFlags::MS_UNBINDABLE))
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
        .ctx(|| "set the propagation of /".into())?;
    // As runc: a shared mount holding the rootfs is made private, so the rootfs bind below
    // propagates nowhere and pivot_root accepts it (it refuses a shared new root, which a
    // non-recursive "private" of / would leave below it); a slave stays a slave, so
    // "rslave" shows in the container. A shared / itself is made private too: pivot_root
    // refuses a shared old root.
    let (holder, holder_shared) = mount_holding(rootfs)?;
    let mut private = Vec::new();
    if holder_shared {
        private.push(holder.as_path());
    }
    if prop.contains(MsFlags::MS_SHARED) && holder != Path::new("/") {
        private.push(Path::new("/"));
    }
    for point in private {
        mount(
            None::<&str>,
            point,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .ctx(|| format!("make {point:?} private"))?;
    }
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

/// The mount point of the mount that holds `path` (the longest mount point in
/// /proc/self/mountinfo that is an ancestor of it), and whether that mount is shared.
fn mount_holding(path: &Path) -> Result<(PathBuf, bool), InitError> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo".to_string())?;
    info.lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let point = unescape_mountinfo(fields.get(4)?);
            // Optional fields (shared:N, master:N, …) run from the 7th to the "-".
            let shared = fields[6.min(fields.len())..]
                .iter()
                .take_while(|f| **f != "-")
                .any(|f| f.starts_with("shared:"));
            Some((point, shared))
        })
        .filter(|(p, _)| path.starts_with(p))
        .max_by_key(|(p, _)| p.components().count())
        .ok_or_else(|| InitError(format!("no mount holds {path:?}")))
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (\040).
fn unescape_mountinfo(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], oct) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
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
    if needs_dev_setup(spec) {
        create_default_devices(root.as_fd(), in_userns)?;
    }
    if spec.process().as_ref().and_then(|p| p.terminal()) == Some(true) {
        // The mount point of the console (tty::bind_console), made while the root may
        // still be written; a symlink the image put there is replaced, never followed.
        let dev = mkdir_all_in_root(root.as_fd(), Path::new("/dev"))?;
        replace_with_empty_file(dev.as_fd(), OsStr::new("console"))
            .ctx(|| "create /dev/console".into())?;
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

/// As runc: berth creates the default device nodes and /dev links unless the config binds
/// a /dev in (a fresh tmpfs, or the image's own /dev, gets them).
fn needs_dev_setup(spec: &Spec) -> bool {
    !spec.mounts().iter().flatten().any(|m| {
        clean_path(m.destination()) == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    })
}

/// Makes `name` in `dir` an empty regular file: whatever else is there (a symlink, a
/// device, a fifo the image shipped) is removed first, and nothing is followed.
pub(crate) fn replace_with_empty_file(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<()> {
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st)
            if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFREG =>
        {
            return Ok(())
        }
        Ok(_) => nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)?,
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    openat(
        dir,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map(drop)
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
    let inside = path_in_root(root, &target)?;
    if typ == "proc" || typ == "sysfs" {
        refuse_symlinked(&inside, dest)?;
    }
    check_proc_target(&inside, typ, source.as_deref(), is_bind)?;

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
        set_recursive(&mounted, opts.recursive)?;
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
        // mounted fresh: bind the host's, read-only, as runc does; read-only all the way
        // down, or the host's cgroup, debugfs, securityfs … mounts below it stay writable.
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
            set_recursive(
                &mounted,
                RecursiveAttrs {
                    set: libc::MOUNT_ATTR_RDONLY,
                    clear: 0,
                },
            )?;
        }
        Err(e) => return Err(InitError(format!("mount {typ}: {e}"))),
    }
    if let Some(lower) = lower {
        let upper = open_in_root(root, dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .ctx(|| "open the new tmpfs".into())?;
        copyup::copy_into(lower, upper.as_fd())?;
    }
    if !opts.propagation.is_empty() || !opts.recursive.is_empty() {
        let mounted = open_in_root(root, dest, OFlag::O_PATH).ctx(|| "reopen target".into())?;
        set_recursive(&mounted, opts.recursive)?;
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

/// Applies the recursive options (rro, rnoexec, …) to the mount `mounted` and every
/// mount below it: mount(2) flags would reach the top mount only.
fn set_recursive(mounted: &OwnedFd, attrs: RecursiveAttrs) -> Result<(), InitError> {
    if attrs.is_empty() {
        return Ok(());
    }
    sys::mount_setattr(mounted.as_fd(), true, attrs.set, attrs.clear, 0)
        .ctx(|| "set recursive mount attributes".into())
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
    check_proc_target(&path_in_root(root, &target)?, "cgroup", None, false)?;
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
        // mknod is not allowed in a user namespace: bind the host's node instead, onto a
        // file of berth's making (an image's symlink there would redirect the bind).
        replace_with_empty_file(parent.as_fd(), name).ctx(|| format!("create {path:?}"))?;
        let target = openat(
            parent.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {path:?}"))?;
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
        procfs::write(&format!("sys/{}", key.replace('.', "/")), value)
            .map_err(|e| InitError(format!("sysctl {key}: {e}")))?;
    }
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /".into())?;
    for path in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        make_readonly(root.as_fd(), Path::new(path))
            .map_err(|e| InitError(format!("readonly path {path}: {}", e.0)))?;
    }
    let mut null = None;
    for path in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask(root.as_fd(), Path::new(path), &mut null)
            .map_err(|e| InitError(format!("mask {path}: {}", e.0)))?;
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

/// A read-only copy of the tree at `path`, submounts included (a plain read-only remount
/// would leave a mount under /proc/sys writable), put in place in one step: the copy is
/// made read-only while detached, then attached over the original.
fn make_readonly(root: BorrowedFd<'_>, path: &Path) -> Result<(), InitError> {
    let target = match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(InitError(format!("open: {e}"))),
    };
    let tree = sys::clone_tree(target.as_fd(), true).ctx(|| "copy the mount tree".into())?;
    sys::mount_setattr(tree.as_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, 0)
        .ctx(|| "make the copy read-only".into())?;
    sys::move_mount(tree.as_fd(), target.as_fd()).ctx(|| "attach the read-only copy".into())
}

/// Covers `path` with an object berth made or verified, never one the image can choose:
/// a directory with a fresh read-only tmpfs (which hides every mount below it), anything
/// else with a copy of the container's /dev/null that is proven to be the null device
/// (char 1:3) through an fd opened without following any symlink (CVE-2025-31133).
fn mask(root: BorrowedFd<'_>, path: &Path, null: &mut Option<OwnedFd>) -> Result<(), InitError> {
    let target = match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(InitError(format!("open: {e}"))),
    };
    let st = nix::sys::stat::fstat(&target).ctx(|| "stat".into())?;
    let tree = if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR {
        let attrs = libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC;
        sys::detached_tmpfs(attrs).ctx(|| "make an empty read-only tmpfs".into())?
    } else {
        if null.is_none() {
            *null = Some(verified_null(root)?);
        }
        let null = null.as_ref().expect("just set");
        sys::clone_tree(null.as_fd(), false).ctx(|| "copy /dev/null".into())?
    };
    sys::move_mount(tree.as_fd(), target.as_fd()).ctx(|| "mount over it".into())
}

/// The container's /dev/null, opened without following any symlink and checked to be the
/// null device: any char 1:3 node is, whoever made it.
fn verified_null(root: BorrowedFd<'_>) -> Result<OwnedFd, InitError> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let fd = openat2(root, "dev/null", how).ctx(|| "open /dev/null".into())?;
    let st = nix::sys::stat::fstat(&fd).ctx(|| "stat /dev/null".into())?;
    let is_char = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFCHR;
    if !is_char || st.st_rdev != makedev(1, 3) {
        return Err(InitError(
            "/dev/null in the container is not the null device (char 1:3): refusing to mask with it"
                .into(),
        ));
    }
    Ok(fd)
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
    fn recursive_options_are_attributes_not_data() {
        let o = parse_options(&s(&["rbind", "rro", "rnoexec", "rnoatime", "rrelatime"]));
        assert_eq!(o.data, "");
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(
            o.recursive.set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC | libc::MOUNT_ATTR_RELATIME
        );
        // An atime mode clears the whole atime field, as mount_setattr requires.
        assert_eq!(o.recursive.clear, libc::MOUNT_ATTR__ATIME);
        let o = parse_options(&s(&["rro", "rrw"]));
        assert_eq!(
            (o.recursive.set, o.recursive.clear),
            (0, libc::MOUNT_ATTR_RDONLY)
        );
    }

    #[test]
    fn every_option_in_the_table_is_honoured_not_data() {
        for name in option_names() {
            let o = parse_options(&s(&[name]));
            assert_eq!(
                o.data, "",
                "{name} would reach the kernel as filesystem data"
            );
        }
    }

    #[test]
    fn only_procfs_and_lxcfs_file_binds_inside_proc() {
        let p = |d: &str, typ: &str, bind: bool| check_proc_destination(Path::new(d), typ, bind);
        assert!(p("/proc", "proc", false).is_ok());
        assert!(p("/proc", "bind", true).is_ok());
        assert!(p("/proc", "tmpfs", false).is_err());
        assert!(p("/proc/uptime", "bind", true).is_ok());
        assert!(p("/proc/uptime", "tmpfs", false).is_err());
        assert!(p("/proc/sys/net/ipv4", "bind", true).is_err());
        assert!(p("/proc/sys", "proc", false).is_err());
        assert!(p("/procfoo", "tmpfs", false).is_ok());
        assert!(p("/sys/fs/cgroup", "cgroup", false).is_ok());
        assert_eq!(
            clean_path(Path::new("/a/../../proc/./sys")),
            Path::new("/proc/sys")
        );
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b\\134c"), Path::new("/a b\\c"));
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse_options(&s(&["ro", "rw", "rbind"]));
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    }
}
