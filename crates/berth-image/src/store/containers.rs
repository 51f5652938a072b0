//! Container roots: an overlay over an image's layers, and the record that keeps them.

use super::*;
use crate::overlay::OverlayOptions;

/// What a container root is made from.
#[derive(Debug, Clone, Copy)]
pub enum RootSource<'a> {
    /// An image of the store (name or id).
    Image(&'a str),
    /// A directory used directly as the one read-only lower layer (`run --rootfs DIR`): never
    /// copied, never written (overlayfs writes only the upper dir).
    Directory(&'a Path),
}

/// Where a container's upper (and work) dir live when the user named the upper
/// (`run --upper DIR`): kept in `containers/<id>/upper.json`, so the release removes the work
/// dir berth made and never the user's DIR.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserUpper {
    pub upper: PathBuf,
    pub work: PathBuf,
}

impl UserUpper {
    /// `DIR` (created if missing) and its work dir `.<name>.work` beside it: overlayfs needs
    /// both on one filesystem, and neither inside the other.
    pub fn beside(dir: &Path) -> Result<UserUpper, StoreError> {
        fs::create_dir_all(dir).step("create upper dir", dir)?;
        let upper = fs::canonicalize(dir).step("resolve upper dir", dir)?;
        let (Some(parent), Some(name)) = (upper.parent(), upper.file_name()) else {
            return Err(StoreError::BadUpper(upper));
        };
        let mut work_name = std::ffi::OsString::from(".");
        work_name.push(name);
        work_name.push(".work");
        Ok(UserUpper {
            work: parent.join(work_name),
            upper,
        })
    }
}

const USER_UPPER: &str = "upper.json";
/// A container root's record of its image and layers; its lock is the maker's.
const CONTAINER_REF: &str = "image.json";

/// Whether a process still holds the maker's lock on the root `dir`'s image.json (false
/// without one: a maker killed between the directory and its record, both made under the
/// store lock, or a spare that lost it).
pub(super) fn maker_alive(dir: &std::os::fd::OwnedFd) -> Result<bool, rustix::io::Errno> {
    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let f = match rustix::fs::openat(dir, CONTAINER_REF, flags, Mode::empty()) {
        Ok(f) => f,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e),
    };
    match rustix::fs::flock(&f, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(false),
        Err(Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Opens `path` (made if missing), locks it for this process and writes `bytes` over it: the
/// lock is taken before the content, and only a killed maker's file is free (the store lock
/// the caller holds keeps checkers out meanwhile; a spare whose last maker still runs is not
/// taken, spare.rs).
fn hold_and_write(path: &Path, bytes: &[u8]) -> Result<fs::File, IoError> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .step("create", path)?;
    rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive)
        .map_err(|e| IoError::new("lock", path, e))?;
    f.write_all(bytes).step("write", path)?;
    f.set_len(bytes.len() as u64).step("truncate", path)?;
    Ok(f)
}

impl Store {
    /// Prepares a container root from `image`: records the container's use of the image's layers
    /// (so they outlive `image rm`), then mounts an overlay at `containers/<id>/merged` with a
    /// private upper/work dir, as `opts` says (read-only; volatile for a container removed when
    /// it exits, see [`OverlayOptions::volatile`]).
    pub fn create_container_root(
        &self,
        image: &str,
        container_id: &str,
        opts: OverlayOptions,
    ) -> Result<ContainerRoot, StoreError> {
        self.create_container_root_from(RootSource::Image(image), container_id, opts, None, &[])
    }

    /// [`Store::create_container_root`] from an image or a directory, with the upper dir in
    /// `container_dir/upper` or the user's (`upper`). `writes`: the files of
    /// [`spare::FILES`](super::spare::FILES) the caller writes into the root's directory (a
    /// spare root that has one gives its blocks; a caller must write the whole of each).
    pub fn create_container_root_from(
        &self,
        source: RootSource<'_>,
        container_id: &str,
        opts: OverlayOptions,
        upper: Option<&UserUpper>,
        writes: &[&str],
    ) -> Result<ContainerRoot, StoreError> {
        let dir = self.container_dir(container_id)?;
        let (details, lowers, maker) = {
            let _l = self.lock(true)?;
            let details = match source {
                RootSource::Image(image) => self.inspect_locked(image)?,
                RootSource::Directory(d) => directory_details(d)?,
            };
            if !self.take_spare(&dir, writes)? {
                match fs::DirBuilder::new().mode(0o700).create(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(StoreError::ContainerExists(dir.display().to_string()))
                    }
                    Err(e) => return Err(IoError::new("create container dir", &dir, e).into()),
                }
            }
            let cref = ContainerRef {
                image: details.record.name.clone(),
                config_digest: details.record.config_digest.clone(),
                layers: details.record.layers.clone(),
                directory: match source {
                    RootSource::Directory(_) => details.layer_dirs.first().cloned(),
                    RootSource::Image(_) => None,
                },
            };
            let bytes = serde_json::to_vec(&cref).map_err(|source| StoreError::Corrupt {
                path: dir.clone(),
                source,
            })?;
            // Written in place (over a spare's, in its blocks): every reader holds the store
            // lock, which this holds exclusively. No fsync: the record only pins layers while
            // the container exists, and its overlay mount does not survive a crash either; see
            // container_refs.
            let record = dir.join(CONTAINER_REF);
            let maker = match hold_and_write(&record, &bytes) {
                Ok(f) => f,
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e.into());
                }
            };
            if let Some(u) = upper {
                let p = dir.join(USER_UPPER);
                let bytes = serde_json::to_vec(u).map_err(|source| StoreError::Corrupt {
                    path: p.clone(),
                    source,
                })?;
                if let Err(e) = fs::write(&p, bytes).step("write", &p) {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e.into());
                }
            }
            let lowers = match source {
                RootSource::Image(_) => details
                    .record
                    .layers
                    .iter()
                    .map(|l| self.layer_short_path(l))
                    .collect::<Result<Vec<_>, _>>()?,
                RootSource::Directory(_) => details.layer_dirs.clone(),
            };
            (details, lowers, maker)
        };
        let mounted = match upper {
            Some(u) => crate::overlay::mount_overlay_on(&lowers, &u.upper, &u.work, &dir, opts),
            None => crate::overlay::mount_overlay(&lowers, &dir, opts),
        };
        match mounted {
            Ok(rootfs) => Ok(ContainerRoot {
                rootfs,
                dir,
                image: details.record.name,
                config: details.config,
                maker,
            }),
            Err(e) => {
                let _ = crate::overlay::unmount_overlay(&dir);
                Err(e.into())
            }
        }
    }

    /// Unmounts and deletes a container root; succeeds if it is already gone. A user's upper
    /// dir stays (only the work dir berth made beside it goes).
    pub fn remove_container_root(&self, container_id: &str) -> Result<(), StoreError> {
        let dir = self.container_dir(container_id)?;
        let user = self.user_upper(container_id)?;
        crate::overlay::unmount_overlay(&dir)?;
        if let Some(u) = user {
            match fs::remove_dir_all(&u.work) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(IoError::new("remove work dir", &u.work, e).into())
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The user's upper dir of a container, if it was given one.
    pub fn user_upper(&self, container_id: &str) -> Result<Option<UserUpper>, StoreError> {
        let p = self.container_dir(container_id)?.join(USER_UPPER);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| StoreError::Corrupt { path: p, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IoError::new("read", &p, e).into()),
        }
    }

    /// A container's upper dir (its own, or the user's) and what it was made from.
    pub fn container_layers(&self, container_id: &str) -> Result<ContainerLayers, StoreError> {
        let dir = self.container_dir(container_id)?;
        let p = dir.join(CONTAINER_REF);
        let bytes = match fs::read(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoContainerRoot(container_id.to_string()))
            }
            other => other.step("read", &p)?,
        };
        let r: ContainerRef = serde_json::from_slice(&bytes)
            .map_err(|source| StoreError::Corrupt { path: p, source })?;
        let upper = match self.user_upper(container_id)? {
            Some(u) => u.upper,
            None => dir.join("upper"),
        };
        let lowers = match r.directory.clone() {
            Some(d) => vec![d],
            None => r
                .layers
                .iter()
                .map(|l| self.layer_dir(l))
                .collect::<Result<_, _>>()?,
        };
        Ok(ContainerLayers {
            upper,
            lowers,
            image: r.image,
            config_digest: r.config_digest,
            layers: r.layers,
            directory: r.directory,
        })
    }

    /// Mounts a kept container's overlay again over its own upper dir (`start` of a stopped
    /// container), from the layers its `image.json` pinned when it was made, and returns the
    /// merged path. A root still mounted is unmounted first.
    pub fn remount_container_root(
        &self,
        container_id: &str,
        opts: OverlayOptions,
    ) -> Result<PathBuf, StoreError> {
        let dir = self.container_dir(container_id)?;
        let lowers = {
            let _l = self.lock(false)?;
            let path = dir.join(CONTAINER_REF);
            let bytes = fs::read(&path).step("read", &path)?;
            let cref: ContainerRef = serde_json::from_slice(&bytes)
                .map_err(|source| StoreError::Corrupt { path, source })?;
            cref.layers
                .iter()
                .map(|l| self.layer_short_path(l))
                .collect::<Result<Vec<_>, _>>()?
        };
        crate::overlay::unmount_merged(&dir)?;
        Ok(crate::overlay::mount_overlay(&lowers, &dir, opts)?)
    }

    /// Unmounts a container's overlay but keeps its upper dir and bundle (a kept container
    /// that stopped); succeeds if it is not mounted.
    pub fn unmount_container_root(&self, container_id: &str) -> Result<(), StoreError> {
        Ok(crate::overlay::unmount_merged(
            &self.container_dir(container_id)?,
        )?)
    }

    /// Whether `containers/<id>` is a root whose maker is gone: it exists and nobody holds its
    /// `image.json` (a maker holds it from making the root until it exits, see
    /// [`ContainerRoot::maker`]). Under the store lock, so a root being made is never seen
    /// half-made. Only the caller knows whether a record or a runtime container still owns it.
    pub fn container_root_abandoned(&self, container_id: &str) -> Result<bool, StoreError> {
        let dir = self.container_dir(container_id)?;
        let _l = self.lock(false)?;
        let fd = match super::trash::open_dir(rustix::fs::CWD, &dir) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(IoError::new("open", &dir, e).into()),
        };
        Ok(!maker_alive(&fd).map_err(|e| IoError::new("lock the maker's file in", &dir, e))?)
    }

    /// `containers/<id>`: a container's bundle and overlay root (whether or not it exists).
    /// The runtime's ID rule (`berth_common::id`): one path component, so it stays inside.
    pub fn container_dir(&self, container_id: &str) -> Result<PathBuf, StoreError> {
        if !berth_common::id::is_valid(container_id) {
            return Err(StoreError::InvalidContainerId(container_id.to_string()));
        }
        Ok(self.root.join("containers").join(container_id))
    }
}

/// What `commit` and `diff` read of a container.
#[derive(Debug, Clone)]
pub struct ContainerLayers {
    pub upper: PathBuf,
    /// The lower dirs, lowest first.
    pub lowers: Vec<PathBuf>,
    pub image: String,
    /// Empty for a directory root.
    pub config_digest: String,
    pub layers: Vec<String>,
    /// The directory of a `--rootfs DIR` root.
    pub directory: Option<PathBuf>,
}

/// An image-like view of a directory root: no layers of the store, berth's default config.
fn directory_details(d: &Path) -> Result<ImageDetails, StoreError> {
    let dir = fs::canonicalize(d).step("resolve rootfs", d)?;
    if !dir.is_dir() {
        return Err(StoreError::NotFound(format!(
            "{} (not a directory)",
            dir.display()
        )));
    }
    let config: ImageConfiguration = serde_json::from_value(serde_json::json!({
        "architecture": crate::manifest::Platform::host().architecture,
        "os": "linux",
        "config": crate::import::default_config(),
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .map_err(|source| StoreError::Config {
        digest: dir.display().to_string(),
        source,
    })?;
    Ok(ImageDetails {
        record: ImageRecord {
            name: format!("dir:{}", dir.display()),
            manifest_digest: String::new(),
            config_digest: String::new(),
            layers: Vec::new(),
            added: 0,
        },
        names: Vec::new(),
        config,
        layer_dirs: vec![dir],
        size: 0,
    })
}
