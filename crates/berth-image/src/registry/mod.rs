//! Pulling images over the OCI distribution API into the store, and pushing them (push.rs).
//!
//! Owns the HTTP side: anonymous access, Basic auth and Bearer token challenges, manifest
//! lists / indexes with platform selection, digest checks on every document and blob, layers
//! fetched by a few worker threads with resumable retries (HTTP Range), and progress output.
//! A blocking client (ureq): pulling is never on the container start path, and no async runtime
//! is pulled into berth. Everything lands in the store's staging dir and is committed at the end,
//! so a failed pull leaves nothing.

mod blob;
mod client;
mod error;
mod login;
mod options;
mod progress;
mod push;

use blob::BlobReader;
pub(crate) use client::{Client, MAX_DOCUMENT};
pub use error::PullError;
pub use login::check_login;
pub use options::{ProgressMode, PullOptions};
use progress::Progress;

use crate::manifest::{self, Platform};
use crate::reference::Reference;
use crate::store::staging::Staging;
use crate::store::{ImageDetails, Store};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

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
        progress.line(&format!("pulled {r}"));
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
