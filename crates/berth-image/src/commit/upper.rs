//! A container's upper dir read as a layer: overlayfs whiteouts (char device 0:0) become OCI
//! whiteouts (`.wh.NAME`), an opaque dir (`trusted.overlay.opaque=y`) gets `.wh..wh..opq`;
//! and `diff`'s A/C/D lines. Nothing is followed: entries are lstat'ed, files opened with
//! O_NOFOLLOW (a running container may change its upper while it is read, as with `docker
//! commit --pause=false`).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// One entry of the upper dir, parents before children, names sorted.
enum Entry {
    /// A file, dir, link or node of the container, at its path relative to the root.
    Node(PathBuf, fs::Metadata),
    /// NAME was deleted.
    Whiteout(PathBuf),
    /// A dir whose lower contents are hidden.
    Opaque(PathBuf, fs::Metadata),
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(
        rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut buf),
        Ok(1) if buf[0] == b'y'
    )
}

/// What the runtime made in the upper as mount points (`/etc/hosts`, `/proc`, …): an empty
/// file or dir at a mount's destination is not the container's change (Docker keeps these in
/// an init layer that commit and diff leave out).
pub(crate) type MountPoints = std::collections::HashSet<PathBuf>;

fn is_stub(full: &Path, md: &fs::Metadata) -> bool {
    (md.is_file() && md.len() == 0)
        || (md.is_dir() && fs::read_dir(full).is_ok_and(|mut d| d.next().is_none()))
}

/// Walks `upper` depth first in name order, leaving out mount-point stubs.
fn walk(
    upper: &Path,
    skip: &MountPoints,
    mut each: impl FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = upper.join(&rel);
        let mut names: Vec<_> = fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let path = rel.join(&name);
            let full = upper.join(&path);
            let md = fs::symlink_metadata(&full)?;
            if skip.contains(&path) && is_stub(&full, &md) {
                continue;
            }
            if is_whiteout(&md) {
                each(Entry::Whiteout(path))?;
            } else if md.is_dir() {
                if is_opaque(&full) {
                    each(Entry::Opaque(path.clone(), md))?;
                } else {
                    each(Entry::Node(path.clone(), md))?;
                }
                subdirs.push(path);
            } else {
                each(Entry::Node(path, md))?;
            }
        }
        // Depth first, in name order: the first subdir is popped first.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn with_name(path: &Path, prefix: &str) -> PathBuf {
    let mut name = std::ffi::OsString::from(prefix);
    name.push(path.file_name().unwrap_or_default());
    path.with_file_name(name)
}

/// Writes `upper` as an OCI layer tar to `out`.
pub(crate) fn write_layer(upper: &Path, skip: &MountPoints, out: impl Write) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let empty = |b: &mut tar::Builder<_>, path: &Path| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(0);
        b.append_data(&mut h, path, io::empty())
    };
    walk(upper, skip, |e| match e {
        Entry::Whiteout(p) => empty(&mut b, &with_name(&p, ".wh.")),
        Entry::Opaque(p, md) => {
            node(&mut b, upper, &p, &md, &mut links)?;
            empty(&mut b, &p.join(".wh..wh..opq"))
        }
        Entry::Node(p, md) => node(&mut b, upper, &p, &md, &mut links),
    })?;
    b.into_inner()?.flush()
}

fn node<W: Write>(
    b: &mut tar::Builder<W>,
    upper: &Path,
    path: &Path,
    md: &fs::Metadata,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let full = upper.join(path);
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    if md.is_file() && md.nlink() > 1 {
        if let Some(first) = links.get(&(md.dev(), md.ino())) {
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            return b.append_link(&mut h, path, first);
        }
        links.insert((md.dev(), md.ino()), path.to_path_buf());
    }
    if md.is_file() {
        let f = File::options()
            .read(true)
            .custom_flags(libc_o_nofollow())
            .open(&full)?;
        b.append_data(&mut h, path, f)
    } else if md.file_type().is_symlink() {
        let target = fs::read_link(&full)?;
        let bytes = target.as_os_str().as_bytes();
        if bytes.len() > h.as_old().linkname.len() {
            // Long: written literally as a GNU long-link record.
            return b.append_link(&mut h, path, target);
        }
        // The target exactly as the link holds it: tar's set_link_name normalizes paths
        // (a link to "/" would become "//").
        h.set_size(0);
        h.set_link_name_literal(bytes)?;
        b.append_data(&mut h, path, io::empty())
    } else {
        h.set_size(0);
        b.append_data(&mut h, path, io::empty())
    }
}

fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// `diff`'s lines: `A /path` added, `C /path` changed (it exists below), `D /path` deleted.
/// Sorted by path, as Docker prints them.
pub(crate) fn diff(
    upper: &Path,
    lowers: &[PathBuf],
    skip: &MountPoints,
) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    // Below an opaque dir nothing of the lower layers shows.
    let mut opaque: Vec<PathBuf> = Vec::new();
    let below = |p: &Path, opaque: &[PathBuf]| {
        !opaque.iter().any(|o| p.starts_with(o))
            && lowers
                .iter()
                .any(|l| fs::symlink_metadata(l.join(p)).is_ok_and(|md| !is_whiteout(&md)))
    };
    walk(upper, skip, |e| {
        let (kind, p) = match e {
            Entry::Whiteout(p) => ('D', p),
            Entry::Opaque(p, _) => {
                let k = if below(&p, &opaque) { 'C' } else { 'A' };
                opaque.push(p.clone());
                (k, p)
            }
            Entry::Node(p, _) => (if below(&p, &opaque) { 'C' } else { 'A' }, p),
        };
        out.push((p, kind));
        Ok(())
    })?;
    out.sort();
    Ok(out
        .into_iter()
        .map(|(p, kind)| format!("{kind} /{}", p.display()))
        .collect())
}
