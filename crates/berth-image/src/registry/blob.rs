//! A layer blob as a verified, resumable stream.

use super::client::Client;
use super::error::PullError;
use super::progress::LayerProgress;
use berth_common::io::Step;
use oci_spec::image::Descriptor;
use std::io::{self, Read};
use std::time::Duration;

/// Tries of one blob before the pull fails.
const ATTEMPTS: u32 = 5;

/// A layer blob as a stream, verified and resumable: a broken transfer is picked up again
/// with an HTTP Range request from the byte reached, invisibly to the decompressor and the
/// unpacker reading from it. Never yields more than the descriptor's size.
pub(super) struct BlobReader<'a> {
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
    pub(super) fn new(
        client: &'a Client,
        desc: &Descriptor,
        progress: &'a LayerProgress,
    ) -> BlobReader<'a> {
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
            let skipped = io::copy(&mut (&mut body).take(self.offset), &mut io::sink())
                .step("skip to resume offset", &self.digest)?;
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
    pub(super) fn verify(mut self) -> Result<(), PullError> {
        use sha2::Digest as _;
        io::copy(&mut self, &mut io::sink()).step("download", &self.digest)?;
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
                    Err(e @ (PullError::Http { .. } | PullError::Io(_))) => {
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
