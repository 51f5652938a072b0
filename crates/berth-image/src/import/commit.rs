//! Committing what an import staged: one layer with a default config, or a manifest
//! with its config and layers.

use super::error::{format_err, ImportError};
use crate::manifest::Platform;
use crate::reference::Reference;
use crate::store::staging::Staging;
use oci_spec::image::{Config, Descriptor, Digest, ImageManifestBuilder, MediaType};
use std::path::Path;
use std::str::FromStr;

/// The runtime config of an image berth makes without one: PATH only.
pub fn default_config() -> Config {
    let mut c = Config::default();
    c.set_env(Some(vec![format!("PATH={}", berth_common::DEFAULT_PATH)]));
    c
}

/// Writes config + manifest for a one-layer image berth built itself and commits it.
pub(super) fn commit_single_layer(
    staging: &Staging<'_>,
    reference: &Reference,
    layer: crate::unpack::UnpackedLayer,
    changes: Option<Config>,
) -> Result<(), ImportError> {
    let host = Platform::host();
    let config = serde_json::json!({
        "created": berth_common::now_rfc3339(),
        "architecture": host.architecture,
        "os": host.os,
        "config": changes.unwrap_or_else(default_config),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": berth_common::now_rfc3339(), "created_by": "berth image import"}],
    });
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| format_err(Path::new("config"), e.to_string()))?;
    let layers = vec![(layer.diff_id.clone(), layer.tar_size)];
    commit_with_manifest(staging, reference, &config_bytes, &layers)
}

/// Builds an OCI manifest for uncompressed layers (berth keeps layers unpacked, not as blobs)
/// and commits.
pub(crate) fn commit_with_manifest(
    staging: &Staging<'_>,
    reference: &Reference,
    config_bytes: &[u8],
    layers: &[(String, u64)],
) -> Result<(), ImportError> {
    let config_digest = staging.put_blob(config_bytes)?;
    let digest = |d: &str| Digest::from_str(d).map_err(ImportError::Spec);
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
            config_bytes.len() as u64,
            digest(&config_digest)?,
        ))
        .layers(descs)
        .build()?;
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| format_err(Path::new("manifest"), e.to_string()))?;
    let manifest_digest = staging.put_blob(&manifest_bytes)?;
    let diff_ids: Vec<String> = layers.iter().map(|(d, _)| d.clone()).collect();
    staging.commit(reference, &manifest_digest, &config_digest, &diff_ids)?;
    Ok(())
}
