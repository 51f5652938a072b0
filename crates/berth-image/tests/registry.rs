//! Pull tests against a real registry: Debian's docker-registry on 127.0.0.1, images pushed with
//! skopeo from OCI layouts built here (busybox-static as the payload). A small in-test proxy
//! adds a Bearer token challenge in front of it and can cut a transfer in half.

use berth_image::{OverlayOptions, Platform, ProgressMode, PullOptions, Store};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A read-write container root as a `-d` container gets it.
const RW: OverlayOptions = OverlayOptions {
    readonly: false,
    volatile: false,
};

fn sha(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

/// Why the test cannot run here, if it cannot.
fn missing_prereq() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root (layer ownership, whiteout devices)".into());
    }
    for (bin, pkg) in [
        ("/usr/bin/docker-registry", "docker-registry"),
        ("/usr/bin/skopeo", "skopeo"),
        ("/bin/busybox", "busybox-static"),
    ] {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} missing: apt-get install {pkg}"));
        }
    }
    None
}

struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts docker-registry with filesystem storage in a tempdir, optionally behind htpasswd.
    fn start(htpasswd: Option<(&str, &str)>) -> Result<Registry, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut auth = String::new();
        if let Some((user, pass)) = htpasswd {
            if !Path::new("/usr/bin/htpasswd").exists() {
                return Err("/usr/bin/htpasswd missing: apt-get install apache2-utils".into());
            }
            let file = dir.path().join("htpasswd");
            let ok = Command::new("htpasswd")
                .args(["-Bbc", file.to_str().ok_or("path")?, user, pass])
                .stderr(Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            if !ok.success() {
                return Err("htpasswd failed".into());
            }
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            );
        }
        let (child, port) = berth_common::test_server::docker_registry(dir.path(), &auth)?;
        Ok(Registry {
            child,
            port,
            _dir: dir,
        })
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Files of a layer: (path, contents, mode); a path ending in '/' is a directory.
type Files<'a> = &'a [(&'a str, Vec<u8>, u32)];

fn layer_tar(files: Files<'_>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(if path.ends_with('/') {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(*mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, &data[..]).expect("append");
    }
    b.into_inner().expect("tar")
}

#[derive(Clone, Copy)]
enum Comp {
    Plain,
    Gzip,
    Zstd,
}

fn compress(tar: &[u8], c: Comp) -> (Vec<u8>, &'static str) {
    match c {
        Comp::Plain => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).expect("gzip");
            (
                e.finish().expect("gzip"),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Comp::Zstd => (
            zstd::encode_all(tar, 1).expect("zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    }
}

/// Writes an OCI layout directory: one manifest per (platform, layers), in one index if more
/// than one. Returns the diff-ids of each image.
/// (os/arch, layers as (uncompressed tar, compression to store it with)).
type ImageSpec<'a> = (&'a str, Vec<(Vec<u8>, Comp)>);

fn write_layout(dir: &Path, images: &[ImageSpec<'_>]) -> Vec<Vec<String>> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |b: &[u8]| {
        let d = sha(b);
        std::fs::write(blobs.join(&d[7..]), b).expect("blob");
        d
    };
    let mut manifests = Vec::new();
    let mut all_diff_ids = Vec::new();
    for (platform, layers) in images {
        let (os, arch) = platform.split_once('/').expect("os/arch");
        let diff_ids: Vec<String> = layers.iter().map(|(t, _)| sha(t)).collect();
        let descs: Vec<_> = layers
            .iter()
            .map(|(t, c)| {
                let (blob, mt) = compress(t, *c);
                serde_json::json!({"mediaType": mt, "digest": put(&blob), "size": blob.len()})
            })
            .collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": os, "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/", "Labels": {"platform": platform}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}
        }))
        .expect("json");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(&config), "size": config.len()},
            "layers": descs
        }))
        .expect("json");
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(&manifest), "size": manifest.len(),
            "platform": {"os": os, "architecture": arch}
        }));
        all_diff_ids.push(diff_ids);
    }
    let top = if manifests.len() == 1 {
        let mut m = manifests[0].clone();
        m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
        m
    } else {
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests
        }))
        .expect("json");
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(&index), "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}})
    };
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]}))
            .expect("json"),
    )
    .expect("write");
    all_diff_ids
}

fn skopeo_push(layout: &Path, dest: &str, creds: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--all", "--dest-tls-verify=false", "--quiet"]);
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    let out = cmd
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .map_err(|e| format!("run skopeo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Pushes a single-manifest OCI layout byte for byte over the distribution API (skopeo would
/// recompress uncompressed layers on the way).
fn raw_push(layout: &Path, host: &str, repo: &str, tag: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(true)
        .build()
        .into();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(&d[7..])).expect("blob");
    let manifest: serde_json::Value = serde_json::from_slice(&blob(&mdigest)).expect("manifest");
    let mut digests = vec![manifest["config"]["digest"]
        .as_str()
        .expect("config")
        .to_string()];
    for l in manifest["layers"].as_array().expect("layers") {
        digests.push(l["digest"].as_str().expect("digest").to_string());
    }
    for d in digests {
        let resp = agent
            .post(&format!("http://{host}/v2/{repo}/blobs/uploads/"))
            .send_empty()
            .expect("start upload");
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location")
            .to_string();
        let url = if loc.starts_with("http") {
            loc
        } else {
            format!("http://{host}{loc}")
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        agent
            .put(&format!("{url}{sep}digest={d}"))
            .header("Content-Type", "application/octet-stream")
            .send(&blob(&d)[..])
            .expect("upload blob");
    }
    agent
        .put(&format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(&blob(&mdigest)[..])
        .expect("put manifest");
}

fn busybox() -> Vec<u8> {
    std::fs::read("/bin/busybox").expect("busybox")
}

fn opts(auth_file: Option<PathBuf>) -> PullOptions {
    PullOptions {
        insecure: true,
        auth_file,
        progress: ProgressMode::Lines,
        ..Default::default()
    }
}

#[test]
fn pull_layers_with_whiteouts_in_three_compressions() {
    if let Some(why) = missing_prereq() {
        berth_common::skip!("{why}");
    }
    let reg = Registry::start(None).expect("registry");
    let tmp = tempfile::tempdir().expect("tempdir");
    let l1 = layer_tar(&[
        ("bin/", vec![], 0o755),
        ("bin/busybox", busybox(), 0o755),
        ("etc/", vec![], 0o755),
        ("etc/old", b"old".to_vec(), 0o644),
        ("opt/", vec![], 0o755),
        ("opt/x", b"x".to_vec(), 0o644),
    ]);
    let l2 = layer_tar(&[
        ("etc/.wh.old", vec![], 0o644),
        ("etc/new", b"new".to_vec(), 0o644),
    ]);
    let l3 = layer_tar(&[
        ("opt/.wh..wh..opq", vec![], 0o644),
        ("opt/y", b"y".to_vec(), 0o644),
    ]);
    let layout = tmp.path().join("layout");
    let ids = write_layout(
        &layout,
        &[(
            "linux/amd64",
            vec![(l1, Comp::Gzip), (l2, Comp::Zstd), (l3, Comp::Plain)],
        )],
    );
    raw_push(&layout, &reg.host(), "test/layers", "v1");

    let store = Store::open(tmp.path().join("store")).expect("store");
    let d = store
        .pull(&format!("{}/test/layers:v1", reg.host()), &opts(None))
        .expect("pull");
    assert_eq!(d.record.layers, ids[0]);
    assert_eq!(
        std::fs::read(d.layer_dirs[0].join("bin/busybox")).expect("busybox"),
        busybox()
    );
    assert!(std::fs::symlink_metadata(d.layer_dirs[1].join("etc/old"))
        .expect("whiteout")
        .file_type()
        .is_char_device());
    let mut buf = [0u8; 2];
    let n = rustix::fs::getxattr(
        d.layer_dirs[2].join("opt"),
        "trusted.overlay.opaque",
        &mut buf[..],
    )
    .expect("opaque");
    assert_eq!(&buf[..n], b"y");
    // Through an overlay the whiteouts hide what they should.
    let root = store
        .create_container_root(&d.record.name, "pull-test", RW)
        .expect("root");
    assert!(!root.rootfs.join("etc/old").exists());
    assert!(root.rootfs.join("etc/new").exists());
    assert!(!root.rootfs.join("opt/x").exists() && root.rootfs.join("opt/y").exists());
    store.remove_container_root("pull-test").expect("cleanup");
    // A second pull of the same image finds every layer present.
    let again = store
        .pull(&format!("{}/test/layers:v1", reg.host()), &opts(None))
        .expect("pull again");
    let mut expected = d.record.clone();
    expected.added = again.record.added;
    assert_eq!(again.record, expected);
}

#[test]
fn pull_selects_platform_from_multi_arch_index() {
    if let Some(why) = missing_prereq() {
        berth_common::skip!("{why}");
    }
    let reg = Registry::start(None).expect("registry");
    let tmp = tempfile::tempdir().expect("tempdir");
    let amd = layer_tar(&[("arch", b"amd64".to_vec(), 0o644)]);
    let arm = layer_tar(&[("arch", b"arm64".to_vec(), 0o644)]);
    let layout = tmp.path().join("layout");
    write_layout(
        &layout,
        &[
            ("linux/arm64", vec![(arm, Comp::Gzip)]),
            ("linux/amd64", vec![(amd, Comp::Gzip)]),
        ],
    );
    let name = format!("{}/test/multi:latest", reg.host());
    skopeo_push(&layout, &name, None).expect("push");
    let store = Store::open(tmp.path().join("store")).expect("store");
    let mut o = opts(None);
    o.platform = Some(Platform::parse("linux/amd64").expect("platform"));
    let d = store.pull(&name, &o).expect("pull amd64");
    assert_eq!(
        std::fs::read(d.layer_dirs[0].join("arch")).expect("arch"),
        b"amd64"
    );
    o.platform = Some(Platform::parse("linux/arm64").expect("platform"));
    let d = store.pull(&name, &o).expect("pull arm64");
    assert_eq!(
        std::fs::read(d.layer_dirs[0].join("arch")).expect("arch"),
        b"arm64"
    );
    assert_eq!(
        store.list().expect("ls").len(),
        1,
        "the name now points at the arm64 image"
    );
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .expect("layers")
            .count(),
        1,
        "replaced image's layer collected"
    );
    o.platform = Some(Platform::parse("linux/s390x").expect("platform"));
    let err = store.pull(&name, &o).expect_err("no such platform");
    assert!(err.to_string().contains("linux/s390x"), "{err}");
}

#[test]
fn pull_with_basic_auth_from_auth_file() {
    if let Some(why) = missing_prereq() {
        berth_common::skip!("{why}");
    }
    let reg = match Registry::start(Some(("berth", "s3cret"))) {
        Ok(r) => r,
        Err(why) => {
            berth_common::skip!("{why}");
        }
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = tmp.path().join("layout");
    write_layout(
        &layout,
        &[(
            "linux/amd64",
            vec![(layer_tar(&[("secret", b"ok".to_vec(), 0o600)]), Comp::Gzip)],
        )],
    );
    let name = format!("{}/private/img:1", reg.host());
    skopeo_push(&layout, &name, Some("berth:s3cret")).expect("push");
    let store = Store::open(tmp.path().join("store")).expect("store");

    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, r#"{"auths":{}}"#).expect("write");
    let err = store
        .pull(&name, &opts(Some(empty)))
        .expect_err("anonymous must fail");
    assert!(err.to_string().contains("no credentials"), "{err}");

    let wrong = tmp.path().join("wrong.json");
    std::fs::write(
        &wrong,
        format!(
            r#"{{"auths":{{"{}":{{"username":"berth","password":"nope"}}}}}}"#,
            reg.host()
        ),
    )
    .expect("write");
    assert!(
        store.pull(&name, &opts(Some(wrong))).is_err(),
        "wrong password must fail"
    );

    // Docker's config.json format, found through $REGISTRY_AUTH_FILE-style explicit file.
    use base64::Engine as _;
    let auth = tmp.path().join("config.json");
    let b64 = base64::engine::general_purpose::STANDARD.encode("berth:s3cret");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"{b64}"}}}}}}"#,
            reg.host()
        ),
    )
    .expect("write");
    let d = store
        .pull(&name, &opts(Some(auth)))
        .expect("pull with basic auth");
    assert_eq!(
        std::fs::read(d.layer_dirs[0].join("secret")).expect("file"),
        b"ok"
    );
    assert_eq!(store.list().expect("ls").len(), 1);
    assert_eq!(
        std::fs::read_dir(store.root().join("tmp"))
            .expect("tmp")
            .count(),
        0,
        "failed pulls left no staging"
    );
}

/// A proxy in front of the registry that demands a Bearer token (issued by its own /token
/// endpoint for Basic credentials, as Docker Hub's auth.docker.io does) and cuts the first
/// response of any blob larger than 1 MiB in half.
struct Proxy {
    port: u16,
    token_requests: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
    ranged: Arc<AtomicUsize>,
}

fn read_head(stream: &mut BufReader<TcpStream>) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    stream.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        stream.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Some((line.trim_end().to_string(), headers))
}

impl Proxy {
    fn start(upstream: u16, corrupt_big: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let token_requests = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let ranged = Arc::new(AtomicUsize::new(0));
        let (tr, cu, ra) = (token_requests.clone(), cuts.clone(), ranged.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (tr, cu, ra) = (tr.clone(), cu.clone(), ra.clone());
                std::thread::spawn(move || {
                    Proxy::serve(conn, port, upstream, corrupt_big, &tr, &cu, &ra)
                });
            }
        });
        Proxy {
            port,
            token_requests,
            cuts,
            ranged,
        }
    }

    fn serve(
        conn: TcpStream,
        port: u16,
        upstream: u16,
        corrupt_big: bool,
        tokens: &AtomicUsize,
        cuts: &AtomicUsize,
        ranged: &AtomicUsize,
    ) {
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut out = conn;
        let Some((line, headers)) = read_head(&mut reader) else {
            return;
        };
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        if path.starts_with("/token") {
            tokens.fetch_add(1, Ordering::SeqCst);
            use base64::Engine as _;
            let good = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("hub:pw")
            );
            let scope_ok = path.contains("scope=repository%3Atest%2Fhub%3Apull")
                || path.contains("scope=repository:test/hub:pull");
            let (status, body) = if header("authorization") == Some(good)
                && scope_ok
                && path.contains("service=proxy")
            {
                ("200 OK", r#"{"token":"tok-123"}"#)
            } else {
                (
                    "401 Unauthorized",
                    r#"{"details":"bad credentials or scope"}"#,
                )
            };
            let _ = write!(out, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            return;
        }
        if header("authorization").as_deref() != Some("Bearer tok-123") {
            let _ = write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"proxy\",scope=\"repository:test/hub:pull\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        let mut req = format!("{line}\r\n");
        for (k, v) in &headers {
            if k != "connection" && k != "authorization" {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        req.push_str("connection: close\r\n\r\n");
        if up.write_all(req.as_bytes()).is_err() {
            return;
        }
        if path.contains("/blobs/") && header("range").is_some() {
            ranged.fetch_add(1, Ordering::SeqCst);
        }
        let mut resp = Vec::new();
        let _ = up.read_to_end(&mut resp);
        let is_blob = path.contains("/blobs/") && header("range").is_none() && resp.len() > 1 << 20;
        if corrupt_big && path.contains("/blobs/") && resp.len() > 1 << 20 {
            // A registry serving the wrong bytes: flip the last one (tar padding, so only the
            // digest can tell).
            let last = resp.len() - 1;
            resp[last] ^= 0xff;
            let _ = out.write_all(&resp);
            return;
        }
        if is_blob && cuts.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = out.write_all(&resp[..resp.len() / 2]);
            return;
        }
        let _ = out.write_all(&resp);
    }
}

#[test]
fn pull_with_bearer_token_and_resume_after_broken_transfer() {
    if let Some(why) = missing_prereq() {
        berth_common::skip!("{why}");
    }
    let reg = Registry::start(None).expect("registry");
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = tmp.path().join("layout");
    // busybox uncompressed: a blob well over the proxy's 1 MiB cut threshold.
    let big = layer_tar(&[("bin/", vec![], 0o755), ("bin/busybox", busybox(), 0o755)]);
    let small = layer_tar(&[("etc/", vec![], 0o755), ("etc/motd", b"hi".to_vec(), 0o644)]);
    let ids = write_layout(
        &layout,
        &[("linux/amd64", vec![(big, Comp::Plain), (small, Comp::Zstd)])],
    );
    skopeo_push(&layout, &format!("{}/test/hub:latest", reg.host()), None).expect("push");
    let proxy = Proxy::start(reg.port, false);
    let store = Store::open(tmp.path().join("store")).expect("store");
    let name = format!("127.0.0.1:{}/test/hub", proxy.port);

    let auth = tmp.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"127.0.0.1:{}":{{"username":"hub","password":"pw"}}}}}}"#,
            proxy.port
        ),
    )
    .expect("write");
    let d = store
        .pull(&name, &opts(Some(auth)))
        .expect("pull through bearer proxy");
    assert_eq!(d.record.layers, ids[0]);
    assert_eq!(
        std::fs::read(d.layer_dirs[0].join("bin/busybox")).expect("busybox"),
        busybox()
    );
    assert!(
        proxy.token_requests.load(Ordering::SeqCst) >= 1,
        "a token was requested"
    );
    assert_eq!(
        proxy.cuts.load(Ordering::SeqCst),
        1,
        "the first transfer of the big blob was cut"
    );
    assert!(
        proxy.ranged.load(Ordering::SeqCst) >= 1,
        "the retry resumed with a Range request"
    );

    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        format!(
            r#"{{"auths":{{"127.0.0.1:{}":{{"username":"hub","password":"wrong"}}}}}}"#,
            proxy.port
        ),
    )
    .expect("write");
    let other = Store::open(tmp.path().join("other")).expect("store");
    let err = other
        .pull(&name, &opts(Some(bad)))
        .expect_err("bad token credentials");
    assert!(err.to_string().contains("401"), "{err}");
}

#[test]
fn pull_rejects_a_blob_with_the_wrong_digest() {
    if let Some(why) = missing_prereq() {
        berth_common::skip!("{why}");
    }
    let reg = Registry::start(None).expect("registry");
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = tmp.path().join("layout");
    let big = layer_tar(&[("bin/", vec![], 0o755), ("bin/busybox", busybox(), 0o755)]);
    write_layout(&layout, &[("linux/amd64", vec![(big, Comp::Plain)])]);
    raw_push(&layout, &reg.host(), "test/hub", "latest");
    let proxy = Proxy::start(reg.port, true);
    let auth = tmp.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"127.0.0.1:{}":{{"username":"hub","password":"pw"}}}}}}"#,
            proxy.port
        ),
    )
    .expect("write");
    let store = Store::open(tmp.path().join("store")).expect("store");
    let err = store
        .pull(
            &format!("127.0.0.1:{}/test/hub", proxy.port),
            &opts(Some(auth)),
        )
        .expect_err("corrupt blob");
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert!(store.list().expect("ls").is_empty());
    for sub in ["tmp", "layers", "blobs/sha256"] {
        assert_eq!(
            std::fs::read_dir(store.root().join(sub))
                .expect("ls")
                .count(),
            0,
            "{sub} left behind"
        );
    }
}
