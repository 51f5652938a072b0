//! A `docker save` archive: manifest.json, its config and layers, every digest checked.

use super::archive::ArchiveFiles;
use super::commit::commit_with_manifest;
use super::error::{format_err, ImportError};
use crate::reference::Reference;
use crate::store::staging::Staging;
use oci_spec::image::ImageConfiguration;

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The names (RepoTags) a `docker save` archive gives its images, in order.
pub(super) fn docker_names(files: &ArchiveFiles) -> Result<Vec<String>, ImportError> {
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(&files.read("manifest.json")?)
            .map_err(|e| format_err(&files.archive, format!("manifest.json: {e}")))?;
    Ok(entries
        .into_iter()
        .flat_map(|e| e.repo_tags.unwrap_or_default())
        .collect())
}

pub(super) fn import_docker(
    staging: &Staging<'_>,
    files: &ArchiveFiles,
    reference: &Reference,
) -> Result<(), ImportError> {
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(&files.read("manifest.json")?)
            .map_err(|e| format_err(&files.archive, format!("manifest.json: {e}")))?;
    let short = reference.short();
    let entry = entries
        .iter()
        .find(|e| {
            e.repo_tags
                .as_ref()
                .is_some_and(|t| t.iter().any(|t| *t == short || *t == reference.to_string()))
        })
        .or(entries.first())
        .ok_or_else(|| format_err(&files.archive, "manifest.json lists no image"))?;
    let config_bytes = files.read(&entry.config)?;
    let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
        .map_err(|e| format_err(&files.archive, format!("config {}: {e}", entry.config)))?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != entry.layers.len() {
        return Err(format_err(
            &files.archive,
            "manifest.json and config disagree on the number of layers",
        ));
    }
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(&diff_ids) {
        let got = staging.unpack(files.open(path)?)?;
        if &got.diff_id != diff_id {
            return Err(ImportError::DigestMismatch {
                what: format!("layer {path} diff-id"),
                expected: diff_id.clone(),
                actual: got.diff_id,
            });
        }
        layers.push((got.diff_id, got.tar_size));
    }
    commit_with_manifest(staging, reference, &config_bytes, &layers)
}
