//! A directory imported as one layer, streamed as a tar into the unpacker.

use super::error::{format_err, ImportError};
use crate::store::staging::Staging;
use crate::unpack::ChanReader;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;

/// Streams `dir` as a tar into the unpacker: one code path (and one set of checks) for every
/// layer, and the diff-id comes for free.
pub(crate) fn unpack_directory(
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

pub(crate) struct ChanWriter(pub(crate) mpsc::SyncSender<io::Result<Vec<u8>>>);

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
