//! `tmpcopyup`, runc's mount extension that podman puts on the tmpfs mounts of `--read-only`
//! containers (/tmp, /var/tmp, /run): the fresh tmpfs starts with a copy of what the directory
//! it covers held in the image.
//!
//! The copy reads the covered directory through an fd opened before the tmpfs was mounted on
//! it, so no temporary mount point is needed, and walks both trees with *at() calls and
//! O_NOFOLLOW: a symlink in the image is copied as a symlink, never followed.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, mknodat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

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

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn copy_attrs(fd: BorrowedFd<'_>, st: &nix::sys::stat::FileStat) -> nix::Result<()> {
    fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    // After the chown, which clears set-id bits.
    fchmod(fd, Mode::from_bits_truncate(st.st_mode))
}

fn copy_dir(src: OwnedFd, dst: BorrowedFd<'_>) -> Result<(), InitError> {
    let mut dir = Dir::from_fd(src).ctx(|| "read the directory to copy up".into())?;
    let src = dir.as_fd().try_clone_to_owned().ctx(|| "dup".into())?;
    for entry in dir.iter() {
        let entry = entry.ctx(|| "read the directory to copy up".into())?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let step = || format!("copy up {:?}", name);
        let st = fstatat(&src, name, AtFlags::AT_SYMLINK_NOFOLLOW).ctx(step)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let perm = Mode::from_bits_truncate(st.st_mode);
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(dst, name, Mode::from_bits_truncate(0o700)).ctx(step)?;
                let from = openat(&src, name, dir_flags(), Mode::empty()).ctx(step)?;
                let to = openat(dst, name, dir_flags(), Mode::empty()).ctx(step)?;
                copy_dir(from, to.as_fd())?;
                copy_attrs(to.as_fd(), &st).ctx(step)?;
            }
            SFlag::S_IFREG => {
                let from = openat(
                    &src,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ctx(step)?;
                let to = openat(
                    dst,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .ctx(step)?;
                let (mut from, mut to) = (File::from(from), File::from(to));
                std::io::copy(&mut from, &mut to).ctx(step)?;
                copy_attrs(to.as_fd(), &st).ctx(step)?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(&src, name).ctx(step)?;
                symlinkat(target.as_os_str(), dst, name).ctx(step)?;
                fchownat(
                    dst,
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .ctx(step)?;
            }
            // Device nodes, fifos and sockets: the node itself, as a copy would make it.
            _ => {
                match mknodat(dst, name, kind, perm, st.st_rdev) {
                    Ok(()) => {}
                    // A device node the container may not create (a user namespace) is left
                    // out, as runc's copy does.
                    Err(Errno::EPERM) if matches!(kind, SFlag::S_IFCHR | SFlag::S_IFBLK) => {
                        continue
                    }
                    Err(e) => return Err(InitError(format!("{}: {e}", step()))),
                }
                let node = openat(
                    dst,
                    name,
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ctx(step)?;
                fchownat(
                    &node,
                    "",
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_EMPTY_PATH,
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

        let open = |p: &std::path::Path| nix::fcntl::open(p, dir_flags(), Mode::empty()).unwrap();
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
