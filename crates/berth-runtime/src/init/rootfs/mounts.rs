//! The config's mounts, in order, each on a target resolved inside the root.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_cgroups::CgroupPaths;
use oci_spec::runtime::{Mount, Spec};
use rustix::fs::{statvfs, Mode, OFlags, StatVfsMountFlags as FsFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;

use super::devices::{create_default_devices, create_device, needs_dev_setup};
use super::resolve::{
    check_proc_target, ensure_target, fd_path, mkdir_all_in_root, open_in_root, path_in_root,
    refuse_symlinked, replace_with_empty_file,
};
use super::sources::Source;
use super::syscall::{ms, Syscall};
use super::{parse_options, MountOptions, RecursiveAttrs};
use crate::init::copyup;
use crate::init::error::{Ctx, InitError};

/// Mounts the config's mounts, in order, inside `rootfs`. `sources`: the bind sources the
/// privileged side opened (sources.rs), index by index with the mounts.
pub fn mount_all(
    os: &dyn Syscall,
    spec: &Spec,
    rootfs: &Path,
    bundle: &Path,
    cgroup: Option<&CgroupPaths>,
    in_userns: bool,
    sources: &[Option<Source>],
) -> Result<(), InitError> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open rootfs {rootfs:?}"))?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let opened = sources.get(i).and_then(Option::as_ref);
        mount_one(os, root.as_fd(), m, bundle, cgroup, opened)
            .map_err(|e| InitError(format!("mount {:?}: {}", m.destination(), e.0)))?;
    }
    if needs_dev_setup(spec) {
        create_default_devices(os, root.as_fd(), in_userns)?;
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
        create_device(os, root.as_fd(), dev, in_userns)?;
    }
    Ok(())
}

fn mount_one(
    os: &dyn Syscall,
    root: BorrowedFd<'_>,
    m: &Mount,
    bundle: &Path,
    cgroup: Option<&CgroupPaths>,
    opened: Option<&Source>,
) -> Result<(), InitError> {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    let is_bind = typ == "bind" || opts.flags.contains(MountFlags::BIND);

    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(os, root, dest, &opts, cgroup);
    }

    let source = m.source().as_deref().map(|s| {
        if is_bind && s.is_relative() {
            bundle.join(s)
        } else {
            s.to_path_buf()
        }
    });
    let source_is_dir = match (opened, &source, is_bind) {
        // Opened by the privileged side: its path may be out of this process's reach.
        (Some(s), _, _) => s.is_dir,
        (None, Some(src), true) => std::fs::metadata(src)
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
        match opened {
            // Opened (and idmapped) by the privileged side: attach that tree.
            Some(s) => os
                .move_mount(s.tree.as_fd(), target.as_fd())
                .ctx(|| format!("attach the bind of {src:?}"))?,
            None => {
                let bind_flags = opts.flags & (MountFlags::BIND | MountFlags::REC);
                os.mount(Some(&src), &target_path, None, bind_flags, None)
                    .ctx(|| format!("bind {src:?}"))?
            }
        }
        let extra = opts.flags & !(MountFlags::BIND | MountFlags::REC | ms::REMOUNT);
        // The bind itself ignores every other flag: apply them with a remount of the new
        // mount (reopened, since the old fd points below it).
        let mounted = open_in_root(root, dest, OFlags::PATH).ctx(|| "reopen bind target".into())?;
        if !extra.is_empty() {
            remount(os, &fd_path(&mounted), extra)?;
        }
        set_recursive(os, &mounted, opts.recursive)?;
        for p in &opts.propagation {
            os.mount(None, &fd_path(&mounted), None, *p, None)
                .ctx(|| "set propagation".into())?;
        }
        return Ok(());
    }

    let lower = match opts.copy_up && typ == "tmpfs" {
        true => Some(copyup::open_lower(target.as_fd())?),
        false => None,
    };
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    let flags = opts.flags & !ms::REMOUNT;
    let res = os.mount(source.as_deref(), &target_path, Some(typ), flags, data);
    match res {
        Ok(()) => {}
        // Without its own network namespace (or under a user namespace) sysfs cannot be
        // mounted fresh: bind the host's, read-only, as runc does; read-only all the way
        // down, or the host's cgroup, debugfs, securityfs … mounts below it stay writable.
        Err(Errno::PERM) if typ == "sysfs" => {
            os.mount(
                Some(Path::new("/sys")),
                &target_path,
                None,
                MountFlags::BIND | MountFlags::REC,
                None,
            )
            .ctx(|| "bind /sys".into())?;
            let mounted = open_in_root(root, dest, OFlags::PATH).ctx(|| "reopen sysfs".into())?;
            remount(os, &fd_path(&mounted), flags | MountFlags::RDONLY)?;
            set_recursive(
                os,
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
        let upper = open_in_root(root, dest, OFlags::RDONLY | OFlags::DIRECTORY)
            .ctx(|| "open the new tmpfs".into())?;
        copyup::copy_into(lower, upper.as_fd())?;
    }
    if !opts.propagation.is_empty() || !opts.recursive.is_empty() {
        let mounted = open_in_root(root, dest, OFlags::PATH).ctx(|| "reopen target".into())?;
        set_recursive(os, &mounted, opts.recursive)?;
        for p in &opts.propagation {
            os.mount(None, &fd_path(&mounted), None, *p, None)
                .ctx(|| "set propagation".into())?;
        }
    }
    Ok(())
}

/// Applies the recursive options (rro, rnoexec, …) to the mount `mounted` and every
/// mount below it: os.mount(2) flags would reach the top mount only.
fn set_recursive(
    os: &dyn Syscall,
    mounted: &OwnedFd,
    attrs: RecursiveAttrs,
) -> Result<(), InitError> {
    if attrs.is_empty() {
        return Ok(());
    }
    os.mount_setattr(mounted.as_fd(), true, attrs.set, attrs.clear, 0)
        .ctx(|| "set recursive mount attributes".into())
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks on mounts that a
/// user namespace inherited (nodev, nosuid, noexec, and the atime mode).
pub(super) fn remount(os: &dyn Syscall, path: &Path, flags: MountFlags) -> Result<(), InitError> {
    let base = MountFlags::BIND | ms::REMOUNT;
    let first = os.mount(None, path, None, base | flags, None);
    match first {
        Ok(()) => Ok(()),
        // Locked flags are the usual cause; in a user namespace, always.
        Err(Errno::PERM) => {
            let st = statvfs(path).ctx(|| "statvfs".into())?;
            let mut locked = MountFlags::empty();
            for (fs, ms) in [
                (FsFlags::NODEV, MountFlags::NODEV),
                (FsFlags::NOSUID, MountFlags::NOSUID),
                (FsFlags::NOEXEC, MountFlags::NOEXEC),
                (FsFlags::NOATIME, MountFlags::NOATIME),
                (FsFlags::NODIRATIME, MountFlags::NODIRATIME),
                (FsFlags::RELATIME, MountFlags::RELATIME),
                (FsFlags::RDONLY, MountFlags::RDONLY),
            ] {
                if st.f_flag.contains(fs) {
                    locked |= ms;
                }
            }
            os.mount(None, path, None, base | flags | locked, None)
                .ctx(|| "remount".into())
        }
        Err(e) => Err(InitError(format!("remount: {e}"))),
    }
}

/// A cgroup filesystem for the container: a tmpfs with the container's own cgroup
/// directory of every hierarchy bound under it (v1, hybrid), or the unified hierarchy
/// directly (v2).
fn mount_cgroup(
    os: &dyn Syscall,
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
    let ro = opts.flags.contains(MountFlags::RDONLY);
    let flags = opts.flags & !(MountFlags::RDONLY | MountFlags::BIND | MountFlags::REC);
    let target = mkdir_all_in_root(root, dest)?;
    check_proc_target(&path_in_root(root, &target)?, "cgroup", None, false)?;
    if paths.layout == berth_cgroups::LayoutKind::V2 {
        let dir = &paths
            .dirs
            .first()
            .ok_or_else(|| InitError("no cgroup dir".into()))?
            .1;
        os.mount(Some(dir), &fd_path(&target), None, MountFlags::BIND, None)
            .ctx(|| format!("bind {dir:?}"))?;
        if ro {
            let m = open_in_root(root, dest, OFlags::PATH).ctx(|| "reopen".into())?;
            remount(os, &fd_path(&m), flags | MountFlags::RDONLY)?;
        }
        return Ok(());
    }
    os.mount(
        Some(Path::new("tmpfs")),
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
        os.mount(Some(dir), &fd_path(&t), None, MountFlags::BIND, None)
            .ctx(|| format!("bind {dir:?}"))?;
        let m = open_in_root(root, &sub, OFlags::PATH).ctx(|| "reopen".into())?;
        let mut f = flags;
        if ro {
            f |= MountFlags::RDONLY;
        }
        remount(os, &fd_path(&m), f)?;
    }
    if ro {
        let m = open_in_root(root, dest, OFlags::PATH).ctx(|| "reopen".into())?;
        os.mount(
            None,
            &fd_path(&m),
            None,
            ms::REMOUNT | MountFlags::RDONLY | flags,
            Some("mode=755"),
        )
        .ctx(|| "remount cgroup tmpfs read-only".into())?;
    }
    Ok(())
}
