//! Fuzz properties (proptest, stable toolchain, a bounded number of cases each) over what
//! berth-image parses from untrusted sources: layer tars (mutated real streams: flipped bytes,
//! rewritten header fields with a valid checksum, truncation, compression), image references
//! and platforms, and whole OCI archives whose index, manifest and config are mutated but still
//! digest-correct, so the parsers behind the digest checks are reached. None may panic, hang,
//! write outside its directory, or leave anything in the store after a failed import.
//! PROPTEST_CASES overrides the number of cases of every property.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use berth_image::unpack::{unpack_layer, unpack_layer_threaded};
use berth_image::{Platform, Reference, Store};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// `n` cases (unless PROPTEST_CASES says otherwise); a failure prints its minimal input
/// instead of writing a regressions file into the source tree.
fn cases(n: u32) -> Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(n);
    Config {
        failure_persistence: None,
        ..Config::with_cases(n)
    }
}
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

fn header(kind: tar::EntryType, mode: u32, size: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size as u64);
    h.set_mtime(1_700_000_000);
    h
}

/// A header with a raw, unvalidated name and link name, as a hostile tar carries them.
fn raw(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = header(kind, 0o644, data.len());
    let gnu = h.as_gnu_mut().expect("gnu");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, data).expect("append");
}

/// A GNU sparse entry of 1 GiB with two data blocks, as `tar --sparse` writes one.
fn sparse_entry(name: &str) -> Vec<u8> {
    fn octal(field: &mut [u8], v: u64) {
        let s = format!("{v:0w$o}", w = field.len() - 1);
        field[..s.len()].copy_from_slice(s.as_bytes());
    }
    let mut h = header(tar::EntryType::GNUSparse, 0o644, 1024);
    let gnu = h.as_gnu_mut().expect("gnu");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    for (slot, (off, len)) in gnu
        .sparse
        .iter_mut()
        .zip([(0, 512), (1 << 29, 512), (1 << 30, 0)])
    {
        octal(&mut slot.offset, off);
        octal(&mut slot.numbytes, len);
    }
    octal(&mut gnu.realsize, 1 << 30);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&[b's'; 1024]);
    out
}

/// Seed streams: every entry kind the unpacker handles, and the classic escapes.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        use tar::EntryType as T;
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut header(T::Directory, 0o755, 0), "etc/", &[][..])
            .expect("dir");
        b.append_pax_extensions([("SCHILY.xattr.user.x", &b"1"[..])])
            .expect("pax");
        b.append_data(
            &mut header(T::Regular, 0o4755, 5),
            "etc/tool",
            &b"hello"[..],
        )
        .expect("file");
        let long = format!("deep/{}/file", "n".repeat(150));
        b.append_data(&mut header(T::Regular, 0o644, 2), &long, &b"ok"[..])
            .expect("long name");
        b.append_link(&mut header(T::Symlink, 0o777, 0), "etc/link", "/etc/tool")
            .expect("symlink");
        b.append_link(&mut header(T::Link, 0o644, 0), "etc/hard", "etc/tool")
            .expect("hard link");
        b.append_data(&mut header(T::Regular, 0o644, 0), "etc/.wh.gone", &[][..])
            .expect("whiteout");
        b.append_data(&mut header(T::Regular, 0o644, 0), "o/.wh..wh..opq", &[][..])
            .expect("opaque");
        b.append_data(&mut header(T::Fifo, 0o600, 0), "run/fifo", &[][..])
            .expect("fifo");
        let mut layer = b.into_inner().expect("tar");
        layer.truncate(layer.len() - 1024);
        layer.extend_from_slice(&sparse_entry("big"));
        layer.extend_from_slice(&[0u8; 1024]);

        let mut b = tar::Builder::new(Vec::new());
        raw(&mut b, "../outside/pwned", T::Regular, "", b"x");
        raw(&mut b, "s", T::Symlink, "../outside", b"");
        raw(&mut b, "s/pwned", T::Regular, "", b"x");
        raw(&mut b, "h", T::Link, "../outside/keep", b"");
        raw(&mut b, "d/.wh...", T::Regular, "", b"");
        let hostile = b.into_inner().expect("tar");
        vec![layer, hostile]
    })
}

/// Rewrites the checksum of the 512-byte header at `at`, so a mutated header is parsed
/// instead of being refused at once.
fn fix_cksum(tar: &mut [u8], at: usize) {
    let Some(block) = tar.get_mut(at..at + 512) else {
        return;
    };
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// Header fields worth rewriting: name, mode, size, typeflag, linkname, the first sparse
/// entries, isextended, realsize.
const FIELDS: [(usize, usize); 8] = [
    (0, 100),
    (100, 8),
    (124, 12),
    (156, 1),
    (157, 100),
    (386, 48),
    (482, 1),
    (483, 12),
];

#[derive(Debug, Clone)]
struct Mutation {
    seed: usize,
    /// (header block, field, bytes written into it, checksum fixed)
    fields: Vec<(usize, usize, Vec<u8>, bool)>,
    flips: Vec<(usize, u8)>,
    truncate: Option<usize>,
    compress: u8,
    threaded: bool,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..16),
        "[0-7]{1,11}".prop_map(String::into_bytes),
        Just(b"77777777777".to_vec()),
        Just(b"../../x".to_vec()),
        Just(vec![b'S']),
        Just(vec![b'L']),
        Just(vec![b'x']),
        Just(vec![b'1']),
    ];
    (
        0..2usize,
        proptest::collection::vec((0..40usize, 0..FIELDS.len(), value, any::<bool>()), 0..4),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        proptest::option::weighted(0.2, any::<usize>()),
        0..4u8,
        any::<bool>(),
    )
        .prop_map(
            |(seed, fields, flips, truncate, compress, threaded)| Mutation {
                seed,
                fields,
                flips,
                truncate,
                compress,
                threaded,
            },
        )
}

fn apply(m: &Mutation) -> Vec<u8> {
    let mut tar = seeds()[m.seed].clone();
    let blocks = tar.len() / 512;
    for (block, field, bytes, fix) in &m.fields {
        let at = (block % blocks) * 512;
        let (off, len) = FIELDS[*field];
        let n = bytes.len().min(len);
        tar[at + off..at + off + n].copy_from_slice(&bytes[..n]);
        if *fix {
            fix_cksum(&mut tar, at);
        }
    }
    for (i, x) in &m.flips {
        let i = i % tar.len();
        tar[i] ^= x;
    }
    if let Some(t) = m.truncate {
        tar.truncate(t % (tar.len() + 1));
    }
    match m.compress {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar).expect("gzip");
            e.finish().expect("gzip")
        }
        2 => zstd::encode_all(&tar[..], 1).expect("zstd"),
        _ => tar,
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

proptest! {
    #![proptest_config(cases(300))]

    /// Whatever the stream, the unpacker returns (Ok or an error) and everything it made is
    /// inside the layer directory: the sibling `outside` keeps exactly its one file.
    #[test]
    fn tar_unpacker_stays_inside_on_mutated_streams(m in mutation()) {
        let bytes = apply(&m);
        let dir = tempfile::tempdir().expect("tempdir");
        let layer = dir.path().join("layer");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&layer).expect("mkdir");
        std::fs::create_dir(&outside).expect("mkdir");
        std::fs::write(outside.join("keep"), b"keep").expect("write");
        let _ = if m.threaded {
            unpack_layer_threaded(&bytes[..], &layer)
        } else {
            unpack_layer(&bytes[..], &layer)
        };
        prop_assert_eq!(names(dir.path()), vec!["layer", "outside"]);
        prop_assert_eq!(names(&outside), vec!["keep"]);
        prop_assert_eq!(std::fs::read(outside.join("keep")).expect("read"), b"keep");
    }
}

/// Strings shaped like references, and anything at all.
fn reference_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._:/@\\[\\]-]{0,60}",
        // A host part of any characters: only a host name, an address and a port may pass.
        "[^/@]{0,10}[.:][^/@]{0,10}/[a-z]{1,5}",
        "((localhost|[a-z]{1,6}\\.[a-z]{2,3}|\\[::1\\])(:[0-9]{1,5})?/)?[a-z0-9]{1,6}(/[a-z0-9._-]{1,6}){0,2}(:[a-zA-Z0-9._-]{1,10})?(@sha256:[0-9a-f]{64})?",
    ]
}

proptest! {
    #![proptest_config(cases(2000))]

    /// A reference that parses prints as one that parses to itself, and holds no character
    /// that could change a registry URL or a terminal line.
    #[test]
    fn references_parse_to_a_fixed_point(s in reference_text()) {
        if let Ok(r) = Reference::parse(&s) {
            let shown = r.to_string();
            prop_assert!(
                shown.bytes().all(|b| b.is_ascii_graphic()),
                "{:?} → {:?}", s, shown
            );
            prop_assert!(!r.registry.contains(['@', '/', '?', '#', '\\']), "{:?}", r);
            let again = Reference::parse(&shown).expect("a printed reference parses");
            prop_assert_eq!(&again, &r);
            let _ = (r.short(), r.manifest_ref());
        }
    }

    #[test]
    fn platforms_parse_to_a_fixed_point(s in "\\PC{0,30}|[a-z0-9/]{0,30}") {
        if let Some(p) = Platform::parse(&s) {
            prop_assert_eq!(Platform::parse(&p.to_string()), Some(p));
        }
    }
}

/// Walks to a random node of `v` (path chosen by `picks`) and replaces it with `with`.
fn mutate_json(v: &mut Value, picks: &[usize], with: Value) {
    let Some((p, rest)) = picks.split_first() else {
        *v = with;
        return;
    };
    let child = match v {
        Value::Object(m) if !m.is_empty() => {
            let k = m.keys().nth(p % m.len()).cloned().expect("key");
            m.get_mut(&k)
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            a.get_mut(p % n)
        }
        _ => None,
    };
    match child {
        Some(c) => mutate_json(c, rest, with),
        None => *v = with,
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![Just(0i64), Just(-1), Just(i64::MAX), any::<i64>()].prop_map(|n| json!(n)),
        prop_oneof![
            Just("sha256:".to_string()),
            Just(format!("sha256:{}", "0".repeat(64))),
            Just("application/vnd.oci.image.index.v1+json".to_string()),
            Just("../../../etc/passwd".to_string()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An OCI archive whose documents are built from (possibly mutated) JSON values, each stored
/// under its true digest.
fn oci_archive(index: impl Fn(&str, usize) -> Value, manifest: Value, config: Value) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len());
        b.append_data(&mut h, name, data).expect("append");
    };
    let config = serde_json::to_vec(&config).expect("json");
    add(&format!("blobs/sha256/{}", &sha(&config)[7..]), &config);
    let layer = {
        let mut l = tar::Builder::new(Vec::new());
        l.append_data(
            &mut header(tar::EntryType::Regular, 0o644, 2),
            "f",
            &b"hi"[..],
        )
        .expect("layer");
        l.into_inner().expect("layer")
    };
    add(&format!("blobs/sha256/{}", &sha(&layer)[7..]), &layer);
    let manifest = serde_json::to_vec(&manifest).expect("json");
    add(&format!("blobs/sha256/{}", &sha(&manifest)[7..]), &manifest);
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = serde_json::to_vec(&index(&sha(&manifest), manifest.len())).expect("json");
    add("index.json", &index);
    b.into_inner().expect("tar")
}

fn valid_documents() -> (Value, Value) {
    let layer = {
        let mut l = tar::Builder::new(Vec::new());
        l.append_data(
            &mut header(tar::EntryType::Regular, 0o644, 2),
            "f",
            &b"hi"[..],
        )
        .expect("layer");
        l.into_inner().expect("layer")
    };
    let config = json!({
        "architecture": Platform::host().architecture, "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(&config_bytes), "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(&layer), "size": layer.len()}]
    });
    (manifest, config)
}

proptest! {
    #![proptest_config(cases(150))]

    /// An import of a mutated archive either succeeds with an image that can be inspected, or
    /// fails and leaves the store as it was: no image, no layer, no staging dir.
    #[test]
    fn oci_import_survives_mutated_documents(
        which in 0..3usize,
        picks in proptest::collection::vec(any::<usize>(), 0..5),
        with in json_value(),
    ) {
        let (mut manifest, mut config) = valid_documents();
        let mut index_picks = None;
        match which {
            0 => mutate_json(&mut manifest, &picks, with),
            1 => mutate_json(&mut config, &picks, with),
            _ => index_picks = Some((picks, with)),
        }
        let index = |digest: &str, size: usize| {
            let mut v = json!({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest, "size": size,
                "platform": {"os": "linux", "architecture": Platform::host().architecture}}]});
            if let Some((p, w)) = &index_picks {
                mutate_json(&mut v, p, w.clone());
            }
            v
        };
        let archive = oci_archive(index, manifest, config);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("image.tar");
        std::fs::write(&path, &archive).expect("write");
        let store = Store::open(dir.path().join("store")).expect("store");
        match store.import(&path, "fuzz:1", None) {
            Ok(_) => {
                prop_assert!(store.inspect("fuzz:1").is_ok());
            }
            Err(_) => {
                prop_assert!(store.list().expect("list").is_empty());
                for sub in ["tmp", "layers", "blobs/sha256"] {
                    let left = names(&dir.path().join("store").join(sub));
                    prop_assert!(left.is_empty(), "left in {}: {:?}", sub, left);
                }
            }
        }
    }
}
