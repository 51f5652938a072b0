//! Overlayfs container roots: a per-container `upper`, `work` and `merged` over read-only layers.
//!
//! The mount uses the new mount API with one `lowerdir+` per layer (Linux 6.8+), which has no
//! option-length limit; on older kernels it falls back to mount(2) with one `lowerdir=` string,
//! which must fit in a page: the store passes short `l/<id>` paths (as Docker's `l/` links), and
//! a longer string is refused with a clear error instead of a kernel EINVAL.
//! Read-only roots are mounted with MS_RDONLY here, so the runtime needs no root.readonly remount.

use berth_common::io::{IoError, Step};
use rustix::fs::{renameat_with, statat, AtFlags, FileType, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{
    self as m, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Errors from mounting or removing a container root.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("overlay needs at least one layer")]
    NoLayers,
    #[error("overlay path {0} contains ':' or ',' which overlayfs cannot take")]
    BadLayerPath(PathBuf),
    #[error("overlay options for {layers} layers are {len} bytes, over the kernel's {limit}-byte limit (this kernel lacks lowerdir+); flatten the image")]
    TooManyLayers {
        layers: usize,
        len: usize,
        limit: usize,
    },
    #[error("mount overlay at {path}: {source}")]
    Mount { path: PathBuf, source: io::Error },
}

/// How a container root is mounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverlayOptions {
    /// MS_RDONLY / MOUNT_ATTR_RDONLY on the overlay.
    pub readonly: bool,
    /// overlayfs' `volatile` (Linux 5.10+): no sync of the upper layer, neither on fsync from
    /// the container nor at unmount. For roots that are removed when the container exits: their
    /// writes need no durability, and the unmount then costs no sync of the whole upper
    /// filesystem. Ignored where the kernel lacks it.
    pub volatile: bool,
}

/// Mounts an overlay of `layers_lowest_first` with `container_dir/{upper,work}` at
/// `container_dir/merged`, as `opts` says, and returns that path. `container_dir` is created
/// if missing.
pub fn mount_overlay(
    layers_lowest_first: &[PathBuf],
    container_dir: &Path,
    opts: OverlayOptions,
) -> Result<PathBuf, OverlayError> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    mount_overlay_on(layers_lowest_first, &upper, &work, container_dir, opts)
}

/// [`mount_overlay`] with the upper and work dirs given (`run --upper DIR`: the user's DIR,
/// its work dir beside it on the same filesystem, as overlayfs requires).
pub fn mount_overlay_on(
    layers_lowest_first: &[PathBuf],
    upper: &Path,
    work: &Path,
    container_dir: &Path,
    opts: OverlayOptions,
) -> Result<PathBuf, OverlayError> {
    if layers_lowest_first.is_empty() {
        return Err(OverlayError::NoLayers);
    }
    for l in layers_lowest_first
        .iter()
        .map(PathBuf::as_path)
        .chain([upper, work])
    {
        if l.as_os_str()
            .as_bytes()
            .iter()
            .any(|b| *b == b':' || *b == b',')
        {
            return Err(OverlayError::BadLayerPath(l.to_path_buf()));
        }
    }
    let merged = container_dir.join("merged");
    for d in [upper, work, &merged] {
        fs::create_dir_all(d).step("create", d)?;
    }
    let (upper, work) = (upper.to_path_buf(), work.to_path_buf());
    let top_first: Vec<&PathBuf> = layers_lowest_first.iter().rev().collect();
    match mount_new_api(&top_first, &upper, &work, &merged, opts) {
        Ok(()) => return Ok(merged),
        // EINVAL: no lowerdir+ (kernel < 6.8); ENOSYS: no fsopen at all.
        Err(Errno::INVAL) | Err(Errno::NOSYS) => {}
        Err(e) => {
            return Err(OverlayError::Mount {
                path: merged,
                source: e.into(),
            })
        }
    }
    if opts.volatile {
        // A kernel without lowerdir+ may also lack volatile (before 5.10): then without it.
        match mount_legacy(&top_first, &upper, &work, &merged, opts) {
            Err(OverlayError::Mount { source, .. })
                if source.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => {}
            other => return other.map(|()| merged),
        }
    }
    let durable = OverlayOptions {
        volatile: false,
        ..opts
    };
    mount_legacy(&top_first, &upper, &work, &merged, durable)?;
    Ok(merged)
}

/// mount(2) with a single option string, limited to one page.
fn mount_legacy(
    top_first: &[&PathBuf],
    upper: &Path,
    work: &Path,
    merged: &Path,
    OverlayOptions { readonly, volatile }: OverlayOptions,
) -> Result<(), OverlayError> {
    let mut data = b"lowerdir=".to_vec();
    for (i, l) in top_first.iter().enumerate() {
        if i > 0 {
            data.push(b':');
        }
        data.extend_from_slice(l.as_os_str().as_bytes());
    }
    data.extend_from_slice(b",upperdir=");
    data.extend_from_slice(upper.as_os_str().as_bytes());
    data.extend_from_slice(b",workdir=");
    data.extend_from_slice(work.as_os_str().as_bytes());
    if volatile {
        data.extend_from_slice(b",volatile");
    }
    let limit = rustix::param::page_size() - 1;
    if data.len() > limit {
        return Err(OverlayError::TooManyLayers {
            layers: top_first.len(),
            len: data.len(),
            limit,
        });
    }
    let data = std::ffi::CString::new(data)
        .map_err(|_| OverlayError::BadLayerPath(upper.to_path_buf()))?;
    let flags = if readonly {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    m::mount("overlay", merged, "overlay", flags, Some(data.as_c_str())).map_err(|e| {
        OverlayError::Mount {
            path: merged.to_path_buf(),
            source: e.into(),
        }
    })?;
    Ok(())
}

fn mount_new_api(
    top_first: &[&PathBuf],
    upper: &Path,
    work: &Path,
    merged: &Path,
    OverlayOptions { readonly, volatile }: OverlayOptions,
) -> Result<(), Errno> {
    let fs_fd = m::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for l in top_first {
        m::fsconfig_set_string(&fs_fd, "lowerdir+", l.as_path())?;
    }
    m::fsconfig_set_string(&fs_fd, "upperdir", upper)?;
    m::fsconfig_set_string(&fs_fd, "workdir", work)?;
    if volatile {
        // Every kernel with lowerdir+ (6.8+) has volatile (5.10+).
        m::fsconfig_set_flag(&fs_fd, "volatile")?;
    }
    m::fsconfig_create(&fs_fd)?;
    let attrs = if readonly {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = m::fsmount(&fs_fd, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    m::move_mount(
        &mnt,
        "",
        CWD,
        merged,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

/// Unmounts `container_dir/merged` (if mounted) and removes `container_dir`. Idempotent: a
/// missing directory or an already unmounted root (e.g. after a crash or reboot) is fine.
pub fn unmount_overlay(container_dir: &Path) -> Result<(), OverlayError> {
    unmount_merged(container_dir)?;
    match remove_tree(container_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::new("remove container dir", container_dir, e).into()),
    }
}

/// remove_dir_all, with the rmdirs side by side. An rmdir frees the directory's block, and on
/// an ext4 mounted with `discard` and no journal that block is discarded before the call
/// returns (1-4 ms each on a busy virtual disk), outside the parent directory's lock. A
/// container root has about eight directories, four of them a chain (the overlay's
/// work/work/incompat/volatile): each directory, once emptied, is renamed up into `dir`
/// (a cheap rename), so that all of them can go at once instead of one level after another.
/// Every step is relative to an fd opened with O_NOFOLLOW, as std's remove_dir_all: a
/// directory swapped for a symlink meanwhile is never followed.
pub(crate) fn remove_tree(dir: &Path) -> io::Result<()> {
    let root = open_dir(CWD, dir)?;
    let mut flat = Vec::new();
    empty(&root, &root, &mut flat, &mut 0)?;
    on_threads(&flat, |name| {
        Ok(rustix::fs::unlinkat(
            &root,
            name.as_str(),
            AtFlags::REMOVEDIR,
        )?)
    })?;
    drop(root);
    fs::remove_dir(dir)
}

fn open_dir(at: impl AsFd, path: impl rustix::path::Arg) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(at, path, flags, Mode::empty())?)
}

/// Unlinks every file below `dir` and moves every directory below it, once emptied, up into
/// `root` as `.rm-N` (N from `next` on), noted in `flat`.
fn empty(
    root: &OwnedFd,
    dir: &OwnedFd,
    flat: &mut Vec<String>,
    next: &mut usize,
) -> io::Result<()> {
    let mut subdirs = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => {
                FileType::from_raw_mode(statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?.st_mode)
            }
            kind => kind,
        };
        if kind == FileType::Directory {
            subdirs.push(name.to_owned());
        } else {
            rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
        }
    }
    for name in subdirs {
        empty(root, &open_dir(dir, name.as_c_str())?, flat, next)?;
        loop {
            let to = format!(".rm-{next}");
            *next += 1;
            match renameat_with(
                dir,
                name.as_c_str(),
                root,
                to.as_str(),
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => break flat.push(to),
                // A name left by an earlier removal (it is in the walk too): the next one.
                Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// `op` on every item, spread over up to eight threads; an already missing path is fine.
fn on_threads<T: Sync>(items: &[T], op: impl Fn(&T) -> io::Result<()> + Sync) -> io::Result<()> {
    let n = items.len().min(8);
    if n <= 1 {
        return items.iter().try_for_each(|p| ignore_missing(op(p)));
    }
    let op = &op;
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..n)
            .map(|t| {
                s.spawn(move || {
                    items
                        .iter()
                        .skip(t)
                        .step_by(n)
                        .try_for_each(|p| ignore_missing(op(p)))
                })
            })
            .collect();
        threads
            .into_iter()
            .try_for_each(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Unmounts `container_dir/merged` (if mounted), keeping the upper dir and the bundle: a kept
/// container that stopped. Idempotent.
pub fn unmount_merged(container_dir: &Path) -> Result<(), OverlayError> {
    unmount_merged_clean(container_dir).map(|_| ())
}

/// [`unmount_merged`]; true when this call unmounted the overlay and it was not busy: false
/// when it was only detached (it lives on while its holder does, still writing into the upper
/// and work dirs), and when it was not mounted (whether an earlier unmount only detached it is
/// not known).
pub(crate) fn unmount_merged_clean(container_dir: &Path) -> Result<bool, OverlayError> {
    let merged = container_dir.join("merged");
    let mut unmounted = false;
    loop {
        match m::unmount(&merged, UnmountFlags::NOFOLLOW) {
            // Stacked mounts (a retried create) each need their own unmount.
            Ok(()) => unmounted = true,
            Err(Errno::INVAL) | Err(Errno::NOENT) => break,
            Err(Errno::BUSY) => {
                // A process still holds it; detach so the directory can go now.
                m::unmount(&merged, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW).map_err(
                    |e| OverlayError::Mount {
                        path: merged.clone(),
                        source: e.into(),
                    },
                )?;
                return Ok(false);
            }
            Err(e) => {
                return Err(OverlayError::Mount {
                    path: merged.clone(),
                    source: e.into(),
                })
            }
        }
    }
    Ok(unmounted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file, symlink and directory goes, chains of directories and all; a symlink to a
    /// directory outside is removed, not followed.
    #[test]
    fn remove_tree_removes_deep_trees_and_never_follows_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let (outside, dir) = (tmp.path().join("outside"), tmp.path().join("c"));
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), "x").unwrap();
        let deep = dir.join("work/work/incompat/volatile");
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("dirty"), "").unwrap();
        for i in 0..30 {
            let d = dir.join(format!("upper/d{i}/e"));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("f"), "data").unwrap();
        }
        std::os::unix::fs::symlink(&outside, dir.join("upper/link")).unwrap();
        fs::write(dir.join("config.json"), "{}").unwrap();
        // Left by an interrupted removal: a name the flattening would pick.
        fs::create_dir_all(dir.join(".rm-0/x")).unwrap();
        remove_tree(&dir).unwrap();
        assert!(!dir.exists());
        assert!(outside.join("keep").exists());
    }

    #[test]
    fn legacy_mount_refuses_overlong_options_clearly() {
        let layers: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/var/lib/berth/some/long/layer/path/{i:04}")))
            .collect();
        let top: Vec<&PathBuf> = layers.iter().collect();
        let d = Path::new("/nonexistent");
        let err = mount_legacy(&top, d, d, d, OverlayOptions::default()).expect_err("too long");
        assert!(
            matches!(err, OverlayError::TooManyLayers { layers: 200, .. }),
            "{err}"
        );
    }

    #[test]
    fn legacy_mount_works_for_kernels_without_lowerdir_plus() {
        if !rustix::process::geteuid().is_root() {
            berth_common::skip!("needs root to mount");
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let (low, high) = (tmp.path().join("low"), tmp.path().join("high"));
        for (d, v) in [(&low, "low"), (&high, "high")] {
            fs::create_dir(d).expect("mkdir");
            fs::write(d.join("f"), v).expect("write");
        }
        fs::write(low.join("only-low"), "x").expect("write");
        let ctr = tmp.path().join("ctr");
        for d in ["upper", "work", "merged"] {
            fs::create_dir_all(ctr.join(d)).expect("mkdir");
        }
        mount_legacy(
            &[&high, &low],
            &ctr.join("upper"),
            &ctr.join("work"),
            &ctr.join("merged"),
            OverlayOptions {
                readonly: false,
                volatile: true,
            },
        )
        .expect("mount");
        let merged = ctr.join("merged");
        assert_eq!(
            fs::read_to_string(merged.join("f")).expect("read"),
            "high",
            "first lowerdir is topmost"
        );
        assert!(merged.join("only-low").exists());
        unmount_overlay(&ctr).expect("unmount");
        assert!(!ctr.exists());
    }
}
