//! The container log, `<bundle>/output.log`: one line per output line in the CRI log format
//! kubelet reads, `TIME STREAM TAG TEXT` (RFC 3339 time with nanoseconds, `stdout` or
//! `stderr`, `F` for a full line, `P` for part of one: cut at [`MAX_LINE`] or left unfinished
//! when the stream ended). The monitor writes it; `logs` reads it.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use berth_common::io::{IoError, Step};

/// The log's file name in the bundle.
pub const LOG_FILE: &str = "output.log";

/// A longer line is written in parts (`P` entries), as kubelet's log does.
const MAX_LINE: usize = 16 * 1024;

pub const STREAMS: [&str; 2] = ["stdout", "stderr"];

/// Appends entries; keeps each stream's unfinished line until its newline comes.
pub struct Writer {
    file: File,
    pending: [Vec<u8>; 2],
}

impl Writer {
    pub fn open(path: &Path) -> Result<Writer, IoError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .step("open the log", path)?;
        Ok(Writer {
            file,
            pending: Default::default(),
        })
    }

    /// Adds what stream `s` (0 stdout, 1 stderr) produced; writes every finished line, in one
    /// write.
    pub fn feed(&mut self, s: usize, data: &[u8]) {
        self.pending[s].extend_from_slice(data);
        let mut out = Vec::new();
        let time = berth_common::now_rfc3339();
        let mut start = 0;
        let buf = &self.pending[s];
        while let Some(n) = buf[start..].iter().position(|b| *b == b'\n') {
            entry(&mut out, &time, s, true, &buf[start..start + n]);
            start += n + 1;
        }
        while buf.len() - start >= MAX_LINE {
            entry(&mut out, &time, s, false, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        self.pending[s].drain(..start);
        self.write(&out);
    }

    /// Writes what is left of stream `s` as a partial line (its end came without a newline).
    pub fn finish(&mut self, s: usize) {
        if self.pending[s].is_empty() {
            return;
        }
        let mut out = Vec::new();
        entry(
            &mut out,
            &berth_common::now_rfc3339(),
            s,
            false,
            &self.pending[s],
        );
        self.pending[s].clear();
        self.write(&out);
    }

    fn write(&mut self, out: &[u8]) {
        // Nobody to tell (the monitor is detached): a full disk loses lines, not the container.
        if !out.is_empty() {
            let _ = self.file.write_all(out);
        }
    }
}

fn entry(out: &mut Vec<u8>, time: &str, s: usize, full: bool, text: &[u8]) {
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(STREAMS[s].as_bytes());
    out.extend_from_slice(if full { b" F " } else { b" P " });
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// One parsed log line.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub time: &'a str,
    /// A full line (print a newline after it), or part of one.
    pub full: bool,
    pub text: &'a [u8],
}

/// Parses one log line (without its newline); None for a line that is not an entry.
pub fn parse(line: &[u8]) -> Option<Entry<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let _stream = parts.next()?;
    let full = match parts.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    Some(Entry {
        time,
        full,
        text: parts.next().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_entries_and_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let mut w = Writer::open(&path).unwrap();
        w.feed(0, b"one\ntw");
        w.feed(1, b"err\n");
        w.feed(0, b"o\nthree");
        w.finish(0);
        let text = std::fs::read(&path).unwrap();
        let got: Vec<(bool, &[u8])> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse(l).map(|e| (e.full, e.text)).unwrap())
            .collect();
        let want: Vec<(bool, &[u8])> = vec![
            (true, b"one"),
            (true, b"err"),
            (true, b"two"),
            (false, b"three"),
        ];
        assert_eq!(got, want);
        assert!(String::from_utf8_lossy(&text).contains(" stderr F err\n"));
    }
}
