//! Device nodes: the default set and /dev links for a fresh /dev, and the config's own
//! (a bind of the host's node in a user namespace, where mknod is refused).

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};
use rustix::fs::{makedev, openat, AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use rustix::mount::MountFlags;

use super::resolve::{clean_path, fd_path, mkdir_all_in_root, replace_with_empty_file};
use super::syscall::Syscall;
use crate::init::error::{Ctx, InitError};

/// The device nodes every container gets when its /dev is a fresh tmpfs, as runc.
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// As runc: berth creates the default device nodes and /dev links unless the config binds
/// a /dev in (a fresh tmpfs, or the image's own /dev, gets them).
pub(super) fn needs_dev_setup(spec: &Spec) -> bool {
    !spec.mounts().iter().flatten().any(|m| {
        clean_path(m.destination()) == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    })
}

pub(super) fn create_default_devices(
    os: &dyn Syscall,
    root: BorrowedFd<'_>,
    in_userns: bool,
) -> Result<(), InitError> {
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
        create_device(os, root, &dev, in_userns)?;
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
        match os.symlink(target, dev.as_fd(), link) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(InitError(format!("symlink /dev/{link}: {e}"))),
        }
    }
    Ok(())
}

pub(super) fn create_device(
    os: &dyn Syscall,
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
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {path:?}"))?;
        return os
            .mount(Some(path), &fd_path(&target), None, MountFlags::BIND, None)
            .ctx(|| format!("bind device {path:?}"));
    }
    let kind = match dev.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        LinuxDeviceType::A => return Err(InitError(format!("device {path:?} has type 'a'"))),
    };
    let mode = Mode::from_bits_truncate(dev.file_mode().unwrap_or(0o666));
    let rdev = makedev(dev.major() as u32, dev.minor() as u32);
    match os.mknod(parent.as_fd(), name, kind, mode, rdev) {
        Ok(()) => {}
        Err(Errno::EXIST) => {
            // An image may ship a placeholder: replace it so the node is the one asked for.
            rustix::fs::unlinkat(parent.as_fd(), name, AtFlags::empty())
                .ctx(|| format!("replace {path:?}"))?;
            os.mknod(parent.as_fd(), name, kind, mode, rdev)
                .ctx(|| format!("mknod {path:?}"))?;
        }
        Err(e) => return Err(InitError(format!("mknod {path:?}: {e}"))),
    }
    // mknod applies the umask; the config's mode is exact.
    chmod_nofollow(parent.as_fd(), name, mode).ctx(|| format!("chmod {path:?}"))?;
    os.chown(
        parent.as_fd(),
        name,
        Uid::from_raw(dev.uid().unwrap_or(0)),
        Gid::from_raw(dev.gid().unwrap_or(0)),
    )
    .ctx(|| format!("chown {path:?}"))
}

/// chmod of `name` in `dir`, never following a symlink (a symlink is left as it is), as
/// glibc's fchmodat(AT_SYMLINK_NOFOLLOW): through the /proc link of an O_PATH fd of the file.
fn chmod_nofollow(dir: BorrowedFd<'_>, name: &OsStr, mode: Mode) -> rustix::io::Result<()> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let node = openat(dir, name, flags, Mode::empty())?;
    if FileType::from_raw_mode(rustix::fs::fstat(&node)?.st_mode) == FileType::Symlink {
        return Ok(());
    }
    rustix::fs::chmod(format!("/proc/self/fd/{}", node.as_raw_fd()), mode)
}
