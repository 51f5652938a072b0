//! Device nodes: the default set and /dev links for a fresh /dev, and the config's own
//! (a bind of the host's node in a user namespace, where mknod is refused).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, Mode, SFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};

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
            Ok(()) | Err(Errno::EEXIST) => {}
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
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {path:?}"))?;
        return os
            .mount(Some(path), &fd_path(&target), None, MsFlags::MS_BIND, None)
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
    match os.mknod(parent.as_fd(), name, kind, mode, rdev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            // An image may ship a placeholder: replace it so the node is the one asked for.
            nix::unistd::unlinkat(
                parent.as_fd(),
                name,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .ctx(|| format!("replace {path:?}"))?;
            os.mknod(parent.as_fd(), name, kind, mode, rdev)
                .ctx(|| format!("mknod {path:?}"))?;
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
    os.chown(
        parent.as_fd(),
        name,
        Uid::from_raw(dev.uid().unwrap_or(0)),
        Gid::from_raw(dev.gid().unwrap_or(0)),
    )
    .ctx(|| format!("chown {path:?}"))
}
