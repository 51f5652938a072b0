//! Bounds on what a tar stream can make the tar crate hold in memory. The crate reads a GNU long
//! name or long link (`L`, `K`) and a PAX header (`x`) of an entry into memory whole, and keeps
//! two chunk records per entry of a GNU sparse map: a few KB of gzip can expand into gigabytes
//! of either. [`Limited`] follows the archive's block structure beside the crate, with the
//! crate's rules (which headers count, PAX `size` overriding the next entry's size, sparse
//! extension blocks before the data), and fails the read that brings a header over a limit,
//! before the crate allocates for it.

use std::io::{self, Read};

/// The largest long name, long link or PAX header accepted (PATH_MAX is 4 KB; xattrs in PAX
/// records stay far below this).
pub(crate) const META_MAX: u64 = 1 << 20;
/// The most GNU sparse extension blocks one entry may have (21 map entries each: 344 064 data
/// regions, far beyond what `tar --sparse` writes for a real file).
pub(crate) const SPARSE_EXT_MAX: u64 = 1 << 14;

const BLOCK: u64 = 512;

enum State {
    /// Collecting a header block.
    Header,
    /// Collecting sparse extension block number `count`; `data` bytes follow the last one.
    SparseExt { count: u64, data: u64 },
    /// Inside an entry's data (`left` bytes, padded to blocks); for a PAX header, how many
    /// of its bytes are still to be kept.
    Data { left: u64, pax: Option<u64> },
    /// End of archive, or a header the crate refuses itself: nothing more to follow.
    Done,
}

/// A reader that refuses tar streams whose metadata headers exceed [`META_MAX`] or
/// [`SPARSE_EXT_MAX`]; otherwise it passes the bytes through unchanged.
pub(crate) struct Limited<R> {
    inner: R,
    state: State,
    block: [u8; BLOCK as usize],
    filled: usize,
    /// The PAX header being read, and the `size` the last one gave the next entry.
    pax: Vec<u8>,
    pax_size: Option<u64>,
}

impl<R: Read> Limited<R> {
    pub(crate) fn new(inner: R) -> Limited<R> {
        Limited {
            inner,
            state: State::Header,
            block: [0; BLOCK as usize],
            filled: 0,
            pax: Vec::new(),
            pax_size: None,
        }
    }

    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.state {
                State::Done => return Ok(()),
                State::Header | State::SparseExt { .. } => {
                    let n = bytes.len().min(self.block.len() - self.filled);
                    self.block[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
                    self.filled += n;
                    bytes = &bytes[n..];
                    if self.filled == self.block.len() {
                        self.filled = 0;
                        self.state = match self.state {
                            State::SparseExt { count, data } => self.sparse_ext(count, data)?,
                            _ => self.header()?,
                        };
                    }
                }
                State::Data { left, pax } => {
                    let n = (bytes.len() as u64).min(left);
                    let pax = pax.map(|keep| {
                        let k = n.min(keep);
                        self.pax.extend_from_slice(&bytes[..k as usize]);
                        keep - k
                    });
                    bytes = &bytes[n as usize..];
                    self.state = if left == n {
                        self.end_of_data(pax.is_some())
                    } else {
                        State::Data {
                            left: left - n,
                            pax,
                        }
                    };
                }
            }
        }
        Ok(())
    }

    /// A complete header block: what follows it, or an error if it is over a limit.
    fn header(&mut self) -> io::Result<State> {
        if self.block.iter().all(|&b| b == 0) {
            return Ok(State::Done);
        }
        let h = tar::Header::from_byte_slice(&self.block);
        let kind = h.entry_type();
        let Ok(mut size) = h.entry_size() else {
            return Ok(State::Done);
        };
        // The crate reads L, K and x into memory only from headers with a ustar or GNU magic;
        // a PAX header's size applies to the next header that is none of L, K, x or g, and
        // the next header that is none of L, K or x consumes it.
        let recognized = h.as_gnu().is_some() || h.as_ustar().is_some();
        let in_memory = recognized
            && (kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions());
        if !(in_memory || kind.is_pax_global_extensions()) {
            size = self.pax_size.unwrap_or(size);
        }
        if !in_memory {
            self.pax_size = None;
        }
        if in_memory && size > META_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("tar: a long name or PAX header of {size} bytes (at most {META_MAX})"),
            ));
        }
        if kind.is_gnu_sparse() && h.as_gnu().is_some_and(|g| g.is_extended()) {
            return Ok(State::SparseExt {
                count: 0,
                data: size,
            });
        }
        let pax = (recognized && kind.is_pax_local_extensions()).then_some(size);
        Ok(self.data(size, pax))
    }

    fn sparse_ext(&mut self, count: u64, data: u64) -> io::Result<State> {
        let count = count + 1;
        if count > SPARSE_EXT_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("tar: a sparse file with more than {SPARSE_EXT_MAX} extension headers"),
            ));
        }
        // isextended of a GnuExtSparseHeader: after its 21 map entries of 24 bytes.
        Ok(if self.block[21 * 24] != 0 {
            State::SparseExt { count, data }
        } else {
            self.data(data, None)
        })
    }

    /// What follows a header whose data is `size` bytes (padded to a block).
    fn data(&mut self, size: u64, pax: Option<u64>) -> State {
        match size.checked_next_multiple_of(BLOCK) {
            None => State::Done,
            Some(0) => self.end_of_data(pax.is_some()),
            Some(left) => {
                self.pax.clear();
                State::Data { left, pax }
            }
        }
    }

    /// After an entry's data: a PAX header's `size` record is remembered for the next entry.
    fn end_of_data(&mut self, was_pax: bool) -> State {
        if was_pax {
            self.pax_size = pax_size(&self.pax);
            self.pax.clear();
        }
        State::Header
    }
}

/// The `size` record of a PAX header, as the tar crate reads it (the first one; none if a
/// record before it is malformed).
fn pax_size(pax: &[u8]) -> Option<u64> {
    for ext in tar::PaxExtensions::new(pax) {
        let ext = ext.ok()?;
        if ext.key() == Ok("size") {
            return ext.value().ok()?.parse().ok();
        }
    }
    None
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::unpack_layer;
    use tar::EntryType as T;

    fn entry(b: &mut tar::Builder<Vec<u8>>, kind: T, name: &str, size: u64, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_path(name).expect("path");
        h.set_cksum();
        b.append(&h, data).expect("append");
    }

    fn unpack(tar: &[u8]) -> (tempfile::TempDir, Result<(), String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let res = unpack_layer(tar, dir.path())
            .map(|_| ())
            .map_err(|e| e.to_string());
        (dir, res)
    }

    #[test]
    fn refuses_a_long_name_over_the_limit_before_reading_it() {
        let mut b = tar::Builder::new(Vec::new());
        let name = vec![b'a'; (META_MAX + 1) as usize];
        entry(
            &mut b,
            T::GNULongName,
            "././@LongLink",
            name.len() as u64,
            &name,
        );
        entry(&mut b, T::Regular, "f", 1, b"x");
        let (_dir, res) = unpack(&b.into_inner().expect("tar"));
        let err = res.expect_err("refused");
        assert!(
            err.contains("long name or PAX header of 1048577 bytes"),
            "{err}"
        );
    }

    /// PAX size override, GNU long name, sparse entry with extension blocks, plain file.
    fn well_formed() -> (Vec<u8>, String) {
        let mut b = tar::Builder::new(Vec::new());
        // A PAX size record overrides the header's size field (0 here) for the next entry.
        b.append_pax_extensions([("size", &b"5"[..])]).expect("pax");
        entry(&mut b, T::Regular, "paxsized", 0, b"12345");
        let long = format!("{}/file", "d".repeat(200));
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(T::Regular);
        h.set_mode(0o644);
        h.set_size(2);
        b.append_data(&mut h, &long, &b"ok"[..]).expect("long name");
        let mut tar = b.into_inner().expect("tar");
        tar.truncate(tar.len() - 1024);
        // A GNU sparse entry with two extension blocks (no map entries in them).
        let mut s = tar::Header::new_gnu();
        s.set_entry_type(T::GNUSparse);
        s.set_mode(0o644);
        s.set_size(512);
        s.set_path("sparse").expect("path");
        {
            let gnu = s.as_gnu_mut().expect("gnu");
            gnu.sparse[0].offset.copy_from_slice(b"00000000000\0");
            gnu.sparse[0].numbytes.copy_from_slice(b"00000001000\0");
            gnu.realsize.copy_from_slice(b"00000001000\0");
            gnu.isextended[0] = 1;
        }
        s.set_cksum();
        tar.extend_from_slice(s.as_bytes());
        let mut ext = [0u8; 512];
        ext[21 * 24] = 1;
        tar.extend_from_slice(&ext);
        ext[21 * 24] = 0;
        tar.extend_from_slice(&ext);
        tar.extend_from_slice(&[b's'; 512]);
        let mut b = tar::Builder::new(tar);
        entry(&mut b, T::Regular, "last", 4, b"last");
        (b.into_inner().expect("tar"), long)
    }

    #[test]
    fn follows_pax_sizes_long_names_and_sparse_extensions_in_step() {
        let (tar, long) = well_formed();
        let (dir, res) = unpack(&tar);
        res.expect("a well-formed tar unpacks");
        let read = |p: &str| std::fs::read(dir.path().join(p)).expect(p);
        assert_eq!(read("paxsized"), b"12345");
        assert_eq!(read(&long), b"ok");
        assert_eq!(read("sparse"), vec![b's'; 512]);
        assert_eq!(read("last"), b"last");
    }

    #[test]
    fn refuses_a_sparse_map_over_the_limit() {
        let mut s = tar::Header::new_gnu();
        s.set_entry_type(T::GNUSparse);
        s.set_mode(0o644);
        s.set_size(0);
        s.set_path("sparse").expect("path");
        s.as_gnu_mut().expect("gnu").isextended[0] = 1;
        s.set_cksum();
        let mut tar = s.as_bytes().to_vec();
        let mut ext = [0u8; 512];
        ext[21 * 24] = 1;
        for _ in 0..=SPARSE_EXT_MAX {
            tar.extend_from_slice(&ext);
        }
        let (_dir, res) = unpack(&tar);
        let err = res.expect_err("refused");
        assert!(err.contains("more than 16384 extension headers"), "{err}");
    }

    /// (path, size, type) of every entry, or where the listing failed.
    fn listing(r: impl Read) -> (Vec<(Vec<u8>, u64, u8)>, bool) {
        let mut out = Vec::new();
        let mut archive = tar::Archive::new(r);
        let Ok(entries) = archive.entries() else {
            return (out, false);
        };
        for e in entries {
            match e {
                Ok(e) => out.push((
                    e.path_bytes().into_owned(),
                    e.size(),
                    e.header().entry_type().as_byte(),
                )),
                Err(_) => return (out, false),
            }
        }
        (out, true)
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: None,
            ..proptest::test_runner::Config::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(500),
            )
        })]

        /// On damaged streams under the limits, the crate sees exactly the same entries with
        /// and without [`Limited`] in front: it never loses step with the crate.
        #[test]
        fn limited_never_changes_what_the_crate_reads(
            writes in proptest::collection::vec(
                (0..16usize, 0..512usize, proptest::collection::vec(proptest::prelude::any::<u8>(), 1..12)),
                0..4,
            ),
        ) {
            let (mut tar, _) = well_formed();
            for (block, at, bytes) in writes {
                let start = (block % (tar.len() / 512)) * 512;
                let end = (start + at + bytes.len()).min(start + 512);
                tar[start + at.min(511)..end].copy_from_slice(&bytes[..end - start - at.min(511)]);
                // A valid checksum, so the damaged header is parsed rather than refused.
                let h = &mut tar[start..start + 512];
                h[148..156].fill(b' ');
                let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
                h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            }
            let plain = listing(&tar[..]);
            let limited = listing(Limited::new(&tar[..]));
            proptest::prop_assert_eq!(plain, limited);
        }
    }
}
