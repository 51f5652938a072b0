//! `image save`: images as a `docker save` archive (docker-archive) or an OCI image layout in a
//! tar (oci-archive). Layers are the exact tars the store unpacked (rebuilt from their tar-split
//! records, checked against their diff-ids), so `image load` or `docker load` of the archive
//! gives the same image IDs.

use crate::reference::Reference;
use crate::store::export::ExportedImage;
use crate::store::{Store, StoreError};
use berth_common::io::IoError;
use std::collections::BTreeSet;
use std::io::{Read, Write};

/// The format of a saved archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// `docker save`'s: manifest.json, `<id>.json` configs, `<diff-id>/layer.tar`.
    DockerArchive,
    /// An OCI image layout (oci-layout, index.json, blobs/sha256/) as a tar; one image.
    OciArchive,
}

/// Errors of a save.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("an oci-archive holds one image; {0} were named (use --format docker-archive)")]
    OneImage(usize),
    #[error("serialize {0}: {1}")]
    Json(&'static str, serde_json::Error),
}

impl Store {
    /// Writes `references` to `out` as one archive of `format`.
    pub fn save(
        &self,
        references: &[String],
        format: SaveFormat,
        out: impl Write,
    ) -> Result<(), SaveError> {
        if format == SaveFormat::OciArchive && references.len() != 1 {
            return Err(SaveError::OneImage(references.len()));
        }
        let images = references
            .iter()
            .map(|r| self.export_image(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tar = tar::Builder::new(out);
        match format {
            SaveFormat::DockerArchive => self.write_docker(&mut tar, &images)?,
            SaveFormat::OciArchive => self.write_oci(&mut tar, &images[0])?,
        }
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| IoError::during("write archive", e))?;
        Ok(())
    }

    fn write_docker<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        images: &[ExportedImage],
    ) -> Result<(), SaveError> {
        let mut written = BTreeSet::new();
        let mut manifest = Vec::new();
        for image in images {
            let id = hex(&image.record.config_digest);
            let config = format!("{id}.json");
            if written.insert(config.clone()) {
                add(tar, &config, image.config.len() as u64, &image.config[..])?;
            }
            let mut layers = Vec::new();
            for (diff_id, size) in &image.layers {
                let name = format!("{}/layer.tar", hex(diff_id));
                if written.insert(name.clone()) {
                    add(tar, &name, *size, self.layer_tar(diff_id)?)?;
                }
                layers.push(name);
            }
            // The stored name the reference resolved to (an ID too); RepoTags are short names.
            let tag = Reference::parse(&image.record.name)
                .map(|r| r.short())
                .unwrap_or_else(|_| image.record.name.clone());
            manifest.push(serde_json::json!({
                "Config": config, "RepoTags": [tag], "Layers": layers,
            }));
        }
        let bytes =
            serde_json::to_vec(&manifest).map_err(|e| SaveError::Json("manifest.json", e))?;
        add(tar, "manifest.json", bytes.len() as u64, &bytes[..])
    }

    fn write_oci<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        image: &ExportedImage,
    ) -> Result<(), SaveError> {
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        add(tar, "oci-layout", layout.len() as u64, &layout[..])?;
        let blob = |d: &str| format!("blobs/sha256/{}", hex(d));
        for (diff_id, size) in &image.layers {
            add(tar, &blob(diff_id), *size, self.layer_tar(diff_id)?)?;
        }
        let c = &image.config;
        add(
            tar,
            &blob(&image.record.config_digest),
            c.len() as u64,
            &c[..],
        )?;
        let m = &image.manifest;
        let manifest_digest = crate::digest::sha256_digest(m);
        add(tar, &blob(&manifest_digest), m.len() as u64, &m[..])?;
        let r = Reference::parse(&image.record.name).ok();
        let full = image.record.name.clone();
        let tag = r.map_or_else(|| "latest".to_string(), |r| r.manifest_ref().to_string());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": image.manifest_media_type,
                "digest": manifest_digest,
                "size": m.len(),
                "annotations": {
                    "io.containerd.image.name": full,
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        });
        let bytes = serde_json::to_vec(&index).map_err(|e| SaveError::Json("index.json", e))?;
        add(tar, "index.json", bytes.len() as u64, &bytes[..])
    }
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// One regular file of the archive, `size` bytes from `data`.
fn add<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<(), SaveError> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    tar.append_data(&mut h, name, data)
        .map_err(|e| IoError::new("write archive member", name, e))?;
    Ok(())
}
