//! The files of an image archive (or an OCI layout directory), read safely.

use super::error::{format_err, ImportError};
use crate::digest::sha256_digest;
use crate::registry::MAX_DOCUMENT;
use crate::store::staging::Staging;
use crate::store::StoreError;
use crate::unpack::SpaceBudget;
use berth_common::io::Step;
use oci_spec::image::Descriptor;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// The regular files of an image archive, copied into staging, plus its (sym/hard) links
/// resolved logically; or an OCI layout directory read in place (only read, and every blob
/// read from it is digest-checked).
pub(super) struct ArchiveFiles {
    pub(super) archive: PathBuf,
    pub(super) root: PathBuf,
    pub(super) links: HashMap<String, String>,
}

impl ArchiveFiles {
    pub(super) fn extract(
        staging: &Staging<'_>,
        archive: &Path,
    ) -> Result<ArchiveFiles, ImportError> {
        let root = staging.scratch("archive");
        fs::create_dir(&root).step("create", &root)?;
        let root_fd = File::open(&root).step("open", &root)?;
        // A compressed archive can expand without bound: its members are charged to the
        // store's free space as the layers' files are.
        let mut space = SpaceBudget::of(&root_fd, &root).map_err(StoreError::from)?;
        let file = File::open(archive).step("open", archive)?;
        let (_, plain) = crate::unpack::decompress(file).step("read", archive)?;
        let mut tar = tar::Archive::new(crate::tarlimit::Limited::new(plain));
        let mut links = HashMap::new();
        for entry in tar.entries().step("read tar", archive)? {
            let mut entry = entry.step("read tar", archive)?;
            let raw = entry.path_bytes().into_owned();
            let Some(name) = clean(&String::from_utf8_lossy(&raw)) else {
                return Err(format_err(
                    archive,
                    format!(
                        "entry {:?} escapes the archive",
                        String::from_utf8_lossy(&raw)
                    ),
                ));
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if name.is_empty() {
                        continue;
                    }
                    space
                        .charge(entry.size(), &name)
                        .map_err(StoreError::from)?;
                    let dest = root.join(&name);
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent).step("create", parent)?;
                    }
                    let mut out = File::create(&dest).step("create", &dest)?;
                    io::copy(&mut entry, &mut out).step("extract", &dest)?;
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                        // Relative to the link's directory (old docker save links duplicate layers so).
                        Path::new(&name)
                            .parent()
                            .unwrap_or(Path::new(""))
                            .join(&target)
                            .to_string_lossy()
                            .into_owned()
                    } else {
                        target
                    };
                    let resolved = clean(&joined).ok_or_else(|| {
                        format_err(archive, format!("link {name:?} escapes the archive"))
                    })?;
                    links.insert(name, resolved);
                }
                _ => {}
            }
        }
        Ok(ArchiveFiles {
            archive: archive.to_path_buf(),
            root,
            links,
        })
    }

    /// Opens an archive member by its path inside the archive.
    pub(super) fn open(&self, name: &str) -> Result<File, ImportError> {
        let mut name = clean(name).ok_or_else(|| {
            format_err(
                &self.archive,
                format!("member {name:?} escapes the archive"),
            )
        })?;
        for _ in 0..16 {
            match self.links.get(&name) {
                Some(t) => name = t.clone(),
                None => break,
            }
        }
        let p = self.root.join(&name);
        File::open(&p).map_err(|_| format_err(&self.archive, format!("member {name:?} missing")))
    }

    /// Reads a document (index, manifest, config): at most MAX_DOCUMENT bytes, as a pull.
    pub(super) fn read(&self, name: &str) -> Result<Vec<u8>, ImportError> {
        let mut buf = Vec::new();
        self.open(name)?
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut buf)
            .step("read", &self.archive)?;
        if buf.len() as u64 > MAX_DOCUMENT {
            return Err(format_err(
                &self.archive,
                format!("member {name:?} is larger than {MAX_DOCUMENT} bytes: not a document"),
            ));
        }
        Ok(buf)
    }

    pub(super) fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImportError> {
        let digest = desc.digest().to_string();
        let hex = crate::digest::sha256_hex(&digest)
            .ok_or_else(|| format_err(&self.archive, format!("unsupported digest {digest}")))?;
        let bytes = self.read(&format!("blobs/sha256/{hex}"))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(ImportError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest,
                actual,
            });
        }
        Ok(bytes)
    }
}

/// Normalizes an archive path; None if it climbs out with `..`.
pub(super) fn clean(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    Some(parts.join("/"))
}
