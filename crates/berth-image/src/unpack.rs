//! Unpacking one layer tar (plain, gzip or zstd) into an empty directory, safely.
//!
//! Owns the rules a hostile tar must not break: every entry lands inside the layer directory.
//! Paths are normalized (a leading `/` is dropped, `.` skipped) and `..` is refused; every parent
//! component is opened with `O_NOFOLLOW | O_DIRECTORY` from the layer's root fd, so a symlink
//! planted by an earlier entry can never be walked through (each layer is unpacked into its own
//! fresh directory, so lower layers' symlinks are not reachable at all). Hard links are made with
//! `linkat` between two such safely opened parents. Whiteouts become overlayfs whiteouts
//! (`.wh.NAME` → char device 0:0, `.wh..wh..opq` → `trusted.overlay.opaque=y`).
//! Ownership is kept when running as root; modes, xattrs, symlinks, device nodes and mtimes always.

use crate::digest::HashingReader;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;

/// Errors from unpacking a layer; each names the tar entry or path involved.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("open layer directory {path}: {source}")]
    OpenRoot { path: PathBuf, source: io::Error },
    #[error("read layer stream: {0}")]
    Read(#[source] io::Error),
    #[error("tar entry {entry:?} escapes the layer directory ({why})")]
    Escape { entry: String, why: &'static str },
    #[error("tar entry {entry:?}: parent component {component:?} is a symlink or not a directory")]
    ThroughSymlink { entry: String, component: String },
    #[error("tar entry {entry:?}: {step}: {source}")]
    Entry {
        entry: String,
        step: &'static str,
        source: io::Error,
    },
    #[error(
        "tar entry {entry:?}: {need} bytes of data do not fit in the {free} bytes left free \
         on the store's filesystem"
    )]
    NoSpace { entry: String, need: u64, free: u64 },
}

/// What an unpack produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedLayer {
    /// `sha256:<hex>` of the uncompressed tar stream (the OCI diff-id).
    pub diff_id: String,
    /// Sum of regular file sizes written (disk usage estimate for `image ls`).
    pub size: u64,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
}

/// Compression of a layer stream, detected from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Wraps `reader` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok((
            Compression::Gzip,
            Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok((
            Compression::Zstd,
            Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        ))
    } else {
        Ok((Compression::None, Box::new(r)))
    }
}

/// Unpacks a (possibly compressed) layer tar into `dest`, an existing empty directory.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path) -> Result<UnpackedLayer, UnpackError> {
    let (_, plain) = decompress(reader).map_err(UnpackError::Read)?;
    let mut hashing = HashingReader::new(plain);
    let size = unpack_tar(&mut hashing, dest)?;
    let (diff_id, tar_size) = hashing.finish().map_err(UnpackError::Read)?;
    Ok(UnpackedLayer {
        diff_id,
        size,
        tar_size,
    })
}

/// [`unpack_layer`] in two threads: this one creates the files while a second decompresses
/// and hashes the stream ahead of it. A large layer from the network then costs about the
/// larger of the two halves instead of their sum.
pub fn unpack_layer_threaded<R: Read + Send>(
    reader: R,
    dest: &Path,
) -> Result<UnpackedLayer, UnpackError> {
    const CHUNK: usize = 256 * 1024;
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> io::Result<(String, u64)> {
            let (_, plain) = decompress(reader)?;
            let mut hashing = HashingReader::new(plain);
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = match hashing.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let copy = io::Error::new(e.kind(), e.to_string());
                        // The unpacker reports it as the stream's error, if it still reads.
                        let _ = tx.send(Err(copy));
                        return Err(e);
                    }
                };
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() {
                    // The unpacker failed and stopped reading: its error is the one reported.
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
            }
            hashing.finish()
        });
        let mut chan = ChanReader::new(rx);
        let unpacked = unpack_tar(&mut chan, dest).and_then(|size| {
            // Past the tar's end-of-archive blocks: let the hasher see the stream to its end.
            io::copy(&mut chan, &mut io::sink()).map_err(UnpackError::Read)?;
            Ok(size)
        });
        drop(chan);
        let hashed = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("decompressing thread panicked")));
        let size = unpacked?;
        let (diff_id, tar_size) = hashed.map_err(UnpackError::Read)?;
        Ok(UnpackedLayer {
            diff_id,
            size,
            tar_size,
        })
    })
}

/// The reading end of a channel of byte chunks (or errors) as a [`Read`]; EOF when the
/// sender is gone.
pub(crate) struct ChanReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl ChanReader {
    pub(crate) fn new(rx: mpsc::Receiver<io::Result<Vec<u8>>>) -> ChanReader {
        ChanReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn unpack_tar<R: Read>(reader: R, dest: &Path) -> Result<u64, UnpackError> {
    let root = rfs::open(
        dest,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::OpenRoot {
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let as_root = rustix::process::geteuid().is_root();
    let mut space = SpaceBudget::of(&root, dest)?;
    let mut archive = tar::Archive::new(crate::tarlimit::Limited::new(reader));
    let mut dir_times: Vec<(Vec<OsString>, u64)> = Vec::new();
    let mut size = 0u64;
    let mut parents_cache = ParentCache {
        key: Vec::new(),
        fd: None,
    };
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let comps = normalize(&raw, &name)?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            continue;
        }
        let xattrs = entry_xattrs(&mut entry, &name)?;
        let e = |step: &'static str| {
            let name = name.clone();
            move |err: Errno| UnpackError::Entry {
                entry: name,
                step,
                source: err.into(),
            }
        };
        let Some((base, parents)) = comps.split_last() else {
            // The layer root itself ("./"): keep its mode and owner, it becomes the merged root's.
            apply_meta(&root, None, &entry, &xattrs, as_root, &name)?;
            continue;
        };
        let base_bytes = base.as_bytes();
        if base_bytes == b".wh..wh..opq" {
            let dir = parents_cache.get(&root, parents, &name)?;
            rfs::fsetxattr(dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(e("set trusted.overlay.opaque"))?;
            continue;
        }
        if let Some(target) = base_bytes.strip_prefix(b".wh.") {
            if target.starts_with(b".wh.") {
                // aufs bookkeeping (.wh..wh.plnk etc.): meaningless for overlayfs.
                continue;
            }
            if target.is_empty() || target == b"." || target == b".." {
                return Err(UnpackError::Escape {
                    entry: name,
                    why: "whiteout of . or ..",
                });
            }
            let target = OsStr::from_bytes(target);
            let mut touched = parents.to_vec();
            touched.push(target.to_os_string());
            parents_cache.invalidate(&touched);
            let dir = parents_cache.get(&root, parents, &name)?;
            remove_existing(dir, target, false, &name)?;
            rfs::mknodat(
                dir,
                target,
                FileType::CharacterDevice,
                Mode::empty(),
                rfs::makedev(0, 0),
            )
            .map_err(e("create whiteout device"))?;
            continue;
        }
        parents_cache.invalidate(&comps);
        let parent = parents_cache.get(&root, parents, &name)?;
        let is_dir = kind.is_dir();
        remove_existing(parent, base, is_dir, &name)?;
        let mode = Mode::from_bits_truncate(entry.header().mode().unwrap_or(0o644) & 0o7777);
        match kind {
            tar::EntryType::Directory => {
                match rfs::mkdirat(parent, base.as_os_str(), Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {
                        let mtime = entry.header().mtime().unwrap_or(0);
                        dir_times.push((comps.clone(), mtime));
                    }
                    Err(err) => return Err(e("mkdir")(err)),
                }
            }
            tar::EntryType::GNUSparse => {
                // Only the data regions are stored (and charged); holes stay holes.
                let data = sparse_data_size(&mut entry, &name)?;
                space.charge(data, &name)?;
                write_sparse(&mut entry, parent, base, &name)?;
                size += data;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                space.charge(entry.size(), &name)?;
                let fd = rfs::openat(
                    parent,
                    base.as_os_str(),
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(e("create file"))?;
                let mut file = std::fs::File::from(fd);
                size += io::copy(&mut entry, &mut file).map_err(|err| UnpackError::Entry {
                    entry: name.clone(),
                    step: "write file contents",
                    source: err,
                })?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::Entry {
                        entry: name.clone(),
                        step: "read symlink target",
                        source: io::Error::new(
                            io::ErrorKind::InvalidData,
                            "symlink without target",
                        ),
                    })?
                    .into_owned();
                // The target is stored, not followed: it is resolved inside the container root at run time.
                rfs::symlinkat(OsStr::from_bytes(&target), parent, base.as_os_str())
                    .map_err(e("create symlink"))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let tcomps = normalize(&target, &name)?;
                let Some((tbase, tparents)) = tcomps.split_last() else {
                    return Err(UnpackError::Escape {
                        entry: name,
                        why: "hard link to the layer root",
                    });
                };
                let tdir = open_parent(&root, tparents, &name, false)?;
                rfs::linkat(
                    &tdir,
                    tbase.as_os_str(),
                    parent,
                    base.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(e("create hard link"))?;
                // Metadata belongs to the shared inode, already set by the entry that made it.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                rfs::mknodat(
                    parent,
                    base.as_os_str(),
                    ft,
                    mode,
                    rfs::makedev(major, minor),
                )
                .map_err(e("create device node"))?;
            }
            // PAX/GNU extension headers are folded into the next entry by the tar crate; anything
            // else (unknown vendor types) carries nothing a root filesystem needs.
            _ => continue,
        }
        apply_meta(parent, Some(base), &entry, &xattrs, as_root, &name)?;
    }
    // Directory mtimes last: creating entries inside a directory bumps its mtime.
    for (comps, mtime) in dir_times.iter().rev() {
        let Some((base, parents)) = comps.split_last() else {
            continue;
        };
        let Ok(dir) = open_parent(&root, parents, "", false) else {
            continue;
        };
        let ts = Timespec {
            tv_sec: *mtime as i64,
            tv_nsec: 0,
        };
        let _ = rfs::utimensat(
            &dir,
            base.as_os_str(),
            &Timestamps {
                last_access: ts,
                last_modification: ts,
            },
            AtFlags::SYMLINK_NOFOLLOW,
        );
    }
    Ok(size)
}

/// What the unpack may still write: the space free under the layer directory when it began.
/// Each file's data is charged before it is written, so a layer that cannot fit is refused
/// before it fills the store's filesystem (concurrent writers can still take the space first:
/// then the write fails with ENOSPC, and the caller removes the partial layer all the same).
pub(crate) struct SpaceBudget {
    left: u64,
    block: u64,
}

impl SpaceBudget {
    /// The budget of the filesystem holding `root` (an fd of the directory `dest`).
    pub(crate) fn of(root: impl AsFd, dest: &Path) -> Result<SpaceBudget, UnpackError> {
        let st = rfs::fstatvfs(root).map_err(|e| UnpackError::OpenRoot {
            path: dest.to_path_buf(),
            source: e.into(),
        })?;
        Ok(SpaceBudget {
            left: st.f_bavail.saturating_mul(st.f_frsize),
            block: st.f_frsize.max(1),
        })
    }

    /// Takes `bytes` (rounded up to whole blocks) from the budget, or refuses the entry.
    pub(crate) fn charge(&mut self, bytes: u64, entry: &str) -> Result<(), UnpackError> {
        let need = bytes.div_ceil(self.block).saturating_mul(self.block);
        if need > self.left {
            return Err(UnpackError::NoSpace {
                entry: entry.to_string(),
                need: bytes,
                free: self.left,
            });
        }
        self.left -= need;
        Ok(())
    }
}

/// The bytes of data a GNU sparse entry stores: its header's size field, unless a PAX `size`
/// record overrides it (the tar crate reads that many).
fn sparse_data_size<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
) -> Result<u64, UnpackError> {
    let bad = |source| UnpackError::Entry {
        entry: name.to_string(),
        step: "read the size of a sparse file",
        source,
    };
    if let Some(exts) = entry.pax_extensions().map_err(bad)? {
        for ext in exts.flatten() {
            if ext.key() == Ok("size") {
                let size = ext.value().ok().and_then(|v| v.parse().ok());
                return size.ok_or_else(|| bad(io::Error::other("PAX size is not a number")));
            }
        }
    }
    entry.header().entry_size().map_err(bad)
}

/// Writes a GNU sparse entry as a sparse file. The tar crate knows the entry's map of data
/// regions and holes (including extension headers) but exposes it only through
/// `Entry::unpack`, which writes the data and seeks over the holes; reading the entry instead
/// would produce every zero of the holes (a 12 KB tar can describe an 8 GiB file). The path
/// goes through `/proc/self/fd` of the safely opened parent, and the file is created with
/// `O_CREAT | O_EXCL`, which never follows a symlink.
fn write_sparse<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    parent: &OwnedFd,
    base: &OsStr,
    name: &str,
) -> Result<(), UnpackError> {
    // apply_meta sets the mtime with everything else, after this.
    entry.set_preserve_mtime(false);
    entry
        .unpack(fd_path(parent).join(base))
        .map_err(|err| UnpackError::Entry {
            entry: name.to_string(),
            step: "write sparse file",
            source: err,
        })?;
    Ok(())
}

/// The parent directory of the previous entry, reused while entries stay in one directory
/// (tars list a directory's files together), which saves a walk from the root per entry.
struct ParentCache {
    key: Vec<OsString>,
    fd: Option<OwnedFd>,
}

impl ParentCache {
    /// Forgets the cached directory if an entry replaces `touched` and `touched` is the cached
    /// directory or one of its ancestors: the fd would point at a directory no longer in the tree.
    fn invalidate(&mut self, touched: &[OsString]) {
        if self.key.starts_with(touched) {
            self.fd = None;
        }
    }

    fn get(
        &mut self,
        root: &OwnedFd,
        parents: &[OsString],
        entry: &str,
    ) -> Result<&OwnedFd, UnpackError> {
        if self.fd.is_none() || self.key != parents {
            self.fd = None;
            self.key = parents.to_vec();
        }
        match &mut self.fd {
            Some(fd) => Ok(fd),
            slot => Ok(slot.insert(open_parent(root, parents, entry, true)?)),
        }
    }
}

/// Splits a tar path into safe components: leading `/` and `.` dropped, `..` refused.
fn normalize(raw: &[u8], entry: &str) -> Result<Vec<OsString>, UnpackError> {
    let mut out = Vec::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                return Err(UnpackError::Escape {
                    entry: entry.to_string(),
                    why: "'..' path component",
                })
            }
            Component::Prefix(_) => {
                return Err(UnpackError::Escape {
                    entry: entry.to_string(),
                    why: "path prefix",
                })
            }
        }
    }
    Ok(out)
}

/// Opens the directory `parents` below `root`, one component at a time with O_NOFOLLOW, creating
/// missing ones (mode 0755) if `create`.
fn open_parent(
    root: &OwnedFd,
    parents: &[OsString],
    entry: &str,
    create: bool,
) -> Result<OwnedFd, UnpackError> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut cur =
        rfs::openat(root, ".", flags, Mode::empty()).map_err(|err| UnpackError::Entry {
            entry: entry.to_string(),
            step: "reopen layer root",
            source: err.into(),
        })?;
    for comp in parents {
        let next = match rfs::openat(&cur, comp.as_os_str(), flags, Mode::empty()) {
            Err(Errno::NOENT) if create => {
                match rfs::mkdirat(&cur, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(err) => {
                        return Err(UnpackError::Entry {
                            entry: entry.to_string(),
                            step: "create parent directory",
                            source: err.into(),
                        })
                    }
                }
                rfs::openat(&cur, comp.as_os_str(), flags, Mode::empty())
            }
            other => other,
        };
        cur = match next {
            Ok(fd) => fd,
            Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                return Err(UnpackError::ThroughSymlink {
                    entry: entry.to_string(),
                    component: comp.to_string_lossy().into_owned(),
                })
            }
            Err(err) => {
                return Err(UnpackError::Entry {
                    entry: entry.to_string(),
                    step: "open parent directory",
                    source: err.into(),
                })
            }
        };
    }
    Ok(cur)
}

/// Clears the way for a new entry: a later entry replaces an earlier one, except that a
/// directory over a directory merges.
fn remove_existing(
    parent: &OwnedFd,
    base: &OsStr,
    new_is_dir: bool,
    entry: &str,
) -> Result<(), UnpackError> {
    let st = match rfs::statat(parent, base, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(err) => {
            return Err(UnpackError::Entry {
                entry: entry.to_string(),
                step: "stat existing",
                source: err.into(),
            })
        }
    };
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if is_dir && new_is_dir {
        return Ok(());
    }
    if is_dir {
        // /proc/self/fd/N is the real parent directory; remove_dir_all never follows symlinks.
        let path = fd_path(parent).join(base);
        std::fs::remove_dir_all(&path).map_err(|err| UnpackError::Entry {
            entry: entry.to_string(),
            step: "remove replaced directory",
            source: err,
        })
    } else {
        rfs::unlinkat(parent, base, AtFlags::empty()).map_err(|err| UnpackError::Entry {
            entry: entry.to_string(),
            step: "remove replaced entry",
            source: err.into(),
        })
    }
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

/// Ownership, mode, xattrs and mtime for a just-created entry (`base` None: `dir` itself).
fn apply_meta<R: Read>(
    dir: &OwnedFd,
    base: Option<&OsString>,
    entry: &tar::Entry<'_, R>,
    xattrs: &[(String, Vec<u8>)],
    as_root: bool,
    name: &str,
) -> Result<(), UnpackError> {
    let h = entry.header();
    let kind = h.entry_type();
    let target: &OsStr = base.map(|b| b.as_os_str()).unwrap_or(OsStr::new(""));
    let flags = if base.is_some() {
        AtFlags::SYMLINK_NOFOLLOW
    } else {
        AtFlags::EMPTY_PATH
    };
    let err = |step: &'static str| {
        move |e: Errno| UnpackError::Entry {
            entry: name.to_string(),
            step,
            source: e.into(),
        }
    };
    if as_root {
        let uid = h.uid().unwrap_or(0) as u32;
        let gid = h.gid().unwrap_or(0) as u32;
        rfs::chownat(
            dir,
            target,
            Some(rfs::Uid::from_raw(uid)),
            Some(rfs::Gid::from_raw(gid)),
            flags,
        )
        .map_err(err("chown"))?;
    }
    if !kind.is_symlink() {
        // After chown, which clears setuid/setgid bits.
        let mode = Mode::from_bits_truncate(h.mode().unwrap_or(0o644) & 0o7777);
        match base {
            Some(b) => rfs::chmodat(dir, b.as_os_str(), mode, AtFlags::empty()),
            None => rfs::fchmod(dir, mode),
        }
        .map_err(err("chmod"))?;
    }
    if !xattrs.is_empty() {
        let path = match base {
            Some(b) => fd_path(dir).join(b),
            None => fd_path(dir),
        };
        for (xname, value) in xattrs {
            rfs::lsetxattr(&path, xname.as_str(), value, XattrFlags::empty())
                .map_err(err("set xattr"))?;
        }
    }
    if !kind.is_dir() {
        let mtime = h.mtime().unwrap_or(0) as i64;
        let ts = Timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        };
        rfs::utimensat(
            dir,
            target,
            &Timestamps {
                last_access: ts,
                last_modification: ts,
            },
            flags,
        )
        .map_err(err("set mtime"))?;
    }
    Ok(())
}

/// `SCHILY.xattr.*` PAX records of an entry, as (name, value).
fn entry_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let mut out = Vec::new();
    let exts = entry.pax_extensions().map_err(|err| UnpackError::Entry {
        entry: name.to_string(),
        step: "read PAX headers",
        source: err,
    })?;
    for ext in exts.into_iter().flatten() {
        let ext = ext.map_err(|err| UnpackError::Entry {
            entry: name.to_string(),
            step: "parse PAX record",
            source: err,
        })?;
        if let Some(xname) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
            // overlayfs reads its own trusted.overlay.* attributes (redirect, metacopy, origin)
            // from layer files: only berth's whiteout handling may set them.
            if xname.starts_with("trusted.overlay.") {
                continue;
            }
            out.push((xname.to_string(), ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    /// Appends an entry with a raw (unvalidated) name, as a hostile tar would carry.
    fn raw_entry(
        b: &mut tar::Builder<Vec<u8>>,
        name: &str,
        kind: tar::EntryType,
        link: &str,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_mtime(1_000_000);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }

    fn unpack_raw(
        entries: &[(&str, tar::EntryType, &str, &[u8])],
    ) -> (tempfile::TempDir, Result<UnpackedLayer, UnpackError>) {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link, data) in entries {
            raw_entry(&mut b, name, *kind, link, data);
        }
        let bytes = b.into_inner().expect("finish tar");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("layer")).expect("mkdir");
        let res = unpack_layer(&bytes[..], &dir.path().join("layer"));
        (dir, res)
    }

    use tar::EntryType as T;

    #[test]
    fn rejects_dotdot_entry() {
        let (dir, res) = unpack_raw(&[("../evil", T::Regular, "", b"x")]);
        let err = res.expect_err("must reject");
        assert!(err.to_string().contains("../evil"), "{err}");
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn rejects_nested_dotdot_entry() {
        let (dir, res) = unpack_raw(&[("a/../../evil", T::Regular, "", b"x")]);
        assert!(matches!(res, Err(UnpackError::Escape { .. })));
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn absolute_path_is_kept_inside() {
        let (dir, res) = unpack_raw(&[("/abs/file", T::Regular, "", b"x")]);
        res.expect("absolute paths are normalized");
        assert_eq!(
            std::fs::read(dir.path().join("layer/abs/file")).expect("read"),
            b"x"
        );
    }

    #[test]
    fn rejects_write_through_symlink_planted_earlier() {
        let outside = tempfile::tempdir().expect("tempdir");
        let target = outside.path().to_str().expect("utf8");
        let (_dir, res) = unpack_raw(&[
            ("link", T::Symlink, target, b""),
            ("link/pwned", T::Regular, "", b"x"),
        ]);
        let err = res.expect_err("must reject");
        assert!(
            matches!(&err, UnpackError::ThroughSymlink { entry, component } if entry == "link/pwned" && component == "link"),
            "{err}"
        );
        assert!(!outside.path().join("pwned").exists());
    }

    #[test]
    fn rejects_write_through_relative_symlink_to_parent() {
        let (dir, res) = unpack_raw(&[
            ("up", T::Symlink, "..", b""),
            ("up/pwned", T::Regular, "", b"x"),
        ]);
        assert!(matches!(res, Err(UnpackError::ThroughSymlink { .. })));
        assert!(!dir.path().join("pwned").exists());
    }

    #[test]
    fn rejects_whiteout_through_symlink() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("victim"), b"keep").expect("write");
        let (_dir, res) = unpack_raw(&[
            ("d", T::Symlink, outside.path().to_str().expect("utf8"), b""),
            ("d/.wh.victim", T::Regular, "", b""),
        ]);
        assert!(matches!(res, Err(UnpackError::ThroughSymlink { .. })));
        assert_eq!(
            std::fs::read(outside.path().join("victim")).expect("read"),
            b"keep"
        );
    }

    #[test]
    fn rejects_hardlink_escaping_the_layer() {
        let (_dir, res) = unpack_raw(&[("h", T::Link, "../../../etc/passwd", b"")]);
        assert!(matches!(res, Err(UnpackError::Escape { .. })));
        let (_dir, res) = unpack_raw(&[
            ("s", T::Symlink, "/", b""),
            ("h", T::Link, "s/etc/passwd", b""),
        ]);
        assert!(matches!(res, Err(UnpackError::ThroughSymlink { .. })));
    }

    #[test]
    fn absolute_hardlink_target_stays_inside() {
        let (dir, res) = unpack_raw(&[
            ("etc/passwd", T::Regular, "", b"inside"),
            ("h", T::Link, "/etc/passwd", b""),
        ]);
        res.expect("unpack");
        let a = std::fs::metadata(dir.path().join("layer/h")).expect("stat");
        let b = std::fs::metadata(dir.path().join("layer/etc/passwd")).expect("stat");
        assert_eq!(a.ino(), b.ino());
    }

    #[test]
    fn rejects_dotdot_whiteout() {
        let (_dir, res) = unpack_raw(&[("a/.wh...", T::Regular, "", b"")]);
        assert!(matches!(res, Err(UnpackError::Escape { .. })));
    }

    fn sample_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(T::Directory);
        dir.set_mode(0o750);
        dir.set_uid(1234);
        dir.set_gid(4321);
        dir.set_mtime(1_000_000);
        dir.set_size(0);
        b.append_data(&mut dir, "etc/", &[][..]).expect("dir");
        let mut f = tar::Header::new_gnu();
        f.set_entry_type(T::Regular);
        f.set_mode(0o4755);
        f.set_uid(7);
        f.set_gid(8);
        f.set_mtime(1_234_567);
        f.set_size(5);
        b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"yes"[..])])
            .expect("pax");
        b.append_data(&mut f, "etc/tool", &b"hello"[..])
            .expect("file");
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(T::Symlink);
        l.set_size(0);
        l.set_mtime(1_000);
        b.append_link(&mut l, "etc/link", "/etc/tool")
            .expect("symlink");
        let mut hl = tar::Header::new_gnu();
        hl.set_entry_type(T::Link);
        hl.set_size(0);
        b.append_link(&mut hl, "etc/hard", "etc/tool")
            .expect("hardlink");
        let mut wh = tar::Header::new_gnu();
        wh.set_entry_type(T::Regular);
        wh.set_size(0);
        wh.set_mode(0o644);
        b.append_data(&mut wh, "etc/.wh.gone", &[][..])
            .expect("whiteout");
        b.append_data(&mut wh.clone(), "opaque/.wh..wh..opq", &[][..])
            .expect("opaque");
        let mut dev = tar::Header::new_gnu();
        dev.set_entry_type(T::Char);
        dev.set_mode(0o666);
        dev.set_device_major(1).expect("major");
        dev.set_device_minor(3).expect("minor");
        dev.set_size(0);
        b.append_data(&mut dev, "dev/null", &[][..]).expect("dev");
        let mut fifo = tar::Header::new_gnu();
        fifo.set_entry_type(T::Fifo);
        fifo.set_mode(0o600);
        fifo.set_size(0);
        b.append_data(&mut fifo, "run/fifo", &[][..]).expect("fifo");
        b.into_inner().expect("finish")
    }

    fn check_sample(root: &Path) {
        let tool = std::fs::symlink_metadata(root.join("etc/tool")).expect("tool");
        assert_eq!(
            tool.permissions().mode() & 0o7777,
            0o4755,
            "setuid mode kept after chown"
        );
        assert_eq!(tool.mtime(), 1_234_567);
        assert_eq!(tool.nlink(), 2, "hard link shares the inode");
        assert_eq!(
            std::fs::read(root.join("etc/hard")).expect("hard"),
            b"hello"
        );
        assert_eq!(
            std::fs::read_link(root.join("etc/link")).expect("link"),
            Path::new("/etc/tool")
        );
        let etc = std::fs::metadata(root.join("etc")).expect("etc");
        assert_eq!(etc.permissions().mode() & 0o7777, 0o750);
        assert_eq!(
            etc.mtime(),
            1_000_000,
            "dir mtime restored after its entries"
        );
        let xattr = rfs::lgetxattr(root.join("etc/tool"), "user.berth", &mut [0u8; 16][..]);
        assert_eq!(xattr.ok(), Some(3), "xattr from PAX kept");
        let wh = std::fs::symlink_metadata(root.join("etc/gone")).expect("whiteout");
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        let null = std::fs::symlink_metadata(root.join("dev/null")).expect("dev");
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), rfs::makedev(1, 3));
        assert!(std::fs::symlink_metadata(root.join("run/fifo"))
            .expect("fifo")
            .file_type()
            .is_fifo());
        if rustix::process::geteuid().is_root() {
            assert_eq!((tool.uid(), tool.gid()), (7, 8));
            assert_eq!((etc.uid(), etc.gid()), (1234, 4321));
            let mut buf = [0u8; 4];
            let n = rfs::lgetxattr(root.join("opaque"), "trusted.overlay.opaque", &mut buf[..])
                .expect("opaque xattr");
            assert_eq!(&buf[..n], b"y");
        }
    }

    fn skip_unless_root() -> bool {
        if !rustix::process::geteuid().is_root() {
            berth_common::note_skipped!("needs root (mknod of whiteouts, trusted.* xattrs, chown)");
            return true;
        }
        false
    }

    #[test]
    fn unpacks_plain_gzip_and_zstd_layers_with_metadata() {
        if skip_unless_root() {
            return;
        }
        let plain = sample_layer();
        let expected = crate::digest::sha256_digest(&plain);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(&plain[..], 1).expect("zstd");
        for (what, bytes) in [("plain", &plain), ("gzip", &gz), ("zstd", &zst)] {
            for threaded in [false, true] {
                let dir = tempfile::tempdir().expect("tempdir");
                let got = if threaded {
                    unpack_layer_threaded(&bytes[..], dir.path())
                } else {
                    unpack_layer(&bytes[..], dir.path())
                }
                .unwrap_or_else(|e| panic!("{what} (threaded: {threaded}): {e}"));
                assert_eq!(
                    got.diff_id, expected,
                    "{what} (threaded: {threaded}): diff-id is the digest of the plain tar"
                );
                assert_eq!(got.size, 5);
                check_sample(dir.path());
            }
        }
    }

    #[test]
    fn threaded_unpack_hashes_to_the_end_and_reports_bad_streams() {
        // Bytes after the end-of-archive blocks belong to the diff-id too.
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, "f", T::Regular, "", b"data");
        let mut bytes = b.into_inner().expect("tar");
        bytes.extend_from_slice(&[0u8; 4096]);
        let dir = tempfile::tempdir().expect("tempdir");
        let got = unpack_layer_threaded(&bytes[..], dir.path()).expect("unpack");
        assert_eq!(got.diff_id, crate::digest::sha256_digest(&bytes));
        assert_eq!(got.tar_size, bytes.len() as u64);
        assert_eq!(std::fs::read(dir.path().join("f")).expect("read"), b"data");

        // A hostile entry fails the same way as unthreaded, and nothing escapes.
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, "../evil", T::Regular, "", b"x");
        let bytes = b.into_inner().expect("tar");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("layer")).expect("mkdir");
        let err =
            unpack_layer_threaded(&bytes[..], &dir.path().join("layer")).expect_err("must reject");
        assert!(matches!(err, UnpackError::Escape { .. }), "{err}");
        assert!(!dir.path().join("evil").exists());

        // A truncated gzip stream is a read error, not a hang or a partial success.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![7u8; 1 << 20]).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let dir = tempfile::tempdir().expect("tempdir");
        let err = unpack_layer_threaded(&gz[..gz.len() / 2], dir.path()).expect_err("truncated");
        assert!(matches!(err, UnpackError::Read(_)), "{err}");
    }

    #[test]
    fn drops_overlay_xattrs_from_the_tar() {
        if skip_unless_root() {
            return;
        }
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
            ("SCHILY.xattr.user.kept", &b"1"[..]),
        ])
        .expect("pax");
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(T::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "d/", &[][..]).expect("dir");
        let dir = tempfile::tempdir().expect("tempdir");
        unpack_layer(&b.into_inner().expect("tar")[..], dir.path()).expect("unpack");
        let mut buf = [0u8; 8];
        assert!(rfs::lgetxattr(
            dir.path().join("d"),
            "trusted.overlay.redirect",
            &mut buf[..]
        )
        .is_err());
        assert_eq!(
            rfs::lgetxattr(dir.path().join("d"), "user.kept", &mut buf[..]).ok(),
            Some(1)
        );
    }

    #[test]
    fn replacing_a_cached_parent_with_a_symlink_is_still_caught() {
        let outside = tempfile::tempdir().expect("tempdir");
        let (_dir, res) = unpack_raw(&[
            ("a/b/f1", T::Regular, "", b"1"),
            ("a", T::Symlink, outside.path().to_str().expect("utf8"), b""),
            ("a/b/f2", T::Regular, "", b"2"),
        ]);
        assert!(
            matches!(res, Err(UnpackError::ThroughSymlink { .. })),
            "{res:?}"
        );
        assert_eq!(std::fs::read_dir(outside.path()).expect("ls").count(), 0);
    }

    /// A GNU sparse entry (type 'S') of `real` bytes whose data regions are `map`.
    fn sparse_tar(name: &str, real: u64, map: &[(u64, &[u8])]) -> Vec<u8> {
        fn octal(field: &mut [u8], v: u64) {
            let s = format!("{v:0w$o}", w = field.len() - 1);
            field[..s.len()].copy_from_slice(s.as_bytes());
        }
        let mut h = tar::Header::new_gnu();
        let mut data = Vec::new();
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            // The last map entry is (real size, 0): a trailing hole, as GNU tar writes it.
            let end = [(real, &b""[..])];
            for (slot, (off, bytes)) in gnu.sparse.iter_mut().zip(map.iter().chain(&end)) {
                // Data regions are whole 512-byte blocks (GNU tar finds holes by blocks).
                let len = (bytes.len() as u64).next_multiple_of(512);
                octal(&mut slot.offset, *off);
                octal(&mut slot.numbytes, len);
                data.extend_from_slice(bytes);
                data.resize(data.len() + len as usize - bytes.len(), 0);
            }
            octal(&mut gnu.realsize, real);
        }
        h.set_entry_type(T::GNUSparse);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&data);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn gnu_sparse_entries_are_written_sparse() {
        const GIB: u64 = 1 << 30;
        let tar = sparse_tar("big", 8 * GIB, &[(0, b"head"), (4 * GIB, b"middle")]);
        assert!(tar.len() < 4096, "the tar itself is small");
        let dir = tempfile::tempdir().expect("tempdir");
        let got = unpack_layer(&tar[..], dir.path()).expect("unpack");
        assert_eq!(got.size, 1024, "the data regions, not the holes");
        let md = std::fs::metadata(dir.path().join("big")).expect("stat");
        assert_eq!(md.len(), 8 * GIB);
        assert!(md.blocks() < 1024, "{} blocks allocated", md.blocks());
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(dir.path().join("big")).expect("open");
        let mut buf = [1u8; 12];
        f.read_exact_at(&mut buf, 4 * GIB - 6).expect("read");
        assert_eq!(&buf, b"\0\0\0\0\0\0middle");
        f.read_exact_at(&mut buf, 0).expect("read");
        assert_eq!(&buf, b"head\0\0\0\0\0\0\0\0");
        f.read_exact_at(&mut buf, 8 * GIB - 12).expect("read");
        assert_eq!(buf, [0u8; 12]);
    }

    #[test]
    fn a_pax_size_on_a_sparse_entry_is_the_size_charged() {
        // The header says 0 bytes of data, a PAX record says 512: the tar crate reads 512.
        let mut sparse = sparse_tar("s", 1 << 20, &[(4096, b"data")]);
        sparse[124..136].copy_from_slice(b"00000000000\0");
        let mut h = tar::Header::from_byte_slice(&sparse[..512]).clone();
        h.set_cksum();
        sparse[..512].copy_from_slice(h.as_bytes());
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", &b"512"[..])])
            .expect("pax");
        let mut tar = b.into_inner().expect("tar");
        tar.truncate(tar.len() - 1024);
        tar.extend_from_slice(&sparse);
        let dir = tempfile::tempdir().expect("tempdir");
        let got = unpack_layer(&tar[..], dir.path()).expect("unpack");
        assert_eq!(got.size, 512, "charged and counted as the crate reads it");
        let f = std::fs::read(dir.path().join("s")).expect("read");
        assert_eq!(&f[4096..4100], b"data");
    }

    #[test]
    fn later_entry_replaces_earlier_and_dirs_merge() {
        let (dir, res) = unpack_raw(&[
            ("a", T::Directory, "", b""),
            ("a/x", T::Regular, "", b"1"),
            ("a", T::Directory, "", b""),
            ("f", T::Regular, "", b"old"),
            ("f", T::Symlink, "elsewhere", b""),
            ("d", T::Directory, "", b""),
            ("d/y", T::Regular, "", b""),
            ("d", T::Regular, "", b"file now"),
        ]);
        res.expect("unpack");
        let l = dir.path().join("layer");
        assert_eq!(
            std::fs::read(l.join("a/x")).expect("merged dir keeps content"),
            b"1"
        );
        assert_eq!(
            std::fs::read_link(l.join("f")).expect("symlink"),
            Path::new("elsewhere")
        );
        assert_eq!(std::fs::read(l.join("d")).expect("file"), b"file now");
    }
}
