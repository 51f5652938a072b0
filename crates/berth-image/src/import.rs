//! Importing images from local files: a flat rootfs tar (`docker export`, plain or compressed),
//! a directory (one layer), an OCI image layout archive and a `docker save` archive.
//!
//! Archives are read once, their files copied into the import's staging dir (no symlink is ever
//! materialized there, so nothing can redirect those writes), then every digest the archive
//! claims is checked before the image is committed.

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

/// Streams `dir` as a tar into the unpacker: one code path (and one set of checks) for every
/// layer, and the diff-id comes for free.
fn unpack_directory(
    staging: &Staging<'_>,
    dir: &Path,
) -> Result<crate::unpack::UnpackedLayer, ImportError> {
    if !dir.is_dir() {
        return Err(format_err(dir, "not a directory"));
    }
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(16);
    let src = dir.to_path_buf();
    let producer = std::thread::spawn(move || {
        let writer = BufWriter::with_capacity(256 * 1024, ChanWriter(tx.clone()));
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        let res = b
            .append_dir_all(".", &src)
            .and_then(|()| b.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = res {
            // The reader may be gone already (it failed first); its error is the one reported.
            let _ = tx.send(Err(e));
        }
    });
    let res = staging.unpack(ChanReader::new(rx));
    let _ = producer.join();
    Ok(res?)
}

struct ChanWriter(mpsc::SyncSender<io::Result<Vec<u8>>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The regular files of an image archive, copied into staging, plus its (sym/hard) links
/// resolved logically; or an OCI layout directory read in place (only read, and every blob
/// read from it is digest-checked).
struct ArchiveFiles {
    archive: PathBuf,
    root: PathBuf,
    links: HashMap<String, String>,
}

impl ArchiveFiles {
    fn extract(staging: &Staging<'_>, archive: &Path) -> Result<ArchiveFiles, ImportError> {
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
    fn open(&self, name: &str) -> Result<File, ImportError> {
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
    fn read(&self, name: &str) -> Result<Vec<u8>, ImportError> {
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

    fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, ImportError> {
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
fn clean(p: &str) -> Option<String> {
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

fn import_oci(
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

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn import_docker(
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
