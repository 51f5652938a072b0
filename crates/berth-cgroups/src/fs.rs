//! Reading and writing cgroup control files with error context.
//!
//! Control files are written with one `write(2)` on an existing file (never created:
//! a missing file means a missing controller, and creating a regular file on cgroupfs
//! would only hide that).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{CgroupError, Result};
use berth_common::io::IoError;

pub(crate) fn io_err(
    step: &'static str,
    path: impl Into<PathBuf>,
    source: std::io::Error,
) -> CgroupError {
    CgroupError::Io(IoError::new(step, path, source))
}

/// Writes `value` to `dir/file`.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value)
}

pub(crate) fn write_path(path: &Path, value: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io_err("open for writing", path, e))?;
    f.write_all(value.as_bytes()).map_err(|e| {
        let source = std::io::Error::new(e.kind(), format!("value {value:?}: {e}"));
        io_err("write", path, source)
    })
}

/// Like [`write`], but hands back the raw OS error so callers can react to EINVAL/EBUSY.
pub(crate) fn try_write(dir: &Path, file: &str, value: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.join(file))?;
    f.write_all(value.as_bytes())
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| io_err("read", path, e))
}

pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Reads a single number; "max" reads as `u64::MAX`, as runc does.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let s = read(dir, file)?;
    parse_u64(s.trim()).ok_or_else(|| {
        CgroupError::Invalid(format!(
            "parse {}: {:?} is not a number",
            dir.join(file).display(),
            s.trim()
        ))
    })
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Reads a flat-keyed file ("key value" per line: memory.stat, cpu.stat, memory.events).
pub(crate) fn read_keyed(dir: &Path, file: &str) -> Result<Vec<(String, u64)>> {
    let s = read(dir, file)?;
    Ok(parse_keyed(&s))
}

pub(crate) fn parse_keyed(s: &str) -> Vec<(String, u64)> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = parse_u64(it.next()?)?;
            Some((k.to_string(), v))
        })
        .collect()
}

pub(crate) fn keyed_get(entries: &[(String, u64)], key: &str) -> Option<u64> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// The pids listed in `dir/cgroup.procs`.
pub(crate) fn read_procs(dir: &Path) -> Result<Vec<i32>> {
    let s = read(dir, "cgroup.procs")?;
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| {
                CgroupError::Invalid(format!(
                    "parse {}: {l:?} is not a pid",
                    dir.join("cgroup.procs").display()
                ))
            })
        })
        .collect()
}

/// Sub-directories (child cgroups) of `dir`; an absent `dir` has none.
pub(crate) fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        let ft = entry
            .file_type()
            .map_err(|e| io_err("stat", entry.path(), e))?;
        if ft.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// `dir` and every cgroup below it, children before their parents.
pub(crate) fn subtree_leaf_first(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect_leaf_first(dir, &mut out)?;
    Ok(out)
}

fn collect_leaf_first(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for child in child_dirs(dir)? {
        collect_leaf_first(&child, out)?;
    }
    out.push(dir.to_path_buf());
    Ok(())
}
