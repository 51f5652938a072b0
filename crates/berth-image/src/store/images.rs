//! The store's images: ls, inspect, rm, prune, disk usage, and the collection of what
//! nothing refers to.

use super::*;

impl Store {
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

    pub(super) fn inspect_locked(&self, reference: &str) -> Result<ImageDetails, StoreError> {
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
        for ent in fs::read_dir(&dir).step("list", &dir)? {
            let ent = ent.step("list", &dir)?;
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
    pub(super) fn gc(&self, index: &Index) -> Result<PruneReport, StoreError> {
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
            fs::remove_dir_all(&p).step("remove layer", &p)?;
            report.layers_removed += 1;
        }
        let blobs = self.root.join("blobs/sha256");
        for hex in list_names(&blobs)? {
            if live_blobs.contains(&hex) {
                continue;
            }
            let p = blobs.join(&hex);
            report.bytes_freed += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).step("remove blob", &p)?;
            report.blobs_removed += 1;
        }
        Ok(report)
    }

    /// Removes staging dirs whose owner no longer holds their lock. Caller holds the store lock.
    pub(super) fn clean_stale_staging(&self, keep: Option<&Path>) -> Result<usize, StoreError> {
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
                    Err(e) => return Err(IoError::new("remove stale staging", &dir, e).into()),
                }
                n += 1;
            }
        }
        Ok(n)
    }
}
