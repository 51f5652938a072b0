//! Importing images from local files: a flat rootfs tar (`docker export`, plain or compressed),
//! a directory (one layer), an OCI image layout archive and a `docker save` archive.
//!
//! Archives are read once, their files copied into the import's staging dir (no symlink is ever
//! materialized there, so nothing can redirect those writes), then every digest the archive
//! claims is checked before the image is committed.

mod archive;
mod commit;
mod directory;
mod docker;
mod error;
mod oci;

use archive::ArchiveFiles;
use commit::commit_single_layer;
pub(crate) use commit::commit_with_manifest;
pub use commit::default_config;
pub(crate) use directory::{unpack_directory, ChanWriter};
use docker::{docker_names, import_docker};
use error::format_err;
pub use error::ImportError;
use oci::{import_oci, oci_name};

use crate::reference::Reference;
use crate::store::{ImageDetails, Store};
use berth_common::io::Step;
use oci_spec::image::Config;
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

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

    /// `image load`: imports every image of a docker-archive or oci-archive under the names
    /// the archive gives them (the same reading, and checks, as `import`); returns the names.
    pub fn load(&self, path: &Path) -> Result<Vec<String>, ImportError> {
        let source = ImportSource::detect(path)?;
        let staging = self.staging()?;
        let unnamed = || {
            format_err(
                path,
                "the archive names no image: use image import PATH NAME",
            )
        };
        let mut names = Vec::new();
        match &source {
            ImportSource::DockerArchive(p) => {
                let files = ArchiveFiles::extract(&staging, p)?;
                for name in docker_names(&files)? {
                    let r = Reference::parse(&name)?;
                    import_docker(&staging, &files, &r)?;
                    names.push(r.to_string());
                }
            }
            ImportSource::OciArchive(p) => {
                let files = ArchiveFiles::extract(&staging, p)?;
                let r = Reference::parse(&oci_name(&files)?.ok_or_else(unnamed)?)?;
                import_oci(&staging, &files, &r)?;
                names.push(r.to_string());
            }
            _ => {
                return Err(format_err(
                    path,
                    "not a docker-archive or oci-archive (a rootfs tar or directory: use image import PATH NAME)",
                ))
            }
        }
        if names.is_empty() {
            return Err(unnamed());
        }
        Ok(names)
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
