//! Container roots: an overlay over an image's layers, and the record that keeps them.

use super::*;
use crate::overlay::OverlayOptions;

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
        let dir = self.container_dir(container_id)?;
        let (details, lowers) = {
            let _l = self.lock(true)?;
            let details = self.inspect_locked(image)?;
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(StoreError::ContainerExists(dir.display().to_string()))
                }
                Err(e) => return Err(IoError::new("create container dir", &dir, e).into()),
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
            if let Err(e) = fs::write(&record, &bytes).step("write", &record) {
                let _ = fs::remove_dir_all(&dir);
                return Err(e.into());
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
            let path = dir.join("image.json");
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

    /// `containers/<id>`: a container's bundle and overlay root (whether or not it exists).
    /// The runtime's ID rule (`berth_common::id`): one path component, so it stays inside.
    pub fn container_dir(&self, container_id: &str) -> Result<PathBuf, StoreError> {
        if !berth_common::id::is_valid(container_id) {
            return Err(StoreError::InvalidContainerId(container_id.to_string()));
        }
        Ok(self.root.join("containers").join(container_id))
    }
}
