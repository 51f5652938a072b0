//! The on-disk image store: blobs, unpacked layers, image records and container references.
//!
//! Layout under the root (default /var/lib/berth):
//! ```text
//! lock                      flock: shared for reads, exclusive for every change
//! images.json               name:tag → manifest digest, config digest (image id), diff-ids
//! blobs/sha256/<hex>        manifests and configs, content-addressed
//! layers/<hex>/diff         a layer unpacked once, keyed by its diff-id, shared by all images
//! layers/<hex>/size         bytes of file content in the layer
//! layers/<hex>/tar-split.zst the tar's headers and padding: push and save rebuild the exact tar
//! l/<short>                 -> ../layers/<hex>/diff: short lowerdir paths for overlayfs
//! tmp/<txn>/                staging of one import or pull; flocked by its owner while alive
//! containers/<id>/          a container root: image.json (what it uses), upper, work, merged
//! trash/<id>[.N]/           a released root being removed after its command (trash.rs);
//!                           flocked by its remover while alive
//! spare/<n>/                a released root's upper, work, merged, image.json and
//!                           config.json, checked empty and taken by the next root (spare.rs)
//! ```
//! Every import or pull builds in `tmp/<txn>` without the lock, then commits under the exclusive
//! lock by renames and one atomic rewrite of images.json; a failure (or a crash, cleaned when the
//! next store command opens the store) leaves nothing behind; so does a killed remover of a
//! released container root. Layers and blobs nothing refers to
//! are collected when an image is removed or replaced and by prune.

pub mod containers;
pub mod export;
mod images;
pub mod spare;
pub(crate) mod staging;
pub mod trash;

use crate::reference::{Reference, ReferenceError};
use crate::unpack::UnpackError;
use berth_common::fs::Durability;
use berth_common::io::{IoError, Step};
use oci_spec::image::ImageConfiguration;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Where the store lives unless told otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

/// Errors from store operations; each names the step and the path or value involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] IoError),
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
    #[error(
        "layer {0} was stored without a tar-split record (by an older berth): pull or import \
         its image again to push or save it"
    )]
    NoTarSplit(String),
    #[error("layer {diff_id}: cannot rebuild its tar: {why}")]
    LayerRebuild { diff_id: String, why: String },
    #[error(
        "container {0} has no root in the image store (commit and diff need a container made \
         by berth run IMAGE or --rootfs)"
    )]
    NoContainerRoot(String),
    #[error("--upper {0}: not a directory berth can put a work dir beside")]
    BadUpper(PathBuf),
    #[error("build manifest: {0}")]
    Manifest(String),
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
#[derive(Debug)]
pub struct ContainerRoot {
    /// The merged overlay mount: the container's root.fs path.
    pub rootfs: PathBuf,
    /// The per-container directory (upper, work, merged).
    pub dir: PathBuf,
    /// Canonical image name the root was made from.
    pub image: String,
    /// The image config, for building config.json (Entrypoint, Cmd, Env…).
    pub config: ImageConfiguration,
    /// The maker's lock on the root's `image.json`: held by the command that made the root
    /// until it exits (closed with this), so a root with neither a record nor a runtime
    /// container that nobody holds is what a killed command left
    /// ([`Store::container_root_abandoned`]).
    pub maker: std::fs::File,
}

#[derive(Debug, Serialize, Deserialize)]
struct ContainerRef {
    image: String,
    config_digest: String,
    layers: Vec<String>,
    /// The lower dir of a `--rootfs DIR` root (no layers then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    directory: Option<PathBuf>,
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
        let store = Store::open_unswept(root)?;
        store.clean_stale_staging_if_idle()?;
        Ok(store)
    }

    /// [`Store::open`] without the sweep of what killed commands left: for the release at the
    /// end of a command that opened the store (and swept it) moments before; the next command
    /// sweeps.
    pub fn open_unswept(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for sub in ["blobs/sha256", "layers", "l", "tmp", "containers", "trash"] {
            let p = root.join(sub);
            // One mkdir each once the layout is there (std's recursive create adds a stat).
            match fs::DirBuilder::new().mode(0o700).create(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(_) => fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&p)
                    .step("create", &p)?,
            }
        }
        Ok(Store { root })
    }

    /// The store at `root` as it is: no directory of its layout made, nothing swept. For the
    /// release of a container root, which lives in it: a store that lacks a directory the
    /// release needs fails there.
    pub fn existing(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Every store command starts here: an import or pull killed mid-way (its staging dir can
    /// hold gigabytes) is cleaned by the next command, not only by the next commit, and so is
    /// a container root whose remover was killed (trash.rs). Skipped while another command
    /// holds the store lock: that one cleans at its commit, or the next command does. The
    /// listing calls it too (`berth ps`).
    pub fn clean_stale_staging_if_idle(&self) -> Result<(), StoreError> {
        let Some(_l) = self.try_lock_exclusive()? else {
            return Ok(());
        };
        self.clean_stale_staging(None)?;
        self.sweep_trash().map(|_| ())
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
        rustix::fs::flock(&f, op).step("flock", p)?;
        Ok(StoreLock(f))
    }

    /// The exclusive lock if nobody holds the store lock now, None if somebody does.
    fn try_lock_exclusive(&self) -> Result<Option<StoreLock>, StoreError> {
        let (f, p) = self.lock_file()?;
        match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(StoreLock(f))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(IoError::new("flock", p, e).into()),
        }
    }

    fn lock_file(&self) -> Result<(File, PathBuf), StoreError> {
        let p = self.root.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .step("open lock", &p)?;
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
            Err(e) => Err(IoError::new("read", &p, e).into()),
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
        Ok(fs::read(&p).step("read blob", &p)?)
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
}

/// Replaces a file of the store, durably (`berth_common::fs::write_atomic`).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    berth_common::fs::write_atomic(path, bytes, None, Durability::PowerLoss).map_err(Into::into)
}

fn list_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).step("list", dir)? {
        let ent = ent.step("list", dir)?;
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
