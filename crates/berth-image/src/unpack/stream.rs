//! The layer stream: decompression by magic bytes, and a channel of chunks read as a stream.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc;

/// Compression of a layer stream, detected from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Wraps `reader` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok((
            Compression::Gzip,
            Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        ))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok((
            Compression::Zstd,
            Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        ))
    } else {
        Ok((Compression::None, Box::new(r)))
    }
}

/// The reading end of a channel of byte chunks (or errors) as a [`Read`]; EOF when the
/// sender is gone.
pub(crate) struct ChanReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl ChanReader {
    pub(crate) fn new(rx: mpsc::Receiver<io::Result<Vec<u8>>>) -> ChanReader {
        ChanReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
