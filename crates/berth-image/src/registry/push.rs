//! `image push`: an image's layers (the exact tars the store unpacked, so the same diff-ids),
//! its config and a manifest, uploaded over the OCI distribution API. A blob the registry
//! already has (HEAD) is not sent again; each blob goes up in one monolithic PUT.

use super::client::{check_status, http_err, Client};
use super::error::PullError;
use super::options::PullOptions;
use super::progress::Progress;
use crate::digest::sha256_digest;
use crate::reference::Reference;
use crate::store::Store;
use std::io::Read;

impl Store {
    /// `image push LOCAL [REMOTE]`: uploads LOCAL as REMOTE (LOCAL's own name by default);
    /// returns the manifest's digest.
    pub fn push(
        &self,
        local: &str,
        remote: Option<&str>,
        opts: &PullOptions,
    ) -> Result<String, PullError> {
        let image = self.export_image(local)?;
        let target = Reference::parse(remote.unwrap_or(&image.record.name))?;
        let client = Client::new(&target, opts)?;
        let progress = Progress::new(opts.progress);
        progress.line(&format!("pushing {target}"));
        for (diff_id, size) in &image.layers {
            let sent = client.push_blob(diff_id, *size, &mut || {
                self.layer_tar(diff_id)
                    .map(|t| Box::new(t) as Box<dyn Read>)
                    .map_err(|e| ureq::Error::Io(std::io::Error::other(e)))
            })?;
            let short = &diff_id["sha256:".len()..][..12];
            progress.line(&format!(
                "{short}: {}",
                if sent { "pushed" } else { "already there" }
            ));
        }
        let config = &image.config;
        client.push_blob(
            &image.record.config_digest,
            config.len() as u64,
            &mut || Ok(Box::new(&config[..]) as Box<dyn Read>),
        )?;
        client.put_manifest(
            target.manifest_ref(),
            &image.manifest,
            &image.manifest_media_type,
        )?;
        let digest = sha256_digest(&image.manifest);
        progress.line(&format!("pushed {target} ({digest})"));
        Ok(digest)
    }
}

type Opener<'a> = dyn FnMut() -> Result<Box<dyn Read + 'a>, ureq::Error> + 'a;

impl Client {
    /// Uploads one blob unless the registry has it; true when it was sent.
    fn push_blob(&self, digest: &str, size: u64, open: &mut Opener<'_>) -> Result<bool, PullError> {
        let url = self.url(&format!("blobs/{digest}"));
        let head = self.authorized(&format!("HEAD {url}"), |auth| {
            let mut req = self.agent().head(&url);
            if let Some(h) = auth {
                req = req.header("Authorization", h);
            }
            req.call()
        });
        match head {
            Ok(_) => return Ok(false),
            Err(PullError::Status { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        let start = self.url("blobs/uploads/");
        let resp = self.authorized(&format!("POST {start}"), |auth| {
            let mut req = self.agent().post(&start);
            if let Some(h) = auth {
                req = req.header("Authorization", h);
            }
            req.send_empty()
        })?;
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| PullError::Document {
                what: format!("POST {start}"),
                why: "upload started without a Location".into(),
            })?;
        let mut put = if location.starts_with('/') {
            format!("{}{location}", self.base())
        } else {
            location.to_string()
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        let request = format!("PUT {put}");
        let auth = self.auth_header();
        let mut body = open().map_err(http_err(&request))?;
        let mut req = self
            .agent()
            .put(&put)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", size.to_string());
        if let Some(h) = auth {
            req = req.header("Authorization", h);
        }
        let resp = req
            .send(ureq::SendBody::from_reader(&mut body))
            .map_err(http_err(&request))?;
        check_status(&request, resp)?;
        Ok(true)
    }

    /// PUTs the manifest under `reference` (a tag or digest).
    fn put_manifest(
        &self,
        reference: &str,
        manifest: &[u8],
        media_type: &str,
    ) -> Result<(), PullError> {
        let url = self.url(&format!("manifests/{reference}"));
        self.authorized(&format!("PUT {url}"), |auth| {
            let mut req = self.agent().put(&url).header("Content-Type", media_type);
            if let Some(h) = auth {
                req = req.header("Authorization", h);
            }
            req.send(manifest)
        })?;
        Ok(())
    }
}
