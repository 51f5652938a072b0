//! What leaves the store for a registry or an archive: an image's config, a manifest whose
//! layers are the exact tars the store unpacked (rebuilt from their tar-split records), and
//! `image tag`.

use super::*;
use crate::unpack::{LayerTar, SPLIT_FILE};
use oci_spec::image::{Descriptor, Digest, ImageManifest, ImageManifestBuilder, MediaType};
use sha2::Digest as _;
use std::io::Read;
use std::str::FromStr;

/// An image as push and save send it.
#[derive(Debug, Clone)]
pub struct ExportedImage {
    pub record: ImageRecord,
    /// The config blob, byte for byte as stored (its digest is the image ID).
    pub config: Vec<u8>,
    /// The manifest: the stored one when its layers are the uncompressed tars, otherwise an
    /// OCI manifest naming them (a pulled image's compressed blobs are not kept).
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    /// (diff-id, length) of each layer tar, lowest first.
    pub layers: Vec<(String, u64)>,
}

impl Store {
    /// The exact tar of a stored layer, rebuilt as a stream from its tar-split record.
    pub fn layer_tar(&self, diff_id: &str) -> Result<LayerTar, StoreError> {
        let diff = self.layer_dir(diff_id)?;
        let split = diff.with_file_name(SPLIT_FILE);
        if !split.exists() {
            return Err(StoreError::NoTarSplit(diff_id.to_string()));
        }
        Ok(LayerTar::open(&split, &diff)?)
    }

    /// Rebuilds a layer's tar once and checks it against its diff-id; returns its length.
    pub fn check_layer_tar(&self, diff_id: &str) -> Result<u64, StoreError> {
        let mut tar = self.layer_tar(diff_id)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = tar.read(&mut buf).map_err(|e| StoreError::LayerRebuild {
                diff_id: diff_id.to_string(),
                why: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        let got = format!("sha256:{:x}", hasher.finalize());
        if got != diff_id {
            return Err(StoreError::LayerRebuild {
                diff_id: diff_id.to_string(),
                why: format!(
                    "the rebuilt tar is {got}: a file of the layer was changed (or the tar wrote \
                 one path twice)"
                ),
            });
        }
        Ok(len)
    }

    /// Everything push and save send for `reference`, every layer checked.
    pub fn export_image(&self, reference: &str) -> Result<ExportedImage, StoreError> {
        let record = self.inspect(reference)?.record;
        let config = self.read_blob(&record.config_digest)?;
        let mut layers = Vec::new();
        for diff_id in &record.layers {
            layers.push((diff_id.clone(), self.check_layer_tar(diff_id)?));
        }
        let stored = self.read_blob(&record.manifest_digest)?;
        let parsed: Option<ImageManifest> = serde_json::from_slice(&stored).ok();
        // The stored manifest is sent as it is when it names exactly these tars.
        let same_layers = parsed.as_ref().is_some_and(|m| {
            m.layers()
                .iter()
                .map(|d| (d.digest().to_string(), d.size()))
                .eq(layers.iter().cloned())
        });
        let (manifest, manifest_media_type) = match parsed {
            Some(m) if same_layers => {
                let mt = m
                    .media_type()
                    .as_ref()
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| MediaType::ImageManifest.to_string());
                (stored, mt)
            }
            _ => (
                uncompressed_manifest(&record.config_digest, config.len(), &layers)?,
                MediaType::ImageManifest.to_string(),
            ),
        };
        Ok(ExportedImage {
            record,
            config,
            manifest,
            manifest_media_type,
            layers,
        })
    }

    /// `image tag SRC DST`: DST names the same image as SRC.
    pub fn tag(&self, source: &str, target: &str) -> Result<ImageRecord, StoreError> {
        let name = Reference::parse(target)?.to_string();
        let _l = self.lock(true)?;
        let mut index = self.read_index()?;
        let mut record = self.resolve(&index, source)?.remove(0);
        record.name = name.clone();
        let replaced = index.images.insert(name, record.clone());
        self.write_index(&index)?;
        if replaced.is_some_and(|old| old.config_digest != record.config_digest) {
            self.gc(&index)?;
        }
        Ok(record)
    }
}

/// An OCI manifest whose layers are uncompressed tars (digest = diff-id).
pub(crate) fn uncompressed_manifest(
    config_digest: &str,
    config_len: usize,
    layers: &[(String, u64)],
) -> Result<Vec<u8>, StoreError> {
    let digest = |d: &str| Digest::from_str(d).map_err(|_| StoreError::InvalidDigest(d.into()));
    let mut descs = Vec::new();
    for (diff_id, size) in layers {
        descs.push(Descriptor::new(
            MediaType::ImageLayer,
            *size,
            digest(diff_id)?,
        ));
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_len as u64,
            digest(config_digest)?,
        ))
        .layers(descs)
        .build()
        .map_err(|e| StoreError::Manifest(e.to_string()))?;
    serde_json::to_vec(&manifest).map_err(|e| StoreError::Manifest(e.to_string()))
}
