//! sha256 digests: parsing `sha256:<hex>` strings and hashing streams as they pass through.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read};

/// Returns the hex part of a `sha256:<64 lowercase hex>` digest, or None if it is not one.
/// Store paths are built from this hex, so anything else must never reach the filesystem.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// `sha256:<hex>` of a byte slice.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A reader that hashes and counts everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads the stream to its end (so trailing padding is hashed too) and returns
    /// (`sha256:<hex>`, bytes read).
    pub(crate) fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((format!("sha256:{:x}", self.hasher.finalize()), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_accepts_only_canonical_digests() {
        let d = sha256_digest(b"abc");
        assert_eq!(
            sha256_hex(&d),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(sha256_hex("sha256:../../etc"), None);
        assert_eq!(sha256_hex("sha512:abcd"), None);
        assert_eq!(sha256_hex(&d.to_uppercase()), None);
    }
}
