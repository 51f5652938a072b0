//! tar-split records: a stored layer's tar is rebuilt byte for byte (its diff-id) from the
//! unpacked files, whatever the tar holds (PAX and GNU long names, hard links, symlinks,
//! whiteouts, an opaque dir, trailing zero blocks), and a changed file is
//! caught instead of pushed.

use berth_image::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

fn entry(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, path, data).expect("append");
}

/// A layer with every kind of entry the rebuild must reproduce.
fn odd_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    entry(&mut b, tar::EntryType::Directory, "etc/", b"");
    entry(&mut b, tar::EntryType::Regular, "etc/hello", b"hello\n");
    // A name over 100 bytes: a GNU long-name record before the entry.
    let long = format!("etc/{}", "n".repeat(150));
    entry(&mut b, tar::EntryType::Regular, &long, &vec![7u8; 70_000]);
    // A PAX record (xattr) before an entry.
    b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"1"[..])])
        .expect("pax");
    entry(&mut b, tar::EntryType::Regular, "etc/xattr", b"x");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "etc/hardlink", "etc/hello")
        .expect("link");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "etc/symlink", "hello")
        .expect("symlink");
    entry(&mut b, tar::EntryType::Regular, "etc/.wh.gone", b"");
    entry(&mut b, tar::EntryType::Directory, "opaque/", b"");
    entry(&mut b, tar::EntryType::Regular, "opaque/.wh..wh..opq", b"");
    entry(&mut b, tar::EntryType::Regular, "empty", b"");
    let mut tar = b.into_inner().expect("tar");
    // Extra zero blocks after the end, as some writers pad to a record size.
    tar.extend_from_slice(&[0u8; 4096]);
    tar
}

#[test]
fn a_stored_layer_is_rebuilt_byte_for_byte_and_a_changed_file_is_caught() {
    if !rustix::process::geteuid().is_root() {
        berth_common::skip!("needs root (whiteout devices, trusted.overlay xattrs)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    let tar = odd_layer();
    let diff_id = sha(&tar);
    let path = dir.path().join("layer.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    std::fs::write(&path, gz.finish().expect("gzip")).expect("write");
    let details = store.import(&path, "odd:1", None).expect("import");
    assert_eq!(details.record.layers, vec![diff_id.clone()]);
    assert_eq!(
        store.check_layer_tar(&diff_id).expect("rebuild"),
        tar.len() as u64
    );
    let mut rebuilt = Vec::new();
    store
        .layer_tar(&diff_id)
        .expect("open")
        .read_to_end(&mut rebuilt)
        .expect("read");
    assert!(
        rebuilt == tar,
        "the rebuilt tar differs from the imported one"
    );
    // Same length, other bytes: only the digest check can tell.
    std::fs::write(details.layer_dirs[0].join("etc/hello"), "HELLO\n").expect("write");
    match store.check_layer_tar(&diff_id) {
        Err(e @ StoreError::LayerRebuild { .. }) => {
            assert!(e.to_string().contains("changed"), "{e}")
        }
        other => panic!("expected LayerRebuild, got {other:?}"),
    }
    std::fs::remove_file(details.layer_dirs[0].join("etc/hello")).expect("rm");
    assert!(store.check_layer_tar(&diff_id).is_err());
}
