//! `tmpcopyup`, runc's mount extension that podman puts on the tmpfs mounts of `--read-only`
//! containers (/tmp, /var/tmp, /run): the fresh tmpfs starts with a copy of what the directory
//! it covers held in the image.
//!
//! The copy reads the covered directory through an fd opened before the tmpfs was mounted on
//! it, so no temporary mount point is needed, and walks both trees with *at() calls and
//! O_NOFOLLOW: a symlink in the image is copied as a symlink, never followed.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{
    chownat, fchmod, fchown, fstat, mkdirat, mknodat, openat, readlinkat, statat, symlinkat,
    AtFlags, Dir, FileType, Gid, Mode, OFlags, Stat, Uid,
};
use rustix::io::Errno;

use crate::init::error::{Ctx, InitError};

/// Opens the directory a tmpfs is about to cover, for [`copy_into`] once it is mounted.
/// `target` is the mount point, any fd of it (O_PATH will do).
pub fn open_lower(target: BorrowedFd<'_>) -> Result<OwnedFd, InitError> {
    openat(target, ".", dir_flags(), Mode::empty()).ctx(|| "open the directory to copy up".into())
}

/// Copies the tree under `lower` into the fresh tmpfs `upper` (its root gets `lower`'s mode
/// and owner), keeping modes, owners, symlinks and device nodes.
pub fn copy_into(lower: OwnedFd, upper: BorrowedFd<'_>) -> Result<(), InitError> {
    let st = fstat(&lower).ctx(|| "stat the directory to copy up".into())?;
    copy_attrs(upper, &st).ctx(|| "copy up the directory's mode and owner".into())?;
    copy_dir(lower, upper)
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn copy_attrs(fd: BorrowedFd<'_>, st: &Stat) -> rustix::io::Result<()> {
    fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    // After the chown, which clears set-id bits.
    fchmod(fd, Mode::from_bits_truncate(st.st_mode))
}

fn copy_dir(src: OwnedFd, dst: BorrowedFd<'_>) -> Result<(), InitError> {
    let dir = Dir::read_from(&src).ctx(|| "read the directory to copy up".into())?;
    for entry in dir {
        let entry = entry.ctx(|| "read the directory to copy up".into())?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let step = || format!("copy up {:?}", name);
        let st = statat(&src, name, AtFlags::SYMLINK_NOFOLLOW).ctx(step)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let perm = Mode::from_bits_truncate(st.st_mode);
        match kind {
            FileType::Directory => {
                mkdirat(dst, name, Mode::from_bits_truncate(0o700)).ctx(step)?;
                let from = openat(&src, name, dir_flags(), Mode::empty()).ctx(step)?;
                let to = openat(dst, name, dir_flags(), Mode::empty()).ctx(step)?;
                copy_dir(from, to.as_fd())?;
                copy_attrs(to.as_fd(), &st).ctx(step)?;
            }
            FileType::RegularFile => {
                let from = openat(
                    &src,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ctx(step)?;
                let to = openat(
                    dst,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .ctx(step)?;
                let (mut from, mut to) = (File::from(from), File::from(to));
                std::io::copy(&mut from, &mut to).ctx(step)?;
                copy_attrs(to.as_fd(), &st).ctx(step)?;
            }
            FileType::Symlink => {
                let target = readlinkat(&src, name, Vec::new()).ctx(step)?;
                symlinkat(target.as_c_str(), dst, name).ctx(step)?;
                chownat(
                    dst,
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .ctx(step)?;
            }
            // Device nodes, fifos and sockets: the node itself, as a copy would make it.
            _ => {
                match mknodat(dst, name, kind, perm, st.st_rdev) {
                    Ok(()) => {}
                    // A device node the container may not create (a user namespace) is left
                    // out, as runc's copy does.
                    Err(Errno::PERM)
                        if matches!(kind, FileType::CharacterDevice | FileType::BlockDevice) =>
                    {
                        continue
                    }
                    Err(e) => return Err(InitError(format!("{}: {e}", step()))),
                }
                let node = openat(
                    dst,
                    name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ctx(step)?;
                chownat(
                    &node,
                    "",
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::EMPTY_PATH,
                )
                .ctx(step)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    #[test]
    fn copies_files_dirs_symlinks_with_modes() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        let l = lower.path();
        std::fs::create_dir(l.join("d")).unwrap();
        std::fs::write(l.join("d/f"), b"content").unwrap();
        std::fs::set_permissions(l.join("d/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::set_permissions(l.join("d"), std::fs::Permissions::from_mode(0o751)).unwrap();
        symlink("/etc/passwd", l.join("link")).unwrap();
        std::fs::set_permissions(l, std::fs::Permissions::from_mode(0o1777)).unwrap();

        let open = |p: &std::path::Path| rustix::fs::open(p, dir_flags(), Mode::empty()).unwrap();
        let up = open(upper.path());
        copy_into(open(l), up.as_fd()).unwrap();

        let u = upper.path();
        assert_eq!(std::fs::read(u.join("d/f")).unwrap(), b"content");
        let mode = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&u.join("d/f")), 0o640);
        assert_eq!(mode(&u.join("d")), 0o751);
        assert_eq!(mode(u), 0o1777);
        // Copied as a link, not followed.
        assert_eq!(
            std::fs::read_link(u.join("link")).unwrap(),
            std::path::Path::new("/etc/passwd")
        );
        assert_eq!(
            std::fs::symlink_metadata(u.join("d/f")).unwrap().uid(),
            std::fs::symlink_metadata(l.join("d/f")).unwrap().uid()
        );
    }
}
