//! The on-disk image store: blobs, unpacked layers, image records and container references.
//!
//! Layout under the root (default /var/lib/berth):
//! ```text
//! lock                      flock: shared for reads, exclusive for every change
//! images.json               name:tag → manifest digest, config digest (image id), diff-ids
//! blobs/sha256/<hex>        manifests and configs, content-addressed
//! layers/<hex>/diff         a layer unpacked once, keyed by its diff-id, shared by all images
//! layers/<hex>/size         bytes of file content in the layer
//! l/<short>                 -> ../layers/<hex>/diff: short lowerdir paths for overlayfs
//! tmp/<txn>/                staging of one import or pull; flocked by its owner while alive
//! containers/<id>/          a container root: image.json (what it uses), upper, work, merged
//! ```
//! Every import or pull builds in `tmp/<txn>` without the lock, then commits under the exclusive
//! lock by renames and one atomic rewrite of images.json; a failure (or a crash, cleaned when the
//! next store command opens the store) leaves nothing behind. Layers and blobs nothing refers to
//! are collected when an image is removed or replaced and by prune.

use crate::overlay::OverlayOptions;
use crate::reference::{Reference, ReferenceError};
use crate::unpack::{unpack_layer, unpack_layer_threaded, UnpackError, UnpackedLayer};
use berth_common::fs::Durability;
use oci_spec::image::ImageConfiguration;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the store lives unless told otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// Errors from store operations; each names the step and the path or value involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("parse {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("image reference {0:?} matches more than one image id")]
    Ambiguous(String),
    #[error("image {image} is in use by container(s) {containers:?}")]
    InUse {
        image: String,
        containers: Vec<String>,
    },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("unpack layer: {0}")]
    Unpack(#[from] UnpackError),
    #[error("layer {0} vanished before the image was committed (removed concurrently); retry")]
    LayerMissing(String),
    #[error("blob {0} missing from the staged image")]
    BlobMissing(String),
    #[error("not a sha256 digest: {0:?}")]
    InvalidDigest(String),
    #[error("invalid container id {0:?}: use {rule}", rule = berth_common::id::RULE)]
    InvalidContainerId(String),
    #[error("container root {0} already exists")]
    ContainerExists(String),
    #[error("image config {digest}: {source}")]
    Config {
        digest: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
}

fn io_err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// One name:tag in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Canonical reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// Digest of the manifest blob.
    pub manifest_digest: String,
    /// Digest of the config blob: the image id.
    pub config_digest: String,
    /// Diff-ids of the layers, lowest first.
    pub layers: Vec<String>,
    /// When this name was stored (unix seconds).
    pub added: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: BTreeMap<String, ImageRecord>,
}

/// A line of `image ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// Short name (`busybox:latest`).
    pub name: String,
    /// Image id (config digest).
    pub id: String,
    /// `created` from the image config, if any.
    pub created: Option<String>,
    /// Bytes of file content over all layers.
    pub size: u64,
    pub layers: usize,
}

/// Everything `image inspect` shows and the runtime needs to start a container from an image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageDetails {
    pub record: ImageRecord,
    /// Other names of the same image id.
    pub names: Vec<String>,
    /// The parsed config (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, Labels…).
    pub config: ImageConfiguration,
    /// Unpacked layer directories, lowest first.
    pub layer_dirs: Vec<PathBuf>,
    pub size: u64,
}

/// What prune (or a remove) freed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub layers_removed: usize,
    pub blobs_removed: usize,
    pub staging_removed: usize,
    pub bytes_freed: u64,
}

/// `image ls`'s disk usage summary (`berth system df` style).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    pub images: usize,
    pub layers: usize,
    pub layers_bytes: u64,
    pub blobs_bytes: u64,
    pub containers: usize,
    /// Bytes written by containers (their upper dirs).
    pub containers_bytes: u64,
    /// Bytes prune would free now.
    pub reclaimable_bytes: u64,
}

/// A container root filesystem prepared from an image.
#[derive(Debug, Clone)]
pub struct ContainerRoot {
    /// The merged overlay mount: the container's root.fs path.
    pub rootfs: PathBuf,
    /// The per-container directory (upper, work, merged).
    pub dir: PathBuf,
    /// Canonical image name the root was made from.
    pub image: String,
    /// The image config, for building config.json (Entrypoint, Cmd, Env…).
    pub config: ImageConfiguration,
}

#[derive(Debug, Serialize, Deserialize)]
struct ContainerRef {
    image: String,
    config_digest: String,
    layers: Vec<String>,
}

/// Holds the store's flock until dropped.
struct StoreLock(#[allow(dead_code)] File);

/// The image store rooted at one directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for sub in ["blobs/sha256", "layers", "l", "tmp", "containers"] {
            let p = root.join(sub);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&p)
                .map_err(io_err("create", &p))?;
        }
        let store = Store { root };
        store.clean_stale_staging_if_idle()?;
        Ok(store)
    }

    /// Every store command starts here: an import or pull killed mid-way (its staging dir can
    /// hold gigabytes) is cleaned by the next command, not only by the next commit. Skipped
    /// while another command holds the store lock: that one cleans at its commit.
    fn clean_stale_staging_if_idle(&self) -> Result<(), StoreError> {
        let Some(_l) = self.try_lock_exclusive()? else {
            return Ok(());
        };
        self.clean_stale_staging(None).map(|_| ())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self, exclusive: bool) -> Result<StoreLock, StoreError> {
        let (f, p) = self.lock_file()?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        rustix::fs::flock(&f, op).map_err(|e| StoreError::Io {
            step: "flock",
            path: p,
            source: e.into(),
        })?;
        Ok(StoreLock(f))
    }

    /// The exclusive lock if nobody holds the store lock now, None if somebody does.
    fn try_lock_exclusive(&self) -> Result<Option<StoreLock>, StoreError> {
        let (f, p) = self.lock_file()?;
        match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(StoreLock(f))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(StoreError::Io {
                step: "flock",
                path: p,
                source: e.into(),
            }),
        }
    }

    fn lock_file(&self) -> Result<(File, PathBuf), StoreError> {
        let p = self.root.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open lock", &p))?;
        Ok((f, p))
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn read_index(&self) -> Result<Index, StoreError> {
        let p = self.index_path();
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|source| StoreError::Corrupt { path: p, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| StoreError::Corrupt {
            path: self.index_path(),
            source,
        })?;
        write_atomic(&self.index_path(), &bytes)
    }

    /// Path of a blob by digest.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = crate::digest::sha256_hex(digest)
            .ok_or_else(|| StoreError::InvalidDigest(digest.to_string()))?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// The unpacked directory of a layer by diff-id.
    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf, StoreError> {
        let hex = crate::digest::sha256_hex(diff_id)
            .ok_or_else(|| StoreError::InvalidDigest(diff_id.to_string()))?;
        Ok(self.root.join("layers").join(hex).join("diff"))
    }

    /// Short path of a layer (`l/<16 hex>`), what overlay lowerdir strings are built from.
    fn layer_short_path(&self, diff_id: &str) -> Result<PathBuf, StoreError> {
        let hex = crate::digest::sha256_hex(diff_id)
            .ok_or_else(|| StoreError::InvalidDigest(diff_id.to_string()))?;
        Ok(self.root.join("l").join(&hex[..16]))
    }

    /// Whether a layer is already unpacked in the store.
    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_dir(diff_id).map(|p| p.is_dir()).unwrap_or(false)
    }

    /// Reads a blob, verifying nothing (it was verified when stored).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(io_err("read blob", &p))
    }

    /// All records matching a name or an id prefix (`sha256:abc…` or `abc…`, at least 4 hex).
    fn resolve(&self, index: &Index, reference: &str) -> Result<Vec<ImageRecord>, StoreError> {
        if let Ok(r) = Reference::parse(reference) {
            if let Some(rec) = index.images.get(&r.to_string()) {
                return Ok(vec![rec.clone()]);
            }
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<ImageRecord> = index
                .images
                .values()
                .filter(|r| {
                    r.config_digest["sha256:".len()..].starts_with(&hex.to_ascii_lowercase())
                })
                .cloned()
                .collect();
            let ids: BTreeSet<&str> = hits.iter().map(|r| r.config_digest.as_str()).collect();
            if ids.len() > 1 {
                return Err(StoreError::Ambiguous(reference.to_string()));
            }
            if !hits.is_empty() {
                return Ok(hits);
            }
        }
        Err(StoreError::NotFound(reference.to_string()))
    }

    fn layer_size(&self, diff_id: &str) -> u64 {
        let Ok(dir) = self.layer_dir(diff_id) else {
            return 0;
        };
        dir.parent()
            .and_then(|p| fs::read_to_string(p.join("size")).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn load_config(&self, digest: &str) -> Result<ImageConfiguration, StoreError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Config {
            digest: digest.to_string(),
            source,
        })
    }

    /// `image ls`.
    pub fn list(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let _l = self.lock(false)?;
        let index = self.read_index()?;
        let mut out = Vec::new();
        for rec in index.images.values() {
            let created = self
                .load_config(&rec.config_digest)
                .ok()
                .and_then(|c| c.created().clone());
            out.push(ImageSummary {
                name: Reference::parse(&rec.name)
                    .map(|r| r.short())
                    .unwrap_or_else(|_| rec.name.clone()),
                id: rec.config_digest.clone(),
                created,
                size: rec.layers.iter().map(|l| self.layer_size(l)).sum(),
                layers: rec.layers.len(),
            });
        }
        Ok(out)
    }

    /// `image inspect`: the record, config and layer directories of one image.
    pub fn inspect(&self, reference: &str) -> Result<ImageDetails, StoreError> {
        let _l = self.lock(false)?;
        self.inspect_locked(reference)
    }

    fn inspect_locked(&self, reference: &str) -> Result<ImageDetails, StoreError> {
        let index = self.read_index()?;
        let record = self.resolve(&index, reference)?.remove(0);
        let names = index
            .images
            .values()
            .filter(|r| r.config_digest == record.config_digest)
            .map(|r| r.name.clone())
            .collect();
        let config = self.load_config(&record.config_digest)?;
        let layer_dirs = record
            .layers
            .iter()
            .map(|l| self.layer_dir(l))
            .collect::<Result<Vec<_>, _>>()?;
        let size = record.layers.iter().map(|l| self.layer_size(l)).sum();
        Ok(ImageDetails {
            record,
            names,
            config,
            layer_dirs,
            size,
        })
    }

    fn container_refs(&self) -> Result<BTreeMap<String, ContainerRef>, StoreError> {
        let dir = self.root.join("containers");
        let mut out = BTreeMap::new();
        for ent in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let ent = ent.map_err(io_err("list", &dir))?;
            let p = ent.path().join("image.json");
            // A container dir without image.json is mid-creation or mid-removal: nothing to pin.
            // Nor with an empty one: image.json is not fsynced (a container root does not
            // outlive a reboot), so a crash may leave it empty; its layers are then unpinned.
            if let Ok(b) = fs::read(&p).and_then(|b| {
                if b.is_empty() {
                    Err(io::ErrorKind::UnexpectedEof.into())
                } else {
                    Ok(b)
                }
            }) {
                let r: ContainerRef = serde_json::from_slice(&b)
                    .map_err(|source| StoreError::Corrupt { path: p, source })?;
                out.insert(ent.file_name().to_string_lossy().into_owned(), r);
            }
        }
        Ok(out)
    }

    /// `image rm`: removes the named image (all names when given an id). Refuses while a
    /// container root uses it unless `force`; the layers stay until that container is gone.
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
    ) -> Result<(Vec<String>, PruneReport), StoreError> {
        let _l = self.lock(true)?;
        let mut index = self.read_index()?;
        let recs = self.resolve(&index, reference)?;
        if !force {
            let ids: BTreeSet<&str> = recs.iter().map(|r| r.config_digest.as_str()).collect();
            let users: Vec<String> = self
                .container_refs()?
                .into_iter()
                .filter(|(_, c)| ids.contains(c.config_digest.as_str()))
                .map(|(id, _)| id)
                .collect();
            // Only the last name of an image id pins it; untagging one of several is always fine.
            let last_name = recs.iter().all(|r| {
                index
                    .images
                    .values()
                    .filter(|o| o.config_digest == r.config_digest)
                    .count()
                    == recs
                        .iter()
                        .filter(|o| o.config_digest == r.config_digest)
                        .count()
            });
            if !users.is_empty() && last_name {
                return Err(StoreError::InUse {
                    image: reference.to_string(),
                    containers: users,
                });
            }
        }
        for r in &recs {
            index.images.remove(&r.name);
        }
        self.write_index(&index)?;
        let report = self.gc(&index)?;
        Ok((recs.into_iter().map(|r| r.name).collect(), report))
    }

    /// `image prune`: removes layers and blobs no image or container uses, and staging dirs of
    /// dead imports.
    pub fn prune(&self) -> Result<PruneReport, StoreError> {
        let _l = self.lock(true)?;
        let index = self.read_index()?;
        let mut report = self.gc(&index)?;
        report.staging_removed = self.clean_stale_staging(None)?;
        Ok(report)
    }

    /// Disk usage of images, layers and containers.
    pub fn disk_usage(&self) -> Result<DiskUsage, StoreError> {
        let _l = self.lock(false)?;
        let index = self.read_index()?;
        let containers = self.container_refs()?;
        let (live_layers, live_blobs) = self.live_sets(&index, &containers);
        let mut du = DiskUsage {
            images: index.images.len(),
            containers: containers.len(),
            ..Default::default()
        };
        for hex in list_names(&self.root.join("layers"))? {
            let size = self.layer_size(&format!("sha256:{hex}"));
            du.layers += 1;
            du.layers_bytes += size;
            if !live_layers.contains(&hex) {
                du.reclaimable_bytes += size;
            }
        }
        let blobs = self.root.join("blobs/sha256");
        for hex in list_names(&blobs)? {
            let size = fs::metadata(blobs.join(&hex)).map(|m| m.len()).unwrap_or(0);
            du.blobs_bytes += size;
            if !live_blobs.contains(&hex) {
                du.reclaimable_bytes += size;
            }
        }
        for id in containers.keys() {
            du.containers_bytes += dir_size(&self.root.join("containers").join(id).join("upper"));
        }
        Ok(du)
    }

    fn live_sets(
        &self,
        index: &Index,
        containers: &BTreeMap<String, ContainerRef>,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let hex = |d: &str| d.strip_prefix("sha256:").unwrap_or(d).to_string();
        let mut layers = BTreeSet::new();
        let mut blobs = BTreeSet::new();
        for r in index.images.values() {
            layers.extend(r.layers.iter().map(|l| hex(l)));
            blobs.insert(hex(&r.manifest_digest));
            blobs.insert(hex(&r.config_digest));
        }
        for c in containers.values() {
            layers.extend(c.layers.iter().map(|l| hex(l)));
        }
        (layers, blobs)
    }

    /// Removes unreferenced layers and blobs. Caller holds the exclusive lock.
    fn gc(&self, index: &Index) -> Result<PruneReport, StoreError> {
        let containers = self.container_refs()?;
        let (live_layers, live_blobs) = self.live_sets(index, &containers);
        let mut report = PruneReport::default();
        let layers = self.root.join("layers");
        for hex in list_names(&layers)? {
            if live_layers.contains(&hex) {
                continue;
            }
            report.bytes_freed += self.layer_size(&format!("sha256:{hex}"));
            let link = self.root.join("l").join(&hex[..hex.len().min(16)]);
            let _ = fs::remove_file(&link);
            let p = layers.join(&hex);
            fs::remove_dir_all(&p).map_err(io_err("remove layer", &p))?;
            report.layers_removed += 1;
        }
        let blobs = self.root.join("blobs/sha256");
        for hex in list_names(&blobs)? {
            if live_blobs.contains(&hex) {
                continue;
            }
            let p = blobs.join(&hex);
            report.bytes_freed += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).map_err(io_err("remove blob", &p))?;
            report.blobs_removed += 1;
        }
        Ok(report)
    }

    /// Removes staging dirs whose owner no longer holds their lock. Caller holds the store lock.
    fn clean_stale_staging(&self, keep: Option<&Path>) -> Result<usize, StoreError> {
        let tmp = self.root.join("tmp");
        let mut n = 0;
        for name in list_names(&tmp)? {
            let dir = tmp.join(&name);
            if Some(dir.as_path()) == keep {
                continue;
            }
            let stale = match File::open(dir.join(".lock")) {
                Ok(f) => rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok(),
                // The owner creates and locks .lock right after mkdir: a dir without one is either
                // that instant (young) or an owner that died there (old), or being removed.
                Err(_) => fs::metadata(&dir)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(60)),
            };
            if stale {
                match fs::remove_dir_all(&dir) {
                    Ok(()) => {}
                    // Its owner finished and removed it meanwhile.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err("remove stale staging", &dir)(e)),
                }
                n += 1;
            }
        }
        Ok(n)
    }

    pub(crate) fn staging(&self) -> Result<Staging<'_>, StoreError> {
        Staging::new(self)
    }

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
        let dir = self.container_dir(container_id)?;
        let (details, lowers) = {
            let _l = self.lock(true)?;
            let details = self.inspect_locked(image)?;
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(StoreError::ContainerExists(dir.display().to_string()))
                }
                Err(e) => return Err(io_err("create container dir", &dir)(e)),
            }
            let cref = ContainerRef {
                image: details.record.name.clone(),
                config_digest: details.record.config_digest.clone(),
                layers: details.record.layers.clone(),
            };
            let bytes = serde_json::to_vec(&cref).map_err(|source| StoreError::Corrupt {
                path: dir.clone(),
                source,
            })?;
            // Written in place: every reader holds the store lock, which this holds
            // exclusively. No fsync: the record only pins layers while the container exists,
            // and its overlay mount does not survive a crash either; see container_refs.
            let record = dir.join("image.json");
            if let Err(e) = fs::write(&record, &bytes).map_err(io_err("write", &record)) {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
            let lowers = details
                .record
                .layers
                .iter()
                .map(|l| self.layer_short_path(l))
                .collect::<Result<Vec<_>, _>>()?;
            (details, lowers)
        };
        match crate::overlay::mount_overlay(&lowers, &dir, opts) {
            Ok(rootfs) => Ok(ContainerRoot {
                rootfs,
                dir,
                image: details.record.name,
                config: details.config,
            }),
            Err(e) => {
                let _ = crate::overlay::unmount_overlay(&dir);
                Err(e.into())
            }
        }
    }

    /// Unmounts and deletes a container root; succeeds if it is already gone.
    pub fn remove_container_root(&self, container_id: &str) -> Result<(), StoreError> {
        Ok(crate::overlay::unmount_overlay(
            &self.container_dir(container_id)?,
        )?)
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

/// One import or pull in progress: everything it makes lives in `tmp/<txn>` until `commit`.
pub(crate) struct Staging<'s> {
    store: &'s Store,
    dir: PathBuf,
    _lock: File,
    counter: AtomicUsize,
}

impl<'s> Staging<'s> {
    fn new(store: &'s Store) -> Result<Staging<'s>, StoreError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = store
            .root
            .join("tmp")
            .join(format!("{}-{nanos:08x}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("create staging", &dir))?;
        // Locked before it gets its name, so a cleaner never sees an unlocked live .lock.
        let tmp_lock = dir.join(".lock.new");
        let lock = File::create(&tmp_lock).map_err(io_err("create staging lock", &tmp_lock))?;
        rustix::fs::flock(&lock, FlockOperation::LockExclusive).map_err(|e| StoreError::Io {
            step: "flock",
            path: tmp_lock.clone(),
            source: e.into(),
        })?;
        let lp = dir.join(".lock");
        fs::rename(&tmp_lock, &lp).map_err(io_err("rename staging lock", &tmp_lock))?;
        for sub in ["blobs", "layers", "work"] {
            let p = dir.join(sub);
            fs::create_dir(&p).map_err(io_err("create staging", &p))?;
        }
        Ok(Staging {
            store,
            dir,
            _lock: lock,
            counter: AtomicUsize::new(0),
        })
    }

    /// A fresh path for scratch files (downloads, extracted archives).
    pub(crate) fn scratch(&self, what: &str) -> PathBuf {
        self.dir.join("work").join(format!(
            "{what}-{}",
            self.counter.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// Stores a blob (manifest or config) and returns its digest.
    pub(crate) fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = crate::digest::sha256_digest(bytes);
        let p = self.dir.join("blobs").join(&digest["sha256:".len()..]);
        fs::write(&p, bytes).map_err(io_err("write blob", &p))?;
        Ok(digest)
    }

    /// Whether a layer is in the store or already staged.
    pub(crate) fn has_layer(&self, diff_id: &str) -> bool {
        self.store.has_layer(diff_id)
            || crate::digest::sha256_hex(diff_id)
                .is_some_and(|h| self.dir.join("layers").join(h).is_dir())
    }

    /// Unpacks a layer stream into staging, returning its diff-id.
    pub(crate) fn unpack(&self, reader: impl Read) -> Result<UnpackedLayer, StoreError> {
        self.unpack_with(|dir| unpack_layer(reader, dir))
    }

    /// [`Staging::unpack`] with decompression and hashing on a thread of their own
    /// ([`unpack_layer_threaded`]).
    pub(crate) fn unpack_threaded(
        &self,
        reader: impl Read + Send,
    ) -> Result<UnpackedLayer, StoreError> {
        self.unpack_with(|dir| unpack_layer_threaded(reader, dir))
    }

    fn unpack_with(
        &self,
        unpack: impl FnOnce(&Path) -> Result<UnpackedLayer, UnpackError>,
    ) -> Result<UnpackedLayer, StoreError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join("layers").join(format!("new-{n}"));
        let diff = tmp.join("diff");
        fs::create_dir(&tmp).map_err(io_err("create layer dir", &tmp))?;
        fs::create_dir(&diff).map_err(io_err("create layer dir", &diff))?;
        fs::set_permissions(&diff, fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod layer dir", &diff))?;
        let layer = unpack(&diff)?;
        let sp = tmp.join("size");
        fs::write(&sp, layer.size.to_string()).map_err(io_err("write", &sp))?;
        let final_dir = self
            .dir
            .join("layers")
            .join(&layer.diff_id["sha256:".len()..]);
        if final_dir.exists() {
            // The same layer twice in one image (or two threads raced on it): keep one.
            fs::remove_dir_all(&tmp).map_err(io_err("remove duplicate layer", &tmp))?;
        } else {
            fs::rename(&tmp, &final_dir).map_err(io_err("rename layer", &tmp))?;
        }
        Ok(layer)
    }

    /// Moves staged layers and blobs into the store and records `name` → image, atomically with
    /// respect to other berth processes. Replacing an existing name collects what it alone used.
    pub(crate) fn commit(
        &self,
        name: &Reference,
        manifest_digest: &str,
        config_digest: &str,
        layers: &[String],
    ) -> Result<ImageRecord, StoreError> {
        let store = self.store;
        let _l = store.lock(true)?;
        store.clean_stale_staging(Some(&self.dir))?;
        for d in [manifest_digest, config_digest] {
            let hex = crate::digest::sha256_hex(d)
                .ok_or_else(|| StoreError::InvalidDigest(d.to_string()))?;
            let staged = self.dir.join("blobs").join(hex);
            let stored = store.blob_path(d)?;
            if stored.exists() {
                continue;
            }
            if !staged.exists() {
                return Err(StoreError::BlobMissing(d.to_string()));
            }
            fs::rename(&staged, &stored).map_err(io_err("store blob", &staged))?;
        }
        for diff_id in layers {
            let hex = crate::digest::sha256_hex(diff_id)
                .ok_or_else(|| StoreError::InvalidDigest(diff_id.to_string()))?;
            let target = store.root.join("layers").join(hex);
            if target.is_dir() {
                continue;
            }
            let staged = self.dir.join("layers").join(hex);
            if !staged.is_dir() {
                return Err(StoreError::LayerMissing(diff_id.clone()));
            }
            let link = store.layer_short_path(diff_id)?;
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(Path::new("../layers").join(hex).join("diff"), &link)
                .map_err(io_err("create layer link", &link))?;
            fs::rename(&staged, &target).map_err(io_err("store layer", &staged))?;
        }
        let mut index = store.read_index()?;
        let added = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let record = ImageRecord {
            name: name.to_string(),
            manifest_digest: manifest_digest.to_string(),
            config_digest: config_digest.to_string(),
            layers: layers.to_vec(),
            added,
        };
        let replaced = index.images.insert(record.name.clone(), record.clone());
        store.write_index(&index)?;
        if replaced.is_some_and(|old| old != record) {
            store.gc(&index)?;
        }
        Ok(record)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        // Committed or failed, nothing staged may stay behind.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Replaces a file of the store, durably (`berth_common::fs::write_atomic`).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    berth_common::fs::write_atomic(path, bytes, None, Durability::PowerLoss)
        .map_err(|e| io_err(e.step, &e.path)(e.source))
}

fn list_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let ent = ent.map_err(io_err("list", dir))?;
        out.push(ent.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}

/// Bytes of file content under `dir` (not following symlinks).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for ent in rd.flatten() {
            let Ok(md) = ent.metadata() else { continue };
            if md.is_dir() {
                stack.push(ent.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}
