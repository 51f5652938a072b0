//! tar-split: what a layer tar holds besides its files' contents (headers, extension records,
//! padding, the end blocks, sparse data), recorded while the layer is unpacked, so the exact
//! tar (the same bytes, so the same diff-id) can be rebuilt from the unpacked files for `image
//! push` and `image save`, as containers/storage does. Content read back is never trusted
//! blindly: [`LayerTar`]'s user checks the rebuilt stream against the diff-id.
//!
//! The record (zstd-compressed) is a sequence of `0, u32 len, bytes` (raw stream bytes) and
//! `1, u64 size, u32 len, path` (the next `size` bytes are the content of the regular file at
//! `path`, relative to the layer root).

use super::paths::open_parent;
use super::UnpackError;
use rustix::fs::{self as rfs, Mode, OFlags};
use std::cell::RefCell;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// The record's file name beside a layer's `diff/`.
pub(crate) const FILE_NAME: &str = "tar-split.zst";

const RAW: u8 = 0;
const CONTENT: u8 = 1;
const MAX_RAW: usize = 1 << 20;

/// Writes the record of one layer as its stream passes through [`Recording`].
pub(crate) struct Recorder {
    out: zstd::Encoder<'static, BufWriter<File>>,
    /// Stream offset of the next byte seen.
    pos: u64,
    /// Bytes before this offset are a file's content, not recorded.
    skip_to: u64,
    pending: Vec<u8>,
}

impl Recorder {
    pub(crate) fn create(path: &Path) -> io::Result<Recorder> {
        let f = File::create(path)?;
        Ok(Recorder {
            out: zstd::Encoder::new(BufWriter::new(f), 3)?,
            pos: 0,
            skip_to: 0,
            pending: Vec::new(),
        })
    }

    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if self.pos < self.skip_to {
            let n = bytes.len().min((self.skip_to - self.pos) as usize);
            self.pos += n as u64;
            bytes = &bytes[n..];
        }
        self.pos += bytes.len() as u64;
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_RAW {
            self.flush_raw()?;
        }
        Ok(())
    }

    fn flush_raw(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.out.write_all(&[RAW])?;
        self.out
            .write_all(&(self.pending.len() as u32).to_le_bytes())?;
        self.out.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }

    /// The entry about to be read is a regular file of `size` bytes at stream offset `at`,
    /// written to `comps`. Content that does not start where the stream is now (never the
    /// case with the tar crate) simply stays in the record.
    pub(crate) fn content(&mut self, at: u64, size: u64, comps: &[OsString]) -> io::Result<()> {
        if at != self.pos || size == 0 {
            return Ok(());
        }
        self.flush_raw()?;
        let path = comps
            .iter()
            .map(|c| c.clone().into_vec())
            .collect::<Vec<_>>()
            .join(&b'/');
        self.out.write_all(&[CONTENT])?;
        self.out.write_all(&size.to_le_bytes())?;
        self.out.write_all(&(path.len() as u32).to_le_bytes())?;
        self.out.write_all(&path)?;
        self.skip_to = at + size;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.flush_raw()?;
        self.out.finish()?.flush()
    }
}

/// A reader that shows every byte it passes to a [`Recorder`].
pub(crate) struct Recording<'a, R> {
    pub(crate) inner: R,
    pub(crate) recorder: Option<&'a RefCell<Recorder>>,
}

impl<R: Read> Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(r) = self.recorder {
            r.borrow_mut().observe(&buf[..n])?;
        }
        Ok(n)
    }
}

enum State {
    Next,
    Raw(u32),
    Content(File, u64),
}

/// A layer's tar rebuilt from its record and its unpacked directory, as a stream.
pub struct LayerTar {
    record: zstd::Decoder<'static, BufReader<File>>,
    root: OwnedFd,
    state: State,
}

impl LayerTar {
    /// Opens the record `split` of the layer unpacked in `diff`.
    pub(crate) fn open(split: &Path, diff: &Path) -> Result<LayerTar, UnpackError> {
        let f = File::open(split).map_err(UnpackError::Read)?;
        let root = rfs::open(
            diff,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| UnpackError::OpenRoot {
            path: diff.to_path_buf(),
            source: e.into(),
        })?;
        Ok(LayerTar {
            record: zstd::Decoder::new(f).map_err(UnpackError::Read)?,
            root,
            state: State::Next,
        })
    }

    fn next_record(&mut self) -> io::Result<Option<State>> {
        let mut tag = [0u8; 1];
        if self.record.read(&mut tag)? == 0 {
            return Ok(None);
        }
        let mut n4 = [0u8; 4];
        match tag[0] {
            RAW => {
                self.record.read_exact(&mut n4)?;
                Ok(Some(State::Raw(u32::from_le_bytes(n4))))
            }
            CONTENT => {
                let mut n8 = [0u8; 8];
                self.record.read_exact(&mut n8)?;
                self.record.read_exact(&mut n4)?;
                let mut path = vec![0u8; u32::from_le_bytes(n4) as usize];
                self.record.read_exact(&mut path)?;
                let file = self.open_content(path)?;
                Ok(Some(State::Content(file, u64::from_le_bytes(n8))))
            }
            t => Err(bad(format!("unknown record {t}"))),
        }
    }

    /// Opens a file of the layer without following any symlink on the way.
    fn open_content(&self, path: Vec<u8>) -> io::Result<File> {
        let name = String::from_utf8_lossy(&path).into_owned();
        let mut comps: Vec<OsString> = path
            .split(|b| *b == b'/')
            .map(|c| OsString::from_vec(c.to_vec()))
            .collect();
        let base = comps.pop().ok_or_else(|| bad("empty path".into()))?;
        let dir = open_parent(&self.root, &comps, &name, false).map_err(io::Error::other)?;
        let fd = rfs::openat(
            &dir,
            &base,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("open {name}: {e}")))?;
        Ok(File::from(fd))
    }
}

fn bad(why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("tar-split record: {why}"),
    )
}

impl Read for LayerTar {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.state {
                State::Next => match self.next_record()? {
                    Some(s) => self.state = s,
                    None => return Ok(0),
                },
                State::Raw(0) | State::Content(_, 0) => self.state = State::Next,
                State::Raw(left) => {
                    let want = buf.len().min(*left as usize);
                    let n = self.record.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(bad("truncated".into()));
                    }
                    *left -= n as u32;
                    return Ok(n);
                }
                State::Content(file, left) => {
                    let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(bad("a file of the layer is shorter than recorded".into()));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
            }
        }
    }
}
