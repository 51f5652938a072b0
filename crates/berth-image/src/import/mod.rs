//! Importing images from local files: a flat rootfs tar (`docker export`, plain or compressed),
//! a directory (one layer), an OCI image layout archive and a `docker save` archive.
//!
//! Archives are read once, their files copied into the import's staging dir (no symlink is ever
//! materialized there, so nothing can redirect those writes), then every digest the archive
//! claims is checked before the image is committed.

mod archive;
mod directory;
mod docker;
mod oci;

use archive::ArchiveFiles;
use directory::unpack_directory;
use docker::import_docker;
use oci::import_oci;

use crate::digest::{sha256_digest, HashingReader};
use crate::manifest::{self, Platform};
use crate::reference::Reference;
use crate::registry::MAX_DOCUMENT;
use crate::store::{ImageDetails, Staging, Store, StoreError};
use crate::unpack::{ChanReader, SpaceBudget};
use berth_common::io::{IoError, Step};
use oci_spec::image::{
    Config, Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest,
    ImageManifestBuilder, MediaType,
};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc;

/// Errors from importing an image; each names the file or entry involved.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{path}: {what}")]
    Format { path: PathBuf, what: String },
    #[error("{what}: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("build image metadata: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
}

fn format_err(path: &Path, what: impl Into<String>) -> ImportError {
    ImportError::Format {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// What a local import reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportSource {
    /// A flat root filesystem tar (`docker export`), plain, gzip or zstd.
    RootfsTar(PathBuf),
    /// A directory copied as one layer.
    Directory(PathBuf),
    /// A tar of an OCI image layout (oci-layout, index.json, blobs/).
    OciArchive(PathBuf),
    /// An OCI image layout directory (what `skopeo copy … oci:DIR` or umoci make).
    OciLayout(PathBuf),
    /// A `docker save` archive (manifest.json + layer tars).
    DockerArchive(PathBuf),
}

impl ImportSource {
    /// Tells the kind of `path` by looking at it: a directory, or a tar whose top level holds
    /// `index.json` (OCI layout; also what Docker 25+ saves), `manifest.json` (docker save), or
    /// anything else (a rootfs).
    pub fn detect(path: &Path) -> Result<ImportSource, ImportError> {
        let md = fs::metadata(path).step("stat", path)?;
        if md.is_dir() {
            if path.join("oci-layout").is_file() && path.join("index.json").is_file() {
                return Ok(ImportSource::OciLayout(path.to_path_buf()));
            }
            return Ok(ImportSource::Directory(path.to_path_buf()));
        }
        let file = File::open(path).step("open", path)?;
        let (_, plain) = crate::unpack::decompress(file).step("read", path)?;
        let mut archive = tar::Archive::new(crate::tarlimit::Limited::new(plain));
        let (mut oci, mut docker) = (false, false);
        for entry in archive.entries().step("read tar", path)? {
            let entry = entry.step("read tar", path)?;
            let name = entry.path_bytes();
            let name = name.strip_prefix(b"./").unwrap_or(&name);
            match name {
                b"index.json" | b"oci-layout" => oci = true,
                b"manifest.json" => docker = true,
                // A rootfs has directories such as bin/ or etc/ at the top: decide early.
                b"bin/" | b"etc/" | b"usr/" | b"lib/" => {
                    return Ok(ImportSource::RootfsTar(path.to_path_buf()))
                }
                _ => {}
            }
            if oci && docker {
                break;
            }
        }
        Ok(if oci {
            ImportSource::OciArchive(path.to_path_buf())
        } else if docker {
            ImportSource::DockerArchive(path.to_path_buf())
        } else {
            ImportSource::RootfsTar(path.to_path_buf())
        })
    }
}

impl Store {
    /// `image import PATH NAME`: detects the kind of `path` and imports it as `name`.
    /// `changes` replaces the runtime config (Cmd, Env…) of a rootfs or directory import.
    pub fn import(
        &self,
        path: &Path,
        name: &str,
        changes: Option<Config>,
    ) -> Result<ImageDetails, ImportError> {
        self.import_source(&ImportSource::detect(path)?, name, changes)
    }

    /// Imports from an explicit source kind.
    pub fn import_source(
        &self,
        source: &ImportSource,
        name: &str,
        changes: Option<Config>,
    ) -> Result<ImageDetails, ImportError> {
        let reference = Reference::parse(name)?;
        let staging = self.staging()?;
        match source {
            ImportSource::RootfsTar(p) => {
                let f = File::open(p).step("open", p)?;
                let layer = staging.unpack(f)?;
                commit_single_layer(&staging, &reference, layer, changes)?;
            }
            ImportSource::Directory(p) => {
                let layer = unpack_directory(&staging, p)?;
                commit_single_layer(&staging, &reference, layer, changes)?;
            }
            ImportSource::OciArchive(p) => {
                let files = ArchiveFiles::extract(&staging, p)?;
                import_oci(&staging, &files, &reference)?;
            }
            ImportSource::OciLayout(p) => {
                let files = ArchiveFiles {
                    archive: p.clone(),
                    root: p.clone(),
                    links: HashMap::new(),
                };
                import_oci(&staging, &files, &reference)?;
            }
            ImportSource::DockerArchive(p) => {
                let files = ArchiveFiles::extract(&staging, p)?;
                import_docker(&staging, &files, &reference)?;
            }
        }
        Ok(self.inspect(&reference.to_string())?)
    }
}

fn default_config() -> Config {
    let mut c = Config::default();
    c.set_env(Some(vec![format!("PATH={}", berth_common::DEFAULT_PATH)]));
    c
}

/// Writes config + manifest for a one-layer image berth built itself and commits it.
fn commit_single_layer(
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
fn commit_with_manifest(
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
