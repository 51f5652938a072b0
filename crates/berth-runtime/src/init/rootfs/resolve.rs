//! Paths inside the container's root: every lookup is openat2(RESOLVE_IN_ROOT), so a
//! symlink planted in the rootfs (or racing into it) never leads outside it; plus the rule
//! on what may be mounted inside /proc, checked on where a mount really lands.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{mkdirat, openat, openat2, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::init::error::{Ctx, InitError};

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

/// How every lookup inside the root resolves.
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Opens `path` inside the root `root`, never leaving it.
pub fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC;
    openat2(root, relative(path), flags, Mode::empty(), IN_ROOT)
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
    let mut clean = PathBuf::from("/");
    for comp in path.components() {
        match comp {
            Component::Normal(n) => clean.push(n),
            Component::ParentDir => {
                return Err(InitError(format!("path {path:?} contains '..'")));
            }
            _ => {}
        }
    }
    mkdir_all_clean(root, &clean)
}

/// [`mkdir_all_in_root`] of a path of plain names. Most targets exist (the image's /proc,
/// /dev, /sys): one openat2 then, not one per component; a missing one is made in its
/// parent, found the same way.
fn mkdir_all_clean(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, InitError> {
    match open_in_root(root, path, OFlags::PATH | OFlags::DIRECTORY) {
        Err(Errno::NOENT) => {}
        Ok(fd) => return Ok(fd),
        Err(e) if path == Path::new("/") => return Err(InitError(format!("open rootfs: {e}"))),
        Err(e) => return Err(InitError(format!("open {path:?} in rootfs: {e}"))),
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(InitError("open rootfs: it is gone".into()));
    };
    let dir = mkdir_all_clean(root, parent)?;
    match mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(InitError(format!("mkdir {path:?} in rootfs: {e}"))),
    }
    open_in_root(root, path, OFlags::PATH | OFlags::DIRECTORY)
        .ctx(|| format!("open {path:?} in rootfs"))
}

/// Makes sure a mount target exists inside the root (a directory, or an empty file when
/// the source is not a directory) and returns an O_PATH fd of it.
pub(super) fn ensure_target(
    root: BorrowedFd<'_>,
    dest: &Path,
    dir: bool,
) -> Result<OwnedFd, InitError> {
    if dir {
        return mkdir_all_in_root(root, dest);
    }
    if let Ok(fd) = open_in_root(root, dest, OFlags::PATH) {
        return Ok(fd);
    }
    let parent = mkdir_all_in_root(root, dest.parent().unwrap_or(Path::new("/")))?;
    let name = dest
        .file_name()
        .ok_or_else(|| InitError(format!("mount destination {dest:?} has no file name")))?;
    match openat(
        parent.as_fd(),
        name,
        OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EXIST) | Err(Errno::LOOP) => {}
        Err(e) => return Err(InitError(format!("create {dest:?} in rootfs: {e}"))),
    }
    open_in_root(root, dest, OFlags::PATH).ctx(|| format!("open {dest:?} in rootfs"))
}

/// Where `target` (an fd under the root `root`) is, as a path inside the container.
pub(super) fn path_in_root(root: BorrowedFd<'_>, target: &OwnedFd) -> Result<PathBuf, InitError> {
    let root_path = std::fs::read_link(fd_path(&root)).ctx(|| "read rootfs path".into())?;
    let actual = std::fs::read_link(fd_path(target)).ctx(|| "read mount target path".into())?;
    let inside = actual
        .strip_prefix(&root_path)
        .map_err(|_| InitError(format!("{actual:?} is outside the rootfs")))?;
    Ok(Path::new("/").join(inside))
}

/// procfs and sysfs must land exactly on their destination: reached through a symlink
/// (CVE-2019-19921) they would leave /proc a path that masking and LSM rules do not cover.
pub(super) fn refuse_symlinked(inside: &Path, dest: &Path) -> Result<(), InitError> {
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
pub(super) fn check_proc_target(
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
        let fs = rustix::fs::statfs(src).ctx(|| format!("statfs {src:?}"))?;
        if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
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

/// Makes `name` in `dir` an empty regular file: whatever else is there (a symlink, a
/// device, a fifo the image shipped) is removed first, and nothing is followed.
pub(crate) fn replace_with_empty_file(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<()> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => return Ok(()),
        Ok(_) => rustix::fs::unlinkat(dir, name, AtFlags::empty())?,
        Err(Errno::NOENT) => {}
        Err(e) => return Err(e),
    }
    openat(
        dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
