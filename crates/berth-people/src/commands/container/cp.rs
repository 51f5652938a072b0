//! `cp SRC ID:DST` and `cp ID:SRC DST`: files, directories (recursively) and symlinks (as
//! symlinks) between the host and a kept container's root filesystem (its overlay; volumes
//! bound into it are not part of it). Every path in the container is opened with
//! `openat2(RESOLVE_IN_ROOT)` from the root, so `/`, `..` and each symlink on the way,
//! absolute or relative, resolve inside the root: a symlink the container made can never
//! name a host file. Entries of a copied directory are opened by one name with `O_NOFOLLOW`.
//! A stopped container's overlay is mounted for the copy and unmounted after it.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth::container_cli::CpArgs;
use berth::context::{Context, Outcome};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::PeopleError;
use crate::record::{bundle_of, Record};

pub fn run(a: &CpArgs, ctx: &Context) -> Outcome {
    match (in_container(ctx, &a.src), in_container(ctx, &a.dst)) {
        (None, Some((id, dst))) => with_root(ctx, id, |root| {
            copy_in(Path::new(&a.src), root, &dst).map_err(|e| err("copy", &a.src, e))
        })?,
        (Some((id, src)), None) => with_root(ctx, id, |root| {
            copy_out(root, &src, Path::new(&a.dst)).map_err(|e| err("copy", &a.src, e))
        })?,
        _ => {
            return Err(
                "berth cp: give one side as ID:PATH (a container) and the other as a host path"
                    .into(),
            )
        }
    }
    Ok(0)
}

fn err(what: &str, path: &str, e: io::Error) -> PeopleError {
    PeopleError::Usage(format!("{what} {path}: {e}"))
}

/// `ID:PATH` naming a kept container: (ID, PATH relative to its root).
fn in_container<'a>(ctx: &Context, arg: &'a str) -> Option<(&'a str, PathBuf)> {
    let (id, path) = arg.split_once(':')?;
    berth::container_cli::has_record(&ctx.image_root, id).then(|| {
        let rel = path.trim_start_matches('/');
        (id, PathBuf::from(if rel.is_empty() { "." } else { rel }))
    })
}

/// Runs `f` on an O_PATH fd of the container's root, mounting a stopped container's overlay
/// for the time of the copy.
fn with_root(
    ctx: &Context,
    id: &str,
    f: impl FnOnce(&OwnedFd) -> Result<(), PeopleError>,
) -> Result<(), PeopleError> {
    let bundle = bundle_of(&ctx.image_root, id)?;
    let store = berth_image::Store::open(&ctx.image_root)?;
    let running = super::lifecycle::live(ctx, id).is_some();
    let merged = if running {
        bundle.join("merged")
    } else {
        Record::load(&bundle)?;
        store.remount_container_root(id, berth_image::OverlayOptions::default())?
    };
    let root = rustix::fs::open(
        &merged,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open the root", &merged.display().to_string(), e.into()));
    let result = root.and_then(|root| f(&root));
    if !running {
        store.unmount_container_root(id)?;
    }
    result
}

/// Opens `path` under `root`, every step resolved inside it.
fn open_in(root: &OwnedFd, path: &Path, flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        root,
        path,
        flags | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// The directory holding `p` ("." for a single name).
fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn name_of(p: &Path) -> io::Result<&OsStr> {
    p.file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))
}

/// Host → container. An existing directory at `dst` receives `src` by its name.
fn copy_in(src: &Path, root: &OwnedFd, dst: &Path) -> Result<(), io::Error> {
    let dst = match open_in(root, dst, OFlags::PATH | OFlags::DIRECTORY, 0) {
        Ok(_) => dst.join(name_of(src)?),
        Err(_) => dst.to_path_buf(),
    };
    put(src, root, &dst)
}

fn put(src: &Path, root: &OwnedFd, dst: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    let parent = open_in(root, parent_of(dst), OFlags::PATH | OFlags::DIRECTORY, 0)?;
    let name = name_of(dst)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src)?;
        rustix::fs::symlinkat(&target, &parent, name)?;
    } else if ft.is_dir() {
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(meta.mode() & 0o7777)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            put(&entry.path(), root, &dst.join(entry.file_name()))?;
        }
    } else if ft.is_file() {
        // The whole path again from the root: a symlink at `dst` resolves inside it too.
        let out = open_in(
            root,
            dst,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC,
            meta.mode() & 0o7777,
        )?;
        let mut out = fs::File::from(out);
        io::copy(&mut fs::File::open(src)?, &mut out)?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{}: only files, directories and symlinks are copied",
                src.display()
            ),
        ));
    }
    Ok(())
}

/// Container → host. An existing host directory at `dst` receives `src` by its name.
fn copy_out(root: &OwnedFd, src: &Path, dst: &Path) -> io::Result<()> {
    let dst = if dst.is_dir() {
        dst.join(if src == Path::new(".") {
            Path::new("root")
        } else {
            Path::new(name_of(src)?)
        })
    } else {
        dst.to_path_buf()
    };
    let parent = open_in(root, parent_of(src), OFlags::PATH | OFlags::DIRECTORY, 0)?;
    if src == Path::new(".") {
        return get(root.as_fd(), Path::new("."), &dst);
    }
    get(parent.as_fd(), Path::new(name_of(src)?), &dst)
}

/// Copies entry `name` of the container directory `dir` (opened without following a final
/// symlink: one name, `O_NOFOLLOW`) to the host path `dst`.
fn get(dir: std::os::fd::BorrowedFd<'_>, name: &Path, dst: &Path) -> io::Result<()> {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Err(Errno::LOOP) => {
            let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
            std::os::unix::fs::symlink(OsStr::from_bytes(target.to_bytes()), dst)?;
            return Ok(());
        }
        r => r?,
    };
    let st = rustix::fs::fstat(&fd)?;
    let mode = st.st_mode & 0o7777;
    match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => {
            match fs::create_dir(dst) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
            let mut names = Vec::new();
            for entry in rustix::fs::Dir::read_from(&fd)? {
                let entry = entry?;
                let n = entry.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(OsStr::from_bytes(n).to_os_string());
                }
            }
            for n in names {
                get(fd.as_fd(), Path::new(&n), &dst.join(&n))?;
            }
        }
        rustix::fs::FileType::RegularFile => {
            let mut out = fs::File::create(dst)?;
            io::copy(&mut fs::File::from(fd), &mut out)?;
            fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{}: only files, directories and symlinks are copied",
                    name.display()
                ),
            ))
        }
    }
    Ok(())
}
