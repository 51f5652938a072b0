//! An OCI image layout: index, manifest, config and layers, every digest checked.

use super::archive::ArchiveFiles;
use super::error::{format_err, ImportError};
use crate::digest::HashingReader;
use crate::manifest::{self, Platform};
use crate::reference::Reference;
use crate::store::staging::Staging;
use berth_common::io::Step;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

/// The name an OCI layout gives its image: containerd's full-name annotation, else the
/// `org.opencontainers.image.ref.name` of the first manifest that has one.
pub(super) fn oci_name(files: &ArchiveFiles) -> Result<Option<String>, ImportError> {
    let index: ImageIndex = serde_json::from_slice(&files.read("index.json")?)
        .map_err(|e| format_err(&files.archive, format!("index.json: {e}")))?;
    Ok(index.manifests().iter().find_map(|m| {
        let a = m.annotations().as_ref()?;
        a.get("io.containerd.image.name")
            .or_else(|| a.get("org.opencontainers.image.ref.name"))
            .cloned()
    }))
}

pub(super) fn import_oci(
    staging: &Staging<'_>,
    files: &ArchiveFiles,
    reference: &Reference,
) -> Result<(), ImportError> {
    let index: ImageIndex = serde_json::from_slice(&files.read("index.json")?)
        .map_err(|e| format_err(&files.archive, format!("index.json: {e}")))?;
    let host = Platform::host();
    let mut desc = manifest::select(&index, &host).cloned().ok_or_else(|| {
        format_err(
            &files.archive,
            format!("index.json has no manifest for {host}"),
        )
    })?;
    // Nested indexes (a multi-arch image inside a layout): descend until a manifest.
    for _ in 0..4 {
        if !manifest::is_index(desc.media_type().as_ref()) {
            break;
        }
        let nested: ImageIndex = serde_json::from_slice(&files.read_blob(&desc)?)
            .map_err(|e| format_err(&files.archive, format!("nested index: {e}")))?;
        desc = manifest::select(&nested, &host)
            .cloned()
            .ok_or_else(|| format_err(&files.archive, format!("no manifest for {host}")))?;
    }
    let manifest_bytes = files.read_blob(&desc)?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| format_err(&files.archive, format!("manifest {}: {e}", desc.digest())))?;
    let config_bytes = files.read_blob(manifest.config())?;
    let config: ImageConfiguration = serde_json::from_slice(&config_bytes).map_err(|e| {
        format_err(
            &files.archive,
            format!("config {}: {e}", manifest.config().digest()),
        )
    })?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != manifest.layers().len() {
        return Err(format_err(
            &files.archive,
            "manifest and config disagree on the number of layers",
        ));
    }
    for (layer, diff_id) in manifest.layers().iter().zip(&diff_ids) {
        if staging.has_layer(diff_id) {
            continue;
        }
        let digest = layer.digest().to_string();
        let hex = crate::digest::sha256_hex(&digest)
            .ok_or_else(|| format_err(&files.archive, format!("unsupported digest {digest}")))?;
        let mut hashing = HashingReader::new(files.open(&format!("blobs/sha256/{hex}"))?);
        let got = staging.unpack(&mut hashing)?;
        let (blob_digest, _) = hashing.finish().step("read", &files.archive)?;
        if blob_digest != digest {
            return Err(ImportError::DigestMismatch {
                what: format!("layer blob {digest}"),
                expected: digest,
                actual: blob_digest,
            });
        }
        if &got.diff_id != diff_id {
            return Err(ImportError::DigestMismatch {
                what: format!("layer {digest} diff-id"),
                expected: diff_id.clone(),
                actual: got.diff_id,
            });
        }
    }
    staging.put_blob(&manifest_bytes)?;
    staging.put_blob(&config_bytes)?;
    staging.commit(
        reference,
        desc.digest().as_ref(),
        manifest.config().digest().as_ref(),
        &diff_ids,
    )?;
    Ok(())
}
