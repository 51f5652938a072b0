//! Store, import and container-root tests on real files (and real overlay mounts as root).

use berth_image::{OverlayOptions, Store, StoreError};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// Container roots as a `-d` container gets them: durable, read-write or read-only.
const RW: OverlayOptions = OverlayOptions {
    readonly: false,
    volatile: false,
};
const RO: OverlayOptions = OverlayOptions {
    readonly: true,
    volatile: false,
};

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A layer tar of (path, contents) files; a path ending in '/' is a directory, `.wh.` names are
/// whiteouts.
fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, data.as_bytes())
            .expect("append");
    }
    b.into_inner().expect("tar")
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

fn config_json(diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {
            "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["PATH=/bin", "A=b"],
            "WorkingDir": "/work", "User": "1000:1000", "ExposedPorts": {"80/tcp": {}},
            "Labels": {"org.example": "yes"}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .expect("json")
}

/// A tar of an OCI layout with one image of `layers` (stored gzip-compressed), optionally with
/// a deliberately wrong diff-id for the last layer.
fn oci_archive(layers: &[Vec<u8>], corrupt_diff_id: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).expect("append");
    };
    let mut diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    if corrupt_diff_id {
        let last = diff_ids.len() - 1;
        diff_ids[last] = sha(b"not this layer");
    }
    let mut descs = Vec::new();
    for l in layers {
        let gz = gzip(l);
        add(&mut b, &format!("blobs/sha256/{}", &sha(&gz)[7..]), &gz);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(&gz), "size": gz.len()}));
    }
    let config = config_json(&diff_ids);
    add(
        &mut b,
        &format!("blobs/sha256/{}", &sha(&config)[7..]),
        &config,
    );
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": descs
    }))
    .expect("json");
    add(
        &mut b,
        &format!("blobs/sha256/{}", &sha(&manifest)[7..]),
        &manifest,
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest), "size": manifest.len()}]
    }))
    .expect("json");
    add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add(&mut b, "index.json", &index);
    b.into_inner().expect("tar")
}

/// A `docker save` archive (pre-25 layout, with a duplicate layer stored as a symlink).
fn docker_archive(layers: &[Vec<u8>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = config_json(&diff_ids);
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let p = format!("l{i}/layer.tar");
        if i > 0 && layers[i] == layers[0] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &p, "../l0/layer.tar").expect("link");
        } else {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(l.len() as u64);
            b.append_data(&mut h, &p, &l[..]).expect("layer");
        }
        paths.push(p);
    }
    let cfg_name = format!("{}.json", &sha(&config)[7..]);
    let manifest = serde_json::to_vec(
        &serde_json::json!([{"Config": cfg_name, "RepoTags": ["saved:v1"], "Layers": paths}]),
    )
    .expect("json");
    for (name, data) in [
        (cfg_name.as_str(), &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).expect("append");
    }
    b.into_inner().expect("tar")
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn skip() -> bool {
    if !is_root() {
        berth_common::note_skipped!(
            "needs root (layer ownership, whiteout devices, overlay mounts)"
        );
        return true;
    }
    false
}

#[test]
fn import_rootfs_tar_gzip_and_directory() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let tar = layer(&[
        ("bin/", ""),
        ("bin/hello", "hi"),
        ("etc/", ""),
        ("etc/os-release", "x"),
    ]);
    let tar_path = tmp.path().join("rootfs.tar.gz");
    std::fs::write(&tar_path, gzip(&tar)).expect("write");
    let d = store
        .import(&tar_path, "exported:v1", None)
        .expect("import tar");
    assert_eq!(d.record.name, "docker.io/library/exported:v1");
    assert_eq!(
        d.record.layers,
        vec![sha(&tar)],
        "diff-id is the digest of the uncompressed tar"
    );
    assert_eq!(
        std::fs::read(d.layer_dirs[0].join("bin/hello")).expect("read"),
        b"hi"
    );
    let env = d
        .config
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .expect("default env");
    assert!(env[0].starts_with("PATH="));

    let dir = tmp.path().join("images-alpine");
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
    std::fs::write(dir.join("etc/hostname"), "course").expect("write");
    std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).expect("symlink");
    let d = store.import(&dir, "alpine", None).expect("import dir");
    assert_eq!(d.record.name, "docker.io/library/alpine:latest");
    assert_eq!(
        std::fs::read(d.layer_dirs[0].join("etc/hostname")).expect("read"),
        b"course"
    );
    assert_eq!(
        std::fs::read_link(d.layer_dirs[0].join("link")).expect("link"),
        Path::new("/etc/hostname")
    );
    let names: Vec<String> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["alpine:latest", "exported:v1"]);
    assert_eq!(
        count(&store.root().join("tmp")),
        0,
        "staging cleaned after import"
    );
}

#[test]
fn import_oci_archive_keeps_config_and_whiteouts() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let l1 = layer(&[("a/", ""), ("a/keep", "1"), ("b", "gone later")]);
    let l2 = layer(&[(".wh.b", ""), ("a/new", "2")]);
    let p = tmp.path().join("oci.tar");
    std::fs::write(&p, oci_archive(&[l1.clone(), l2.clone()], false)).expect("write");
    assert_eq!(
        berth_image::ImportSource::detect(&p).expect("detect"),
        berth_image::ImportSource::OciArchive(p.clone())
    );
    let d = store
        .import(&p, "localhost:5000/app:1.0", None)
        .expect("import");
    assert_eq!(d.record.layers, vec![sha(&l1), sha(&l2)]);
    let c = d.config.config().clone().expect("config");
    assert_eq!(
        c.entrypoint().as_deref(),
        Some(&["/bin/sh".to_string(), "-c".to_string()][..])
    );
    assert_eq!(c.cmd().as_deref(), Some(&["echo hi".to_string()][..]));
    assert_eq!(c.working_dir().as_deref(), Some("/work"));
    assert_eq!(c.user().as_deref(), Some("1000:1000"));
    assert_eq!(
        c.exposed_ports().as_deref(),
        Some(&["80/tcp".to_string()][..])
    );
    assert_eq!(
        c.labels()
            .as_ref()
            .and_then(|l| l.get("org.example"))
            .map(String::as_str),
        Some("yes")
    );
    use std::os::unix::fs::FileTypeExt;
    let wh = std::fs::symlink_metadata(d.layer_dirs[1].join("b")).expect("whiteout");
    assert!(wh.file_type().is_char_device());
    // The manifest kept is the archive's own, byte for byte.
    let m = store
        .read_blob(&d.record.manifest_digest)
        .expect("manifest");
    assert_eq!(sha(&m), d.record.manifest_digest);
}

#[test]
fn import_docker_save_archive() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let l1 = layer(&[("etc/", ""), ("etc/a", "1")]);
    let l2 = layer(&[("etc/b", "2")]);
    let p = tmp.path().join("saved.tar");
    std::fs::write(&p, docker_archive(&[l1.clone(), l2.clone(), l1.clone()])).expect("write");
    assert_eq!(
        berth_image::ImportSource::detect(&p).expect("detect"),
        berth_image::ImportSource::DockerArchive(p.clone())
    );
    let d = store.import(&p, "saved:v1", None).expect("import");
    assert_eq!(d.record.layers, vec![sha(&l1), sha(&l2), sha(&l1)]);
    assert_eq!(
        count(&store.root().join("layers")),
        2,
        "a layer repeated in an image is stored once"
    );
}

#[test]
fn failed_import_leaves_nothing() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let p = tmp.path().join("bad.tar");
    std::fs::write(
        &p,
        oci_archive(&[layer(&[("x", "1")]), layer(&[("y", "2")])], true),
    )
    .expect("write");
    let err = store
        .import(&p, "bad", None)
        .expect_err("wrong diff-id must fail");
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    // A hostile rootfs fails the same way.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().expect("gnu").name[..9].copy_from_slice(b"../escape");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"x"[..]).expect("append");
    let hostile = tmp.path().join("hostile.tar");
    std::fs::write(&hostile, b.into_inner().expect("tar")).expect("write");
    let err = store
        .import(&hostile, "bad", None)
        .expect_err("hostile tar must fail");
    assert!(err.to_string().contains("../escape"), "{err}");
    assert!(store.list().expect("list").is_empty());
    for sub in ["tmp", "layers", "blobs/sha256", "l"] {
        assert_eq!(
            count(&store.root().join(sub)),
            0,
            "{sub} must be empty after failed imports"
        );
    }
    assert!(!tmp.path().join("escape").exists());
}

#[test]
fn oversized_document_in_an_archive_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    // An index.json of 9 MiB (a gzip bomb makes such a member from a few KB).
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", vec![b' '; 9 << 20]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).expect("append");
    }
    let p = tmp.path().join("big-index.tar.gz");
    std::fs::write(&p, gzip(&b.into_inner().expect("tar"))).expect("write");
    let err = store
        .import(&p, "big", None)
        .expect_err("a 9 MiB index must be refused");
    assert!(
        err.to_string().contains("\"index.json\" is larger than"),
        "{err}"
    );
    assert!(store.list().expect("list").is_empty());
    assert_eq!(count(&store.root().join("tmp")), 0);
}

#[test]
fn shared_layers_remove_and_prune() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let base = layer(&[("base", "b")]);
    let p1 = tmp.path().join("one.tar");
    let p2 = tmp.path().join("two.tar");
    std::fs::write(
        &p1,
        oci_archive(&[base.clone(), layer(&[("one", "1")])], false),
    )
    .expect("write");
    std::fs::write(
        &p2,
        oci_archive(&[base.clone(), layer(&[("two", "2")])], false),
    )
    .expect("write");
    let one = store.import(&p1, "one", None).expect("one");
    let two = store.import(&p2, "two", None).expect("two");
    assert_eq!(
        one.layer_dirs[0], two.layer_dirs[0],
        "the shared base layer is unpacked once"
    );
    assert_eq!(count(&store.root().join("layers")), 3);
    let du = store.disk_usage().expect("du");
    assert_eq!((du.images, du.layers, du.reclaimable_bytes), (2, 3, 0));
    let (removed, report) = store.remove("one", false).expect("rm one");
    assert_eq!(removed, vec!["docker.io/library/one:latest"]);
    assert_eq!(report.layers_removed, 1, "only one's own layer goes");
    assert!(two.layer_dirs[0].is_dir());
    // Remove by id prefix.
    let id = &two.record.config_digest[7..19];
    store.remove(id, false).expect("rm by id");
    assert!(matches!(store.inspect("two"), Err(StoreError::NotFound(_))));
    assert_eq!(count(&store.root().join("layers")), 0);
    assert_eq!(count(&store.root().join("blobs/sha256")), 0);
    assert_eq!(count(&store.root().join("l")), 0);
    // A crashed import's staging dir (no live lock holder) is pruned.
    std::fs::create_dir_all(store.root().join("tmp/1-dead/layers")).expect("mkdir");
    std::fs::write(store.root().join("tmp/1-dead/.lock"), "").expect("write");
    assert_eq!(store.prune().expect("prune").staging_removed, 1);
}

#[test]
fn concurrent_imports_of_the_same_image() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let p = tmp.path().join("img.tar");
    std::fs::write(
        &p,
        oci_archive(&[layer(&[("f", "1")]), layer(&[("g", "2")])], false),
    )
    .expect("write");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            let p = p.clone();
            std::thread::spawn(move || {
                store
                    .import(&p, &format!("img:{i}"), None)
                    .map(|d| d.record.config_digest)
            })
        })
        .collect();
    let ids: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().expect("join").expect("import"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(store.list().expect("list").len(), 4);
    assert_eq!(count(&store.root().join("layers")), 2);
    assert_eq!(count(&store.root().join("tmp")), 0);
}

fn mounted_under(dir: &Path) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let d = dir.to_string_lossy().into_owned();
    mi.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|mp| mp.starts_with(&d)))
}

/// The super options of the overlay mounted at `merged`, from /proc/self/mountinfo.
fn overlay_options(merged: &Path) -> String {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let m = merged.to_string_lossy().into_owned();
    let line = mi
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(m.as_str()))
        .unwrap_or_else(|| panic!("{m} not mounted"));
    line.rsplit(' ').next().unwrap_or_default().to_string()
}

/// A root for a container removed at exit is mounted `volatile` (no sync at unmount); a
/// durable one is not. Both take writes and are removed without a trace.
#[test]
fn transient_roots_are_volatile_and_durable_ones_are_not() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let p = tmp.path().join("img.tar");
    std::fs::write(
        &p,
        oci_archive(&[layer(&[("etc/", ""), ("etc/base", "1")])], false),
    )
    .expect("write");
    store.import(&p, "img", None).expect("import");
    let transient = OverlayOptions {
        readonly: false,
        volatile: true,
    };
    let t = store
        .create_container_root("img", "ctr-t", transient)
        .expect("transient root");
    let d = store
        .create_container_root("img", "ctr-d", RW)
        .expect("durable root");
    let (t_opts, d_opts) = (overlay_options(&t.rootfs), overlay_options(&d.rootfs));
    let wrote = std::fs::write(t.rootfs.join("etc/new"), "t");
    // Removed before any assertion, so a failing test leaves no mount behind.
    for id in ["ctr-t", "ctr-d"] {
        store.remove_container_root(id).expect("remove");
        assert!(!tmp.path().join("store/containers").join(id).exists());
    }
    assert!(!mounted_under(tmp.path()));
    wrote.expect("write in the transient root");
    // Newer kernels show `volatile` as `fsync=volatile` (this VM: 6.18).
    let volatile = |o: &str| o == "volatile" || o == "fsync=volatile";
    assert!(t_opts.split(',').any(volatile), "{t_opts}");
    assert!(!d_opts.split(',').any(volatile), "{d_opts}");
}

#[test]
fn container_roots_are_isolated_and_cleaned_up() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let p = tmp.path().join("img.tar");
    let l1 = layer(&[("etc/", ""), ("etc/base", "1"), ("gone", "x")]);
    let l2 = layer(&[(".wh.gone", ""), ("etc/top", "2")]);
    std::fs::write(&p, oci_archive(&[l1, l2], false)).expect("write");
    let img = store.import(&p, "img", None).expect("import");
    let a = store
        .create_container_root("img", "ctr-a", RW)
        .expect("root a");
    let b = store
        .create_container_root("img", "ctr-b", RW)
        .expect("root b");
    assert_eq!(
        std::fs::read(a.rootfs.join("etc/base")).expect("lower visible"),
        b"1"
    );
    assert_eq!(
        std::fs::read(a.rootfs.join("etc/top")).expect("upper layer visible"),
        b"2"
    );
    assert!(
        !a.rootfs.join("gone").exists(),
        "whiteout hides the lower file"
    );
    std::fs::write(a.rootfs.join("foo.txt"), "foo").expect("write in a");
    std::fs::write(a.rootfs.join("etc/base"), "changed").expect("copy-up in a");
    assert!(
        !b.rootfs.join("foo.txt").exists(),
        "not visible in another container"
    );
    assert_eq!(std::fs::read(b.rootfs.join("etc/base")).expect("b"), b"1");
    assert!(
        !img.layer_dirs.iter().any(|l| l.join("foo.txt").exists()),
        "not in the image layers"
    );
    assert_eq!(
        std::fs::read(img.layer_dirs[0].join("etc/base")).expect("layer"),
        b"1"
    );
    assert_eq!(
        a.config
            .config()
            .as_ref()
            .and_then(|c| c.working_dir().clone())
            .as_deref(),
        Some("/work")
    );
    // In use: rm refuses, force removes the name but the container keeps its layers.
    assert!(matches!(
        store.remove("img", false),
        Err(StoreError::InUse { .. })
    ));
    store.remove("img", true).expect("force rm");
    assert_eq!(
        std::fs::read(a.rootfs.join("etc/base")).expect("still mounted"),
        b"changed"
    );
    assert_eq!(
        store.prune().expect("prune").layers_removed,
        0,
        "layers pinned by containers"
    );
    assert!(matches!(
        store.create_container_root("img", "ctr-c", RW),
        Err(StoreError::NotFound(_))
    ));
    store.remove_container_root("ctr-a").expect("rm a");
    store.remove_container_root("ctr-b").expect("rm b");
    store.remove_container_root("ctr-b").expect("idempotent");
    assert!(!mounted_under(store.root()), "nothing left mounted");
    assert_eq!(count(&store.root().join("containers")), 0);
    assert_eq!(store.prune().expect("prune").layers_removed, 2);
}

#[test]
fn readonly_container_root() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path().join("store")).expect("open");
    let p = tmp.path().join("img.tar");
    std::fs::write(&p, layer(&[("f", "1")])).expect("write");
    store.import(&p, "ro", None).expect("import");
    let r = store.create_container_root("ro", "ro-1", RO).expect("root");
    let err = std::fs::write(r.rootfs.join("new"), "x").expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(30), "EROFS");
    assert!(matches!(
        store.create_container_root("ro", "ro-1", RW),
        Err(StoreError::ContainerExists(_))
    ));
    store.remove_container_root("ro-1").expect("rm");
    assert!(!mounted_under(store.root()));
}

#[test]
fn overlay_with_many_layers() {
    if skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // Long paths: 200 of them would overflow a page in one lowerdir= string.
    let base = tmp
        .path()
        .join("a-rather-long-directory-name-to-make-the-option-string-overflow");
    let layers: Vec<_> = (0..200)
        .map(|i| {
            let d = base.join(format!("layer-{i:04}"));
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join(format!("f{i}")), i.to_string()).expect("write");
            std::fs::write(d.join("top"), i.to_string()).expect("write");
            d
        })
        .collect();
    let ctr = tmp.path().join("ctr");
    match berth_image::mount_overlay(&layers, &ctr, RW) {
        Ok(merged) => {
            assert_eq!(
                std::fs::read_to_string(merged.join("f0")).expect("lowest"),
                "0"
            );
            assert_eq!(
                std::fs::read_to_string(merged.join("top")).expect("top"),
                "199",
                "last layer is topmost"
            );
        }
        Err(berth_image::OverlayError::TooManyLayers { .. }) => {
            eprintln!(
                "overlay_with_many_layers: kernel lacks lowerdir+, got the clear error instead"
            );
        }
        Err(e) => panic!("mount: {e}"),
    }
    berth_image::unmount_overlay(&ctr).expect("unmount");
    assert!(!ctr.exists());
    assert!(!mounted_under(tmp.path()));
}

#[test]
fn import_oci_layout_directory_made_by_umoci() {
    if skip() {
        return;
    }
    for (bin, pkg) in [
        ("/usr/bin/umoci", "umoci"),
        ("/bin/busybox", "busybox-static"),
    ] {
        if !Path::new(bin).exists() {
            berth_common::skip!("{bin} missing: apt-get install {pkg}");
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = tmp.path().join("layout");
    let bundle = tmp.path().join("bundle");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("umoci")
            .args(args)
            .output()
            .expect("run umoci");
        assert!(
            out.status.success(),
            "umoci {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let l = layout.to_str().expect("utf8");
    let b = bundle.to_str().expect("utf8");
    run(&["init", "--layout", l]);
    run(&["new", "--image", &format!("{l}:latest")]);
    run(&["unpack", "--image", &format!("{l}:latest"), b]);
    std::fs::create_dir_all(bundle.join("rootfs/bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", bundle.join("rootfs/bin/busybox")).expect("copy");
    std::os::unix::fs::symlink("busybox", bundle.join("rootfs/bin/sh")).expect("symlink");
    run(&["repack", "--image", &format!("{l}:latest"), b]);
    // A second layer deleting the shell: a whiteout made by a real tool.
    std::fs::remove_file(bundle.join("rootfs/bin/sh")).expect("rm");
    run(&["repack", "--image", &format!("{l}:latest"), b]);

    // Last: repack starts from the config the bundle was unpacked from.
    run(&[
        "config",
        "--image",
        &format!("{l}:latest"),
        "--config.cmd",
        "/bin/sh",
        "--config.workingdir",
        "/tmp",
    ]);
    let store = Store::open(tmp.path().join("store")).expect("open");
    assert_eq!(
        berth_image::ImportSource::detect(&layout).expect("detect"),
        berth_image::ImportSource::OciLayout(layout.clone())
    );
    let d = store
        .import(&layout, "umoci-made", None)
        .expect("import layout dir");
    let c = d.config.config().clone().expect("config");
    assert_eq!(c.cmd().as_deref(), Some(&["/bin/sh".to_string()][..]));
    assert_eq!(c.working_dir().as_deref(), Some("/tmp"));
    let root = store
        .create_container_root("umoci-made", "umoci-1", RW)
        .expect("root");
    assert_eq!(
        std::fs::read(root.rootfs.join("bin/busybox")).expect("busybox"),
        std::fs::read("/bin/busybox").expect("busybox")
    );
    assert!(
        std::fs::symlink_metadata(root.rootfs.join("bin/sh")).is_err(),
        "whiteout from umoci's second layer"
    );
    store.remove_container_root("umoci-1").expect("cleanup");
}
