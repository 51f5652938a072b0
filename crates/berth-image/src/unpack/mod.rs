//! Unpacking one layer tar (plain, gzip or zstd) into an empty directory, safely.
//!
//! Owns the rules a hostile tar must not break: every entry lands inside the layer directory.
//! Paths are normalized (a leading `/` is dropped, `.` skipped) and `..` is refused; every parent
//! component is opened with `O_NOFOLLOW | O_DIRECTORY` from the layer's root fd, so a symlink
//! planted by an earlier entry can never be walked through (each layer is unpacked into its own
//! fresh directory, so lower layers' symlinks are not reachable at all). Hard links are made with
//! `linkat` between two such safely opened parents. Whiteouts become overlayfs whiteouts
//! (`.wh.NAME` → char device 0:0, `.wh..wh..opq` → `trusted.overlay.opaque=y`).
//! Ownership is kept when running as root; modes, xattrs, symlinks, device nodes and mtimes always.

mod entries;
mod error;
mod meta;
mod paths;
mod space;
mod sparse;
mod split;
mod stream;
#[cfg(test)]
mod tests;

pub use error::UnpackError;
pub(crate) use space::SpaceBudget;
pub use split::LayerTar;
pub(crate) use split::FILE_NAME as SPLIT_FILE;
pub(crate) use stream::ChanReader;
pub use stream::{decompress, Compression};

use crate::digest::HashingReader;
use entries::unpack_tar;
use split::{Recorder, Recording};
use std::cell::RefCell;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;

/// What an unpack produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedLayer {
    /// `sha256:<hex>` of the uncompressed tar stream (the OCI diff-id).
    pub diff_id: String,
    /// Sum of regular file sizes written (disk usage estimate for `image ls`).
    pub size: u64,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
}

/// Unpacks a (possibly compressed) layer tar into `dest`, an existing empty directory.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path) -> Result<UnpackedLayer, UnpackError> {
    unpack_recorded(reader, dest, None)
}

/// [`unpack_layer`] in two threads: this one creates the files while a second decompresses
/// and hashes the stream ahead of it. A large layer from the network then costs about the
/// larger of the two halves instead of their sum.
pub fn unpack_layer_threaded<R: Read + Send>(
    reader: R,
    dest: &Path,
) -> Result<UnpackedLayer, UnpackError> {
    unpack_threaded_recorded(reader, dest, None)
}

/// The tar-split record of the unpack, when one is written to `split`.
fn recorder(split: Option<&Path>) -> Result<Option<RefCell<Recorder>>, UnpackError> {
    split
        .map(|p| Recorder::create(p).map(RefCell::new))
        .transpose()
        .map_err(UnpackError::Read)
}

fn finish(rec: Option<RefCell<Recorder>>) -> Result<(), UnpackError> {
    rec.map_or(Ok(()), |r| r.into_inner().finish())
        .map_err(UnpackError::Read)
}

/// [`unpack_layer`], writing the layer's tar-split record to `split` (the store's layers).
pub(crate) fn unpack_recorded<R: Read>(
    reader: R,
    dest: &Path,
    split: Option<&Path>,
) -> Result<UnpackedLayer, UnpackError> {
    let (_, plain) = decompress(reader).map_err(UnpackError::Read)?;
    let rec = recorder(split)?;
    let recording = Recording {
        inner: plain,
        recorder: rec.as_ref(),
    };
    let mut hashing = HashingReader::new(recording);
    let size = unpack_tar(&mut hashing, dest, rec.as_ref())?;
    let (diff_id, tar_size) = hashing.finish().map_err(UnpackError::Read)?;
    finish(rec)?;
    Ok(UnpackedLayer {
        diff_id,
        size,
        tar_size,
    })
}

/// [`unpack_layer_threaded`], writing the tar-split record to `split`.
pub(crate) fn unpack_threaded_recorded<R: Read + Send>(
    reader: R,
    dest: &Path,
    split: Option<&Path>,
) -> Result<UnpackedLayer, UnpackError> {
    const CHUNK: usize = 256 * 1024;
    let rec = recorder(split)?;
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    let res = std::thread::scope(|s| {
        let producer = s.spawn(move || -> io::Result<(String, u64)> {
            let (_, plain) = decompress(reader)?;
            let mut hashing = HashingReader::new(plain);
            loop {
                let mut buf = vec![0u8; CHUNK];
                let n = match hashing.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let copy = io::Error::new(e.kind(), e.to_string());
                        // The unpacker reports it as the stream's error, if it still reads.
                        let _ = tx.send(Err(copy));
                        return Err(e);
                    }
                };
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() {
                    // The unpacker failed and stopped reading: its error is the one reported.
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
            }
            hashing.finish()
        });
        let mut chan = Recording {
            inner: ChanReader::new(rx),
            recorder: rec.as_ref(),
        };
        let unpacked = unpack_tar(&mut chan, dest, rec.as_ref()).and_then(|size| {
            // Past the tar's end-of-archive blocks: let the hasher see the stream to its end.
            io::copy(&mut chan, &mut io::sink()).map_err(UnpackError::Read)?;
            Ok(size)
        });
        drop(chan);
        let hashed = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("decompressing thread panicked")));
        let size = unpacked?;
        let (diff_id, tar_size) = hashed.map_err(UnpackError::Read)?;
        Ok(UnpackedLayer {
            diff_id,
            size,
            tar_size,
        })
    });
    let layer = res?;
    finish(rec)?;
    Ok(layer)
}
