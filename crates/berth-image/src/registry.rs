//! Pulling images over the OCI distribution API into the store.
//!
//! Owns the HTTP side: anonymous access, Basic auth and Bearer token challenges, manifest
//! lists / indexes with platform selection, digest checks on every document and blob, layers
//! fetched by a few worker threads with resumable retries (HTTP Range), and progress output.
//! A blocking client (ureq): pulling is never on the container start path, and no async runtime
//! is pulled into berth. Everything lands in the store's staging dir and is committed at the end,
//! so a failed pull leaves nothing.

use crate::auth::{self, Credentials};
use crate::digest::sha256_digest;
use crate::manifest::{self, Platform};
use crate::reference::Reference;
use crate::store::{ImageDetails, Staging, Store, StoreError};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";
/// The largest manifest, index, config or token document read into memory (pull or import).
pub(crate) const MAX_DOCUMENT: u64 = 8 << 20;
const ATTEMPTS: u32 = 5;

/// Errors from a pull; each names the URL, digest or file involved.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("GET {url}: {source}")]
    Http {
        url: String,
        source: Box<ureq::Error>,
    },
    #[error("GET {url}: HTTP {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: authentication failed: {why}")]
    Unauthorized { registry: String, why: String },
    #[error("{what}: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: {why}")]
    Document { what: String, why: String },
    #[error("{reference} has no image for platform {platform}")]
    NoPlatform { reference: String, platform: String },
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// How pull reports progress (on stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    Bars,
    Lines,
    Quiet,
}

/// Options of `image pull`.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Talk plain HTTP to the registry (`--insecure`).
    pub insecure: bool,
    /// Read credentials from this file only, instead of the usual ones.
    pub auth_file: Option<PathBuf>,
    /// Platform to select from a multi-platform image; the host's by default.
    pub platform: Option<Platform>,
    pub progress: ProgressMode,
    /// Layers fetched at once.
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            insecure: false,
            auth_file: None,
            platform: None,
            progress: ProgressMode::Auto,
            jobs: 3,
        }
    }
}

/// One registry repository, with the authorization it has earned so far.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    registry: String,
    repository: String,
    creds: Option<Credentials>,
    authorization: Mutex<Option<String>>,
}

fn http_err(url: &str) -> impl FnOnce(ureq::Error) -> PullError + '_ {
    move |e| PullError::Http {
        url: url.to_string(),
        source: Box::new(e),
    }
}

impl Client {
    pub(crate) fn new(reference: &Reference, opts: &PullOptions) -> Result<Client, PullError> {
        let host = if reference.registry == crate::reference::DEFAULT_REGISTRY {
            "registry-1.docker.io".to_string()
        } else {
            reference.registry.clone()
        };
        let scheme = if opts.insecure { "http" } else { "https" };
        let files = match &opts.auth_file {
            Some(f) => vec![f.clone()],
            None => auth::default_auth_files(),
        };
        let creds = auth::lookup(&reference.registry, &files)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            base: format!("{scheme}://{host}"),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            creds,
            authorization: Mutex::new(None),
        })
    }

    fn auth_header(&self) -> Option<String> {
        self.authorization.lock().map(|g| g.clone()).unwrap_or(None)
    }

    /// GET with the current authorization; on 401 answers the challenge once and retries.
    fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        range_from: u64,
    ) -> Result<ureq::http::Response<ureq::Body>, PullError> {
        let url = format!("{}/v2/{}/{}", self.base, self.repository, path);
        for round in 0..2 {
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if range_from > 0 {
                req = req.header("Range", format!("bytes={range_from}-"));
            }
            if let Some(h) = self.auth_header() {
                req = req.header("Authorization", h);
            }
            let resp = req.call().map_err(http_err(&url))?;
            if resp.status().as_u16() != 401 || round == 1 {
                return check_status(&url, resp);
            }
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(auth::parse_challenge)
                .ok_or_else(|| PullError::Unauthorized {
                    registry: self.registry.clone(),
                    why: "401 without a WWW-Authenticate challenge".into(),
                })?;
            let header = self.answer(&challenge)?;
            if let Ok(mut g) = self.authorization.lock() {
                *g = Some(header);
            }
        }
        Err(PullError::Unauthorized {
            registry: self.registry.clone(),
            why: "credentials rejected".into(),
        })
    }

    fn answer(&self, challenge: &auth::Challenge) -> Result<String, PullError> {
        match challenge.scheme.as_str() {
            "basic" => self
                .creds
                .as_ref()
                .map(Credentials::basic_header)
                .ok_or_else(|| PullError::Unauthorized {
                    registry: self.registry.clone(),
                    why:
                        "registry wants Basic auth and no credentials were found in the auth files"
                            .into(),
                }),
            "bearer" => {
                let realm =
                    challenge
                        .params
                        .get("realm")
                        .ok_or_else(|| PullError::Unauthorized {
                            registry: self.registry.clone(),
                            why: "Bearer challenge without realm".into(),
                        })?;
                let scope = challenge
                    .params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let mut req = self.agent.get(realm).query("scope", &scope);
                if let Some(service) = challenge.params.get("service") {
                    req = req.query("service", service);
                }
                if let Some(c) = &self.creds {
                    req = req.header("Authorization", c.basic_header());
                }
                let resp = req.call().map_err(http_err(realm))?;
                let mut resp = check_status(realm, resp)?;
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_DOCUMENT)
                    .read_to_vec()
                    .map_err(http_err(realm))?;
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Token = serde_json::from_slice(&body).map_err(|e| PullError::Document {
                    what: format!("token from {realm}"),
                    why: e.to_string(),
                })?;
                let token = t
                    .token
                    .or(t.access_token)
                    .ok_or_else(|| PullError::Unauthorized {
                        registry: self.registry.clone(),
                        why: format!("token endpoint {realm} returned no token"),
                    })?;
                Ok(format!("Bearer {token}"))
            }
            other => Err(PullError::Unauthorized {
                registry: self.registry.clone(),
                why: format!("unsupported auth scheme {other:?}"),
            }),
        }
    }

    /// Fetches a manifest or index, returning (bytes, digest of the bytes, mediaType).
    fn manifest(&self, reference: &str) -> Result<(Vec<u8>, String, String), PullError> {
        let mut resp = self.get(&format!("manifests/{reference}"), Some(MANIFEST_ACCEPT), 0)?;
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT)
            .read_to_vec()
            .map_err(http_err(&url))?;
        let digest = sha256_digest(&bytes);
        if reference.starts_with("sha256:") && digest != reference {
            return Err(PullError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: reference.into(),
                actual: digest,
            });
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            schema_version: Option<u32>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| PullError::Document {
            what: format!("manifest {reference}"),
            why: e.to_string(),
        })?;
        if probe.schema_version == Some(1) {
            return Err(PullError::Document {
                what: format!("manifest {reference}"),
                why: "Docker schema 1 manifests are not supported".into(),
            });
        }
        let media_type = match probe.media_type {
            Some(m) => m,
            None if probe.manifests.is_some() => "application/vnd.oci.image.index.v1+json".into(),
            None if !content_type.is_empty() => content_type,
            None => "application/vnd.oci.image.manifest.v1+json".into(),
        };
        Ok((bytes, digest, media_type))
    }

    /// Fetches a small blob (a config) into memory, verified.
    fn small_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, PullError> {
        let digest = desc.digest().to_string();
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let mut resp = self.get(&format!("blobs/{digest}"), None, 0)?;
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT)
            .read_to_vec()
            .map_err(http_err(&url))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(PullError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest,
                actual,
            });
        }
        Ok(bytes)
    }
}

/// A layer blob as a stream, verified and resumable: a broken transfer is picked up again
/// with an HTTP Range request from the byte reached, invisibly to the decompressor and the
/// unpacker reading from it. Never yields more than the descriptor's size.
struct BlobReader<'a> {
    client: &'a Client,
    digest: String,
    size: u64,
    offset: u64,
    body: Option<ureq::BodyReader<'static>>,
    failures: u32,
    hasher: sha2::Sha256,
    progress: &'a LayerProgress,
}

impl<'a> BlobReader<'a> {
    fn new(client: &'a Client, desc: &Descriptor, progress: &'a LayerProgress) -> BlobReader<'a> {
        use sha2::Digest as _;
        BlobReader {
            client,
            digest: desc.digest().to_string(),
            size: desc.size(),
            offset: 0,
            body: None,
            failures: 0,
            hasher: sha2::Sha256::new(),
            progress,
        }
    }

    fn open(&mut self) -> Result<(), PullError> {
        let resp = self
            .client
            .get(&format!("blobs/{}", self.digest), None, self.offset)?;
        let ranged = resp.status().as_u16() == 206;
        let mut body = resp.into_body().into_reader();
        if self.offset > 0 && !ranged {
            // The server ignored Range: skip what was already read.
            let skipped = io::copy(&mut (&mut body).take(self.offset), &mut io::sink()).map_err(
                |source| PullError::Io {
                    step: "skip to resume offset",
                    path: PathBuf::from(&self.digest),
                    source,
                },
            )?;
            if skipped != self.offset {
                return Err(PullError::Document {
                    what: format!("blob {}", self.digest),
                    why: "shorter than before".into(),
                });
            }
        }
        self.body = Some(body);
        Ok(())
    }

    /// Counts a failure; gives up after ATTEMPTS, else waits a little before the next try.
    fn failed(&mut self, why: String) -> io::Result<()> {
        self.body = None;
        self.failures += 1;
        if self.failures >= ATTEMPTS {
            return Err(io::Error::other(format!(
                "blob {}: giving up after {ATTEMPTS} attempts: {why}",
                self.digest
            )));
        }
        self.progress.note(&format!(
            "transfer broken ({why}), resuming at byte {}",
            self.offset
        ));
        std::thread::sleep(Duration::from_millis(200 << self.failures.min(4)));
        Ok(())
    }

    /// Reads what is left (a compressed stream may end before its blob does) and checks the
    /// blob's size and digest.
    fn verify(mut self) -> Result<(), PullError> {
        use sha2::Digest as _;
        io::copy(&mut self, &mut io::sink()).map_err(|source| PullError::Io {
            step: "download",
            path: PathBuf::from(&self.digest),
            source,
        })?;
        if self.offset != self.size {
            return Err(PullError::Document {
                what: format!("blob {}", self.digest),
                why: format!("got {} bytes, descriptor says {}", self.offset, self.size),
            });
        }
        let actual = format!("sha256:{:x}", self.hasher.finalize());
        if actual != self.digest {
            return Err(PullError::DigestMismatch {
                what: format!("blob {}", self.digest),
                expected: self.digest,
                actual,
            });
        }
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        let left = self.size - self.offset;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        loop {
            if self.body.is_none() {
                match self.open() {
                    Ok(()) => {}
                    Err(e @ (PullError::Http { .. } | PullError::Io { .. })) => {
                        self.failed(e.to_string())?;
                        continue;
                    }
                    Err(e) => return Err(io::Error::other(e.to_string())),
                }
            }
            let Some(body) = self.body.as_mut() else {
                continue;
            };
            match body.read(&mut buf[..want]) {
                Ok(0) => self.failed(format!(
                    "connection closed at byte {} of {}",
                    self.offset, self.size
                ))?,
                Ok(n) => {
                    self.hasher.update(&buf[..n]);
                    self.offset += n as u64;
                    self.progress.inc(n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.failed(e.to_string())?,
            }
        }
    }
}

fn check_status(
    url: &str,
    mut resp: ureq::http::Response<ureq::Body>,
) -> Result<ureq::http::Response<ureq::Body>, PullError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    // Registries explain errors in a small JSON body; show its start.
    let detail = resp
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .map(|s| format!(": {}", s.trim().chars().take(300).collect::<String>()))
        .unwrap_or_default();
    Err(PullError::Status {
        url: url.to_string(),
        status,
        detail,
    })
}

/// Progress display shared by the layer workers.
struct Progress {
    mode: ProgressMode,
    multi: Option<MultiProgress>,
}

impl Progress {
    fn new(mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if io::stderr().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Lines,
            m => m,
        };
        let multi = (mode == ProgressMode::Bars).then(MultiProgress::new);
        Progress { mode, multi }
    }

    fn line(&self, msg: &str) {
        match (&self.multi, self.mode) {
            (Some(m), _) => {
                let _ = m.println(msg);
            }
            (None, ProgressMode::Lines) => eprintln!("{msg}"),
            _ => {}
        }
    }

    fn layer(&self, digest: &str, size: u64) -> LayerProgress {
        let short = digest
            .strip_prefix("sha256:")
            .unwrap_or(digest)
            .chars()
            .take(12)
            .collect::<String>();
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size));
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(short.clone());
            bar
        });
        if self.mode == ProgressMode::Lines {
            eprintln!("{short}: downloading {size} bytes");
        }
        LayerProgress {
            bar,
            short,
            lines: self.mode == ProgressMode::Lines,
        }
    }
}

/// Progress of one layer: a bar, or lines at start, retry and end.
pub(crate) struct LayerProgress {
    bar: Option<ProgressBar>,
    short: String,
    lines: bool,
}

impl LayerProgress {
    fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn note(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None if self.lines => eprintln!("{}: {msg}", self.short),
            None => {}
        }
    }
    fn done(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(msg.to_string()),
            None if self.lines => eprintln!("{}: {msg}", self.short),
            None => {}
        }
    }
}

impl Store {
    /// `image pull REF`: fetches the image for the host platform (or `opts.platform`) and
    /// stores it under REF's name.
    pub fn pull(&self, reference: &str, opts: &PullOptions) -> Result<ImageDetails, PullError> {
        let r = Reference::parse(reference)?;
        let client = Client::new(&r, opts)?;
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let progress = Progress::new(opts.progress);
        progress.line(&format!("pulling {r}"));
        let (mut bytes, mut digest, media_type) = client.manifest(r.manifest_ref())?;
        if manifest::is_index(&media_type) {
            let index: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| PullError::Document {
                    what: format!("index {digest}"),
                    why: e.to_string(),
                })?;
            let desc =
                manifest::select(&index, &platform).ok_or_else(|| PullError::NoPlatform {
                    reference: r.to_string(),
                    platform: platform.to_string(),
                })?;
            let want = desc.digest().to_string();
            let (b, d, _) = client.manifest(&want)?;
            (bytes, digest) = (b, d);
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| PullError::Document {
                what: format!("manifest {digest}"),
                why: e.to_string(),
            })?;
        let config_bytes = client.small_blob(manifest.config())?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|e| PullError::Document {
                what: format!("config {}", manifest.config().digest()),
                why: e.to_string(),
            })?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layers().len() {
            return Err(PullError::Document {
                what: format!("manifest {digest}"),
                why: format!(
                    "{} layers but the config lists {} diff-ids",
                    manifest.layers().len(),
                    diff_ids.len()
                ),
            });
        }
        let staging = self.staging()?;
        staging.put_blob(&bytes)?;
        staging.put_blob(&config_bytes)?;
        let mut todo: Vec<(&Descriptor, &String)> = Vec::new();
        for (desc, diff_id) in manifest.layers().iter().zip(&diff_ids) {
            if staging.has_layer(diff_id) {
                progress.line(&format!("{}: already present", short(diff_id)));
            } else if !todo.iter().any(|(_, d)| *d == diff_id) {
                todo.push((desc, diff_id));
            }
        }
        fetch_layers(&client, &staging, &todo, &progress, opts.jobs.max(1))?;
        staging.commit(&r, &digest, manifest.config().digest().as_ref(), &diff_ids)?;
        progress.line(&format!("pulled {r} ({digest})"));
        Ok(self.inspect(&r.to_string())?)
    }
}

fn short(d: &str) -> String {
    d.strip_prefix("sha256:")
        .unwrap_or(d)
        .chars()
        .take(12)
        .collect()
}

/// Downloads and unpacks layers with `jobs` worker threads; the first error stops the rest.
fn fetch_layers(
    client: &Client,
    staging: &Staging<'_>,
    todo: &[(&Descriptor, &String)],
    progress: &Progress,
    jobs: usize,
) -> Result<(), PullError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<PullError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(todo.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= todo.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let (desc, diff_id) = todo[i];
                if let Err(e) = fetch_one(client, staging, desc, diff_id, progress) {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut g) = first_error.lock() {
                        g.get_or_insert(e);
                    }
                    break;
                }
            });
        }
    });
    match first_error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn fetch_one(
    client: &Client,
    staging: &Staging<'_>,
    desc: &Descriptor,
    diff_id: &str,
    progress: &Progress,
) -> Result<(), PullError> {
    let digest = desc.digest().to_string();
    let lp = progress.layer(&digest, desc.size());
    let res = (|| {
        let mut blob = BlobReader::new(client, desc, &lp);
        let got = staging.unpack_threaded(&mut blob)?;
        blob.verify()?;
        if got.diff_id != diff_id {
            return Err(PullError::DigestMismatch {
                what: format!("layer {digest} diff-id"),
                expected: diff_id.to_string(),
                actual: got.diff_id,
            });
        }
        Ok(())
    })();
    match &res {
        Ok(()) => lp.done("done"),
        Err(e) => lp.done(&format!("failed: {e}")),
    }
    res
}
