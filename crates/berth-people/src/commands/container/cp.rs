//! `cp SRC ID:DST` and `cp ID:SRC DST`: files, directories (recursively) and symlinks (as
//! symlinks) between the host and a kept container's files as the container sees them: its
//! overlay root with its volumes (`-v HOST:CTR` directories) bound in, running or stopped,
//! as Docker does. The copy runs on a thread of its own mount namespace where the volumes
//! are bound onto the root (as the runtime binds them at start), so a path under a volume
//! lands in its host directory and nothing changes on the host's mounts. Every path in the
//! container is opened with `openat2(RESOLVE_IN_ROOT)` from the root, so `/`, `..` and each
//! symlink on the way, absolute or relative, in the container or in a volume, resolve inside
//! the root: a symlink can never name a host file outside it. Entries of a copied directory
//! are opened by one name with `O_NOFOLLOW`. A stopped container's overlay is mounted for
//! the copy and unmounted after it.

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

/// Runs `f` on an O_PATH fd of the container's root with its volumes bound in, mounting a
/// stopped container's overlay for the time of the copy.
fn with_root(
    ctx: &Context,
    id: &str,
    f: impl FnOnce(&OwnedFd) -> Result<(), PeopleError> + Send,
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
    let result = volumes(&bundle).and_then(|vols| {
        std::thread::scope(|s| {
            s.spawn(|| {
                if !vols.is_empty() {
                    // Before the root is opened: its fd must be of this namespace's mount.
                    private_mounts()?;
                }
                let root = open_root(&merged)?;
                bind_volumes(&root, &vols)?;
                f(&root)
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    });
    if !running {
        store.unmount_container_root(id)?;
    }
    result
}

fn open_root(merged: &Path) -> Result<OwnedFd, PeopleError> {
    rustix::fs::open(
        merged,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open the root", &merged.display().to_string(), e.into()))
}

/// A volume: a directory of the host bound at a path of the container.
struct Volume {
    source: PathBuf,
    destination: PathBuf,
    readonly: bool,
}

/// The container's volumes, in the config's order (a nested one after its parent): its bind
/// mounts of host directories (not the file binds of /etc/hosts or the --init binary).
fn volumes(bundle: &Path) -> Result<Vec<Volume>, PeopleError> {
    let path = bundle.join("config.json");
    let spec = oci_spec::runtime::Spec::load(&path)
        .map_err(|e| PeopleError::Usage(format!("read {}: {e}", path.display())))?;
    Ok(spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| {
            let opts = m.options().as_deref().unwrap_or_default();
            m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind")
        })
        .filter_map(|m| {
            let source = m.source().clone()?;
            source.is_dir().then(|| Volume {
                source,
                destination: m.destination().clone(),
                readonly: m
                    .options()
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|o| o == "ro"),
            })
        })
        .collect())
}

fn fail(what: &str, p: &Path, e: io::Error) -> PeopleError {
    PeopleError::Usage(format!("{what} {}: {e}", p.display()))
}

/// A mount namespace of this thread alone, private (nothing it mounts propagates to the
/// host's).
fn private_mounts() -> Result<(), PeopleError> {
    crate::sys::unshare_thread_mounts()
        .map_err(|e| fail("unshare the mounts of", Path::new("cp"), e))?;
    use rustix::mount::MountPropagationFlags as P;
    rustix::mount::mount_change("/", P::PRIVATE | P::REC)
        .map_err(|e| fail("make private", Path::new("/"), e.into()))
}

/// Binds each volume onto its place in `root` (in [`private_mounts`]): the container's view
/// of its files.
fn bind_volumes(root: &OwnedFd, vols: &[Volume]) -> Result<(), PeopleError> {
    use berth_runtime::init::rootfs::{fd_path, mkdir_all_in_root, open_in_root};
    for v in vols {
        // The place resolved inside the root (a symlink there stays in it), as the runtime
        // does at start; a container never started may not have it yet.
        let target = mkdir_all_in_root(root.as_fd(), &v.destination).map_err(|e| {
            fail(
                "volume place",
                &v.destination,
                io::Error::other(e.to_string()),
            )
        })?;
        let at = fd_path(&target);
        rustix::mount::mount_bind_recursive(&v.source, &at)
            .map_err(|e| fail("bind volume", &v.source, e.into()))?;
        if v.readonly {
            // The place again: its fd from before names the directory the bind now covers.
            let bound = open_in_root(
                root.as_fd(),
                &v.destination,
                OFlags::PATH | OFlags::DIRECTORY,
            )
            .map_err(|e| fail("open volume place", &v.destination, e.into()))?;
            rustix::mount::mount_remount(
                fd_path(&bound),
                rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY,
                "",
            )
            .map_err(|e| fail("make read-only", &v.destination, e.into()))?;
        }
    }
    Ok(())
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
