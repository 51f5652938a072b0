//! One import or pull in progress, built in `tmp/<txn>` and committed by renames.

use super::*;
use crate::unpack::{unpack_recorded, unpack_threaded_recorded, UnpackedLayer, SPLIT_FILE};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};

impl Store {
    pub(crate) fn staging(&self) -> Result<Staging<'_>, StoreError> {
        Staging::new(self)
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
            .step("create staging", &dir)?;
        // Locked before it gets its name, so a cleaner never sees an unlocked live .lock.
        let tmp_lock = dir.join(".lock.new");
        let lock = File::create(&tmp_lock).step("create staging lock", &tmp_lock)?;
        rustix::fs::flock(&lock, FlockOperation::LockExclusive).step("flock", &tmp_lock)?;
        let lp = dir.join(".lock");
        fs::rename(&tmp_lock, &lp).step("rename staging lock", &tmp_lock)?;
        for sub in ["blobs", "layers", "work"] {
            let p = dir.join(sub);
            fs::create_dir(&p).step("create staging", &p)?;
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
        fs::write(&p, bytes).step("write blob", &p)?;
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
        self.unpack_with(|dir, split| unpack_recorded(reader, dir, Some(split)))
    }

    /// [`Staging::unpack`] with decompression and hashing on a thread of their own
    /// ([`crate::unpack::unpack_layer_threaded`]).
    pub(crate) fn unpack_threaded(
        &self,
        reader: impl Read + Send,
    ) -> Result<UnpackedLayer, StoreError> {
        self.unpack_with(|dir, split| unpack_threaded_recorded(reader, dir, Some(split)))
    }

    fn unpack_with(
        &self,
        unpack: impl FnOnce(&Path, &Path) -> Result<UnpackedLayer, UnpackError>,
    ) -> Result<UnpackedLayer, StoreError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join("layers").join(format!("new-{n}"));
        let diff = tmp.join("diff");
        fs::create_dir(&tmp).step("create layer dir", &tmp)?;
        fs::create_dir(&diff).step("create layer dir", &diff)?;
        fs::set_permissions(&diff, fs::Permissions::from_mode(0o755))
            .step("chmod layer dir", &diff)?;
        // The tar-split record beside diff/ lets push and save rebuild the exact tar.
        let layer = unpack(&diff, &tmp.join(SPLIT_FILE))?;
        let sp = tmp.join("size");
        fs::write(&sp, layer.size.to_string()).step("write", &sp)?;
        let final_dir = self
            .dir
            .join("layers")
            .join(&layer.diff_id["sha256:".len()..]);
        if final_dir.exists() {
            // The same layer twice in one image (or two threads raced on it): keep one.
            fs::remove_dir_all(&tmp).step("remove duplicate layer", &tmp)?;
        } else {
            fs::rename(&tmp, &final_dir).step("rename layer", &tmp)?;
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
            fs::rename(&staged, &stored).step("store blob", &staged)?;
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
                .step("create layer link", &link)?;
            fs::rename(&staged, &target).step("store layer", &staged)?;
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
