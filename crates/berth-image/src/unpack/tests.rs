use super::*;
use rustix::fs as rfs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

/// Appends an entry with a raw (unvalidated) name, as a hostile tar would carry.
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_size(data.len() as u64);
    h.set_mtime(1_000_000);
    h.set_cksum();
    b.append(&h, data).expect("append");
}

fn unpack_raw(
    entries: &[(&str, tar::EntryType, &str, &[u8])],
) -> (tempfile::TempDir, Result<UnpackedLayer, UnpackError>) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        raw_entry(&mut b, name, *kind, link, data);
    }
    let bytes = b.into_inner().expect("finish tar");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("layer")).expect("mkdir");
    let res = unpack_layer(&bytes[..], &dir.path().join("layer"));
    (dir, res)
}

use tar::EntryType as T;

#[test]
fn rejects_dotdot_entry() {
    let (dir, res) = unpack_raw(&[("../evil", T::Regular, "", b"x")]);
    let err = res.expect_err("must reject");
    assert!(err.to_string().contains("../evil"), "{err}");
    assert!(!dir.path().join("evil").exists());
}

#[test]
fn rejects_nested_dotdot_entry() {
    let (dir, res) = unpack_raw(&[("a/../../evil", T::Regular, "", b"x")]);
    assert!(matches!(res, Err(UnpackError::Escape { .. })));
    assert!(!dir.path().join("evil").exists());
}

#[test]
fn absolute_path_is_kept_inside() {
    let (dir, res) = unpack_raw(&[("/abs/file", T::Regular, "", b"x")]);
    res.expect("absolute paths are normalized");
    assert_eq!(
        std::fs::read(dir.path().join("layer/abs/file")).expect("read"),
        b"x"
    );
}

#[test]
fn rejects_write_through_symlink_planted_earlier() {
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().to_str().expect("utf8");
    let (_dir, res) = unpack_raw(&[
        ("link", T::Symlink, target, b""),
        ("link/pwned", T::Regular, "", b"x"),
    ]);
    let err = res.expect_err("must reject");
    assert!(
        matches!(&err, UnpackError::ThroughSymlink { entry, component } if entry == "link/pwned" && component == "link"),
        "{err}"
    );
    assert!(!outside.path().join("pwned").exists());
}

#[test]
fn rejects_write_through_relative_symlink_to_parent() {
    let (dir, res) = unpack_raw(&[
        ("up", T::Symlink, "..", b""),
        ("up/pwned", T::Regular, "", b"x"),
    ]);
    assert!(matches!(res, Err(UnpackError::ThroughSymlink { .. })));
    assert!(!dir.path().join("pwned").exists());
}

#[test]
fn rejects_whiteout_through_symlink() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("victim"), b"keep").expect("write");
    let (_dir, res) = unpack_raw(&[
        ("d", T::Symlink, outside.path().to_str().expect("utf8"), b""),
        ("d/.wh.victim", T::Regular, "", b""),
    ]);
    assert!(matches!(res, Err(UnpackError::ThroughSymlink { .. })));
    assert_eq!(
        std::fs::read(outside.path().join("victim")).expect("read"),
        b"keep"
    );
}

#[test]
fn rejects_hardlink_escaping_the_layer() {
    let (_dir, res) = unpack_raw(&[("h", T::Link, "../../../etc/passwd", b"")]);
    assert!(matches!(res, Err(UnpackError::Escape { .. })));
    let (_dir, res) = unpack_raw(&[
        ("s", T::Symlink, "/", b""),
        ("h", T::Link, "s/etc/passwd", b""),
    ]);
    assert!(matches!(res, Err(UnpackError::ThroughSymlink { .. })));
}

#[test]
fn absolute_hardlink_target_stays_inside() {
    let (dir, res) = unpack_raw(&[
        ("etc/passwd", T::Regular, "", b"inside"),
        ("h", T::Link, "/etc/passwd", b""),
    ]);
    res.expect("unpack");
    let a = std::fs::metadata(dir.path().join("layer/h")).expect("stat");
    let b = std::fs::metadata(dir.path().join("layer/etc/passwd")).expect("stat");
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn rejects_dotdot_whiteout() {
    let (_dir, res) = unpack_raw(&[("a/.wh...", T::Regular, "", b"")]);
    assert!(matches!(res, Err(UnpackError::Escape { .. })));
}

fn sample_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(T::Directory);
    dir.set_mode(0o750);
    dir.set_uid(1234);
    dir.set_gid(4321);
    dir.set_mtime(1_000_000);
    dir.set_size(0);
    b.append_data(&mut dir, "etc/", &[][..]).expect("dir");
    let mut f = tar::Header::new_gnu();
    f.set_entry_type(T::Regular);
    f.set_mode(0o4755);
    f.set_uid(7);
    f.set_gid(8);
    f.set_mtime(1_234_567);
    f.set_size(5);
    b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"yes"[..])])
        .expect("pax");
    b.append_data(&mut f, "etc/tool", &b"hello"[..])
        .expect("file");
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(T::Symlink);
    l.set_size(0);
    l.set_mtime(1_000);
    b.append_link(&mut l, "etc/link", "/etc/tool")
        .expect("symlink");
    let mut hl = tar::Header::new_gnu();
    hl.set_entry_type(T::Link);
    hl.set_size(0);
    b.append_link(&mut hl, "etc/hard", "etc/tool")
        .expect("hardlink");
    let mut wh = tar::Header::new_gnu();
    wh.set_entry_type(T::Regular);
    wh.set_size(0);
    wh.set_mode(0o644);
    b.append_data(&mut wh, "etc/.wh.gone", &[][..])
        .expect("whiteout");
    b.append_data(&mut wh.clone(), "opaque/.wh..wh..opq", &[][..])
        .expect("opaque");
    let mut dev = tar::Header::new_gnu();
    dev.set_entry_type(T::Char);
    dev.set_mode(0o666);
    dev.set_device_major(1).expect("major");
    dev.set_device_minor(3).expect("minor");
    dev.set_size(0);
    b.append_data(&mut dev, "dev/null", &[][..]).expect("dev");
    let mut fifo = tar::Header::new_gnu();
    fifo.set_entry_type(T::Fifo);
    fifo.set_mode(0o600);
    fifo.set_size(0);
    b.append_data(&mut fifo, "run/fifo", &[][..]).expect("fifo");
    b.into_inner().expect("finish")
}

fn check_sample(root: &Path) {
    let tool = std::fs::symlink_metadata(root.join("etc/tool")).expect("tool");
    assert_eq!(
        tool.permissions().mode() & 0o7777,
        0o4755,
        "setuid mode kept after chown"
    );
    assert_eq!(tool.mtime(), 1_234_567);
    assert_eq!(tool.nlink(), 2, "hard link shares the inode");
    assert_eq!(
        std::fs::read(root.join("etc/hard")).expect("hard"),
        b"hello"
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/link")).expect("link"),
        Path::new("/etc/tool")
    );
    let etc = std::fs::metadata(root.join("etc")).expect("etc");
    assert_eq!(etc.permissions().mode() & 0o7777, 0o750);
    assert_eq!(
        etc.mtime(),
        1_000_000,
        "dir mtime restored after its entries"
    );
    let xattr = rfs::lgetxattr(root.join("etc/tool"), "user.berth", &mut [0u8; 16][..]);
    assert_eq!(xattr.ok(), Some(3), "xattr from PAX kept");
    let wh = std::fs::symlink_metadata(root.join("etc/gone")).expect("whiteout");
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    let null = std::fs::symlink_metadata(root.join("dev/null")).expect("dev");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rfs::makedev(1, 3));
    assert!(std::fs::symlink_metadata(root.join("run/fifo"))
        .expect("fifo")
        .file_type()
        .is_fifo());
    if rustix::process::geteuid().is_root() {
        assert_eq!((tool.uid(), tool.gid()), (7, 8));
        assert_eq!((etc.uid(), etc.gid()), (1234, 4321));
        let mut buf = [0u8; 4];
        let n = rfs::lgetxattr(root.join("opaque"), "trusted.overlay.opaque", &mut buf[..])
            .expect("opaque xattr");
        assert_eq!(&buf[..n], b"y");
    }
}

fn skip_unless_root() -> bool {
    if !rustix::process::geteuid().is_root() {
        berth_common::note_skipped!("needs root (mknod of whiteouts, trusted.* xattrs, chown)");
        return true;
    }
    false
}

#[test]
fn unpacks_plain_gzip_and_zstd_layers_with_metadata() {
    if skip_unless_root() {
        return;
    }
    let plain = sample_layer();
    let expected = crate::digest::sha256_digest(&plain);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let zst = zstd::encode_all(&plain[..], 1).expect("zstd");
    for (what, bytes) in [("plain", &plain), ("gzip", &gz), ("zstd", &zst)] {
        for threaded in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let got = if threaded {
                unpack_layer_threaded(&bytes[..], dir.path())
            } else {
                unpack_layer(&bytes[..], dir.path())
            }
            .unwrap_or_else(|e| panic!("{what} (threaded: {threaded}): {e}"));
            assert_eq!(
                got.diff_id, expected,
                "{what} (threaded: {threaded}): diff-id is the digest of the plain tar"
            );
            assert_eq!(got.size, 5);
            check_sample(dir.path());
        }
    }
}

#[test]
fn threaded_unpack_hashes_to_the_end_and_reports_bad_streams() {
    // Bytes after the end-of-archive blocks belong to the diff-id too.
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, "f", T::Regular, "", b"data");
    let mut bytes = b.into_inner().expect("tar");
    bytes.extend_from_slice(&[0u8; 4096]);
    let dir = tempfile::tempdir().expect("tempdir");
    let got = unpack_layer_threaded(&bytes[..], dir.path()).expect("unpack");
    assert_eq!(got.diff_id, crate::digest::sha256_digest(&bytes));
    assert_eq!(got.tar_size, bytes.len() as u64);
    assert_eq!(std::fs::read(dir.path().join("f")).expect("read"), b"data");

    // A hostile entry fails the same way as unthreaded, and nothing escapes.
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, "../evil", T::Regular, "", b"x");
    let bytes = b.into_inner().expect("tar");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("layer")).expect("mkdir");
    let err =
        unpack_layer_threaded(&bytes[..], &dir.path().join("layer")).expect_err("must reject");
    assert!(matches!(err, UnpackError::Escape { .. }), "{err}");
    assert!(!dir.path().join("evil").exists());

    // A truncated gzip stream is a read error, not a hang or a partial success.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&vec![7u8; 1 << 20]).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let dir = tempfile::tempdir().expect("tempdir");
    let err = unpack_layer_threaded(&gz[..gz.len() / 2], dir.path()).expect_err("truncated");
    assert!(matches!(err, UnpackError::Read(_)), "{err}");
}

#[test]
fn drops_overlay_xattrs_from_the_tar() {
    if skip_unless_root() {
        return;
    }
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
        ("SCHILY.xattr.user.kept", &b"1"[..]),
    ])
    .expect("pax");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(T::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "d/", &[][..]).expect("dir");
    let dir = tempfile::tempdir().expect("tempdir");
    unpack_layer(&b.into_inner().expect("tar")[..], dir.path()).expect("unpack");
    let mut buf = [0u8; 8];
    assert!(rfs::lgetxattr(
        dir.path().join("d"),
        "trusted.overlay.redirect",
        &mut buf[..]
    )
    .is_err());
    assert_eq!(
        rfs::lgetxattr(dir.path().join("d"), "user.kept", &mut buf[..]).ok(),
        Some(1)
    );
}

#[test]
fn replacing_a_cached_parent_with_a_symlink_is_still_caught() {
    let outside = tempfile::tempdir().expect("tempdir");
    let (_dir, res) = unpack_raw(&[
        ("a/b/f1", T::Regular, "", b"1"),
        ("a", T::Symlink, outside.path().to_str().expect("utf8"), b""),
        ("a/b/f2", T::Regular, "", b"2"),
    ]);
    assert!(
        matches!(res, Err(UnpackError::ThroughSymlink { .. })),
        "{res:?}"
    );
    assert_eq!(std::fs::read_dir(outside.path()).expect("ls").count(), 0);
}

/// A GNU sparse entry (type 'S') of `real` bytes whose data regions are `map`.
fn sparse_tar(name: &str, real: u64, map: &[(u64, &[u8])]) -> Vec<u8> {
    fn octal(field: &mut [u8], v: u64) {
        let s = format!("{v:0w$o}", w = field.len() - 1);
        field[..s.len()].copy_from_slice(s.as_bytes());
    }
    let mut h = tar::Header::new_gnu();
    let mut data = Vec::new();
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        // The last map entry is (real size, 0): a trailing hole, as GNU tar writes it.
        let end = [(real, &b""[..])];
        for (slot, (off, bytes)) in gnu.sparse.iter_mut().zip(map.iter().chain(&end)) {
            // Data regions are whole 512-byte blocks (GNU tar finds holes by blocks).
            let len = (bytes.len() as u64).next_multiple_of(512);
            octal(&mut slot.offset, *off);
            octal(&mut slot.numbytes, len);
            data.extend_from_slice(bytes);
            data.resize(data.len() + len as usize - bytes.len(), 0);
        }
        octal(&mut gnu.realsize, real);
    }
    h.set_entry_type(T::GNUSparse);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&data);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn gnu_sparse_entries_are_written_sparse() {
    const GIB: u64 = 1 << 30;
    let tar = sparse_tar("big", 8 * GIB, &[(0, b"head"), (4 * GIB, b"middle")]);
    assert!(tar.len() < 4096, "the tar itself is small");
    let dir = tempfile::tempdir().expect("tempdir");
    let got = unpack_layer(&tar[..], dir.path()).expect("unpack");
    assert_eq!(got.size, 1024, "the data regions, not the holes");
    let md = std::fs::metadata(dir.path().join("big")).expect("stat");
    assert_eq!(md.len(), 8 * GIB);
    assert!(md.blocks() < 1024, "{} blocks allocated", md.blocks());
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(dir.path().join("big")).expect("open");
    let mut buf = [1u8; 12];
    f.read_exact_at(&mut buf, 4 * GIB - 6).expect("read");
    assert_eq!(&buf, b"\0\0\0\0\0\0middle");
    f.read_exact_at(&mut buf, 0).expect("read");
    assert_eq!(&buf, b"head\0\0\0\0\0\0\0\0");
    f.read_exact_at(&mut buf, 8 * GIB - 12).expect("read");
    assert_eq!(buf, [0u8; 12]);
}

#[test]
fn a_pax_size_on_a_sparse_entry_is_the_size_charged() {
    // The header says 0 bytes of data, a PAX record says 512: the tar crate reads 512.
    let mut sparse = sparse_tar("s", 1 << 20, &[(4096, b"data")]);
    sparse[124..136].copy_from_slice(b"00000000000\0");
    let mut h = tar::Header::from_byte_slice(&sparse[..512]).clone();
    h.set_cksum();
    sparse[..512].copy_from_slice(h.as_bytes());
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("size", &b"512"[..])])
        .expect("pax");
    let mut tar = b.into_inner().expect("tar");
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(&sparse);
    let dir = tempfile::tempdir().expect("tempdir");
    let got = unpack_layer(&tar[..], dir.path()).expect("unpack");
    assert_eq!(got.size, 512, "charged and counted as the crate reads it");
    let f = std::fs::read(dir.path().join("s")).expect("read");
    assert_eq!(&f[4096..4100], b"data");
}

#[test]
fn later_entry_replaces_earlier_and_dirs_merge() {
    let (dir, res) = unpack_raw(&[
        ("a", T::Directory, "", b""),
        ("a/x", T::Regular, "", b"1"),
        ("a", T::Directory, "", b""),
        ("f", T::Regular, "", b"old"),
        ("f", T::Symlink, "elsewhere", b""),
        ("d", T::Directory, "", b""),
        ("d/y", T::Regular, "", b""),
        ("d", T::Regular, "", b"file now"),
    ]);
    res.expect("unpack");
    let l = dir.path().join("layer");
    assert_eq!(
        std::fs::read(l.join("a/x")).expect("merged dir keeps content"),
        b"1"
    );
    assert_eq!(
        std::fs::read_link(l.join("f")).expect("symlink"),
        Path::new("elsewhere")
    );
    assert_eq!(std::fs::read(l.join("d")).expect("file"), b"file now");
}
