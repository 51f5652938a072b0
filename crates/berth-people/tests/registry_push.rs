//! Images leaving and coming back, through the CLI as a user types it, against Debian's
//! docker-registry on 127.0.0.1 (no --insecure: loopback registries may speak plain HTTP):
//! push/pull with the same image ID, tag, save/load in both formats (and what skopeo writes),
//! login/logout against htpasswd, skopeo both ways, the --insecure hint, hostile archives.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[path = "../../berth/tests/common/rootfs.rs"]
mod rootfs;

mod common;
use common::BERTH;

#[path = "common/registry.rs"]
mod registry;
use registry::Registry;

macro_rules! require {
    () => {
        if let Some(why) = registry::missing() {
            berth_common::skip!("{why}");
        }
    };
}

/// A test's tempdir: image roots by name, busybox:latest imported into `a`.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-push-")
            .tempdir()
            .unwrap();
        let w = World { dir };
        let rootfs = w.path("rootfs");
        rootfs::write(&rootfs);
        std::fs::write(rootfs.join("etc/berth-mark"), "pushed\n").unwrap();
        let tar = w.path("busybox.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        w.ok(
            "a",
            &["image", "import", tar.to_str().unwrap(), "busybox:latest"],
        );
        w
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `berth` on image root `root` (and a state root beside it).
    fn cmd(&self, root: &str, args: &[&str]) -> Command {
        let mut c = Command::new(&*BERTH);
        c.arg("--root")
            .arg(self.path(&format!("state-{root}")))
            .arg("--image-root")
            .arg(self.path(&format!("images-{root}")))
            .args(args)
            .env("REGISTRY_AUTH_FILE", self.path("auth.json"))
            .stdin(Stdio::null());
        c
    }

    fn run(&self, root: &str, args: &[&str]) -> Output {
        self.cmd(root, args).output().unwrap()
    }

    fn ok(&self, root: &str, args: &[&str]) -> String {
        let out = self.run(root, args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn fails(&self, root: &str, args: &[&str]) -> String {
        let out = self.run(root, args);
        assert!(!out.status.success(), "berth {args:?} succeeded");
        let err = text(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
        err
    }

    /// The image ID (config digest) of `image` in root `root`.
    fn id(&self, root: &str, image: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(root, &["image", "inspect", image])).unwrap();
        v["record"]["config_digest"].as_str().unwrap().to_string()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn push_then_pull_gives_the_same_image_id_and_tag_names_it_again() {
    require!();
    let w = World::new();
    let reg = Registry::start(None);
    let remote = format!("{}/berth/bb:v1", reg.host());
    let id = w.id("a", "busybox:latest");
    let digest = w.ok("a", &["image", "push", "-q", "busybox:latest", &remote]);
    assert!(digest.trim().starts_with("sha256:"), "{digest}");
    // A second push finds every blob there already (HEAD) and sends the same manifest.
    assert_eq!(
        w.ok("a", &["image", "push", "-q", "busybox:latest", &remote]),
        digest
    );
    w.ok("b", &["image", "pull", "-q", &remote]);
    assert_eq!(w.id("b", &remote), id, "pull after push: the same image ID");
    let out = w.ok(
        "b",
        &[
            "run",
            "--rm",
            "--net",
            "none",
            &remote,
            "cat",
            "/etc/berth-mark",
        ],
    );
    assert_eq!(out, "pushed\n");

    // tag, then push under the new name (REMOTE defaults to the image's name).
    let tagged = format!("localhost:{}/other/bb:v2", reg.port);
    w.ok("a", &["image", "tag", "busybox:latest", &tagged]);
    assert!(w
        .ok("a", &["image", "ls", "-q"])
        .lines()
        .any(|l| l == tagged));
    assert_eq!(w.id("a", &tagged), id);
    w.ok("a", &["image", "push", "-q", &tagged]);
    w.ok("c", &["image", "pull", "-q", &tagged]);
    assert_eq!(w.id("c", &tagged), id);
    // skopeo reads what berth pushed: the same config (image ID).
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{tagged}"),
    ]);
    assert!(raw.contains(&id), "manifest names config {id}: {raw}");
}

#[test]
fn save_and_load_in_both_formats_and_what_skopeo_writes() {
    require!();
    let w = World::new();
    let id = w.id("a", "busybox:latest");
    let docker = w.path("bb-docker.tar");
    let oci = w.path("bb-oci.tar");
    w.ok(
        "a",
        &[
            "image",
            "save",
            "-o",
            docker.to_str().unwrap(),
            "busybox:latest",
        ],
    );
    w.ok(
        "a",
        &[
            "image",
            "save",
            "--format",
            "oci-archive",
            "-o",
            oci.to_str().unwrap(),
            "busybox",
        ],
    );
    // docker-archive from a file, oci-archive from stdin.
    assert_eq!(
        w.ok("b", &["image", "load", "-i", docker.to_str().unwrap()]),
        "loaded docker.io/library/busybox:latest\n"
    );
    assert_eq!(w.id("b", "busybox:latest"), id);
    let out = w
        .cmd("c", &["image", "load"])
        .stdin(std::fs::File::open(&oci).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "load < oci: {}", text(&out.stderr));
    assert_eq!(w.id("c", "busybox:latest"), id);
    assert_eq!(
        w.ok(
            "c",
            &[
                "run",
                "--rm",
                "--net",
                "none",
                "busybox",
                "cat",
                "/etc/berth-mark"
            ]
        ),
        "pushed\n"
    );
    // skopeo reads both archives as the same image...
    for src in [
        format!("docker-archive:{}", docker.display()),
        format!("oci-archive:{}", oci.display()),
    ] {
        let v: serde_json::Value =
            serde_json::from_str(&skopeo(&["inspect", "--config", &src])).unwrap();
        assert_eq!(
            v["rootfs"]["diff_ids"].as_array().map(Vec::len),
            Some(1),
            "{src}"
        );
    }
    // ...and what skopeo writes (docker save's format), berth loads.
    let theirs = w.path("skopeo-docker.tar");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}", oci.display()),
        &format!("docker-archive:{}:theirs/bb:v3", theirs.display()),
    ]);
    w.ok("d", &["image", "load", "-i", theirs.to_str().unwrap()]);
    assert_eq!(w.id("d", "theirs/bb:v3"), id);
    // Saved by its ID, an image keeps its name.
    let by_id = w.path("by-id.tar");
    let short_id = &id["sha256:".len().."sha256:".len() + 12];
    w.ok(
        "a",
        &["image", "save", "-o", by_id.to_str().unwrap(), short_id],
    );
    w.ok("e", &["image", "load", "-i", by_id.to_str().unwrap()]);
    assert_eq!(w.id("e", "busybox:latest"), id);
    // An oci-archive holds one image.
    let two = w.path("two.tar");
    let err = w.fails(
        "a",
        &[
            "image",
            "save",
            "--format",
            "oci-archive",
            "-o",
            two.to_str().unwrap(),
            "busybox",
            "busybox",
        ],
    );
    assert!(err.contains("one image"), "{err}");
    assert!(
        !two.exists() && !w.path("two.berth-partial").exists(),
        "no half archive"
    );
}

#[test]
fn login_writes_the_auth_file_and_logout_removes_the_entry() {
    require!();
    let w = World::new();
    let reg = Registry::start(Some(("alice", "s3cret")));
    let host = reg.host();
    let remote = format!("{host}/private/bb:v1");
    let err = w.fails("a", &["image", "push", "-q", "busybox", &remote]);
    assert!(err.contains("no credentials"), "{err}");
    // Wrong password: refused, nothing written.
    let err = w.fails("a", &["login", "-u", "alice", "-p", "wrong", &host]);
    assert!(err.contains("credentials rejected"), "{err}");
    assert!(!w.path("auth.json").exists());
    let mut child = w
        .cmd("a", &["login", "-u", "alice", "--password-stdin", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    // The usual format: auths.HOST.auth = base64(user:password), mode 0600.
    let file = w.path("auth.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(v["auths"][&host]["auth"], "YWxpY2U6czNjcmV0", "{v}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    w.ok("a", &["image", "push", "-q", "busybox", &remote]);
    w.ok("b", &["image", "pull", "-q", &remote]);
    // skopeo reads the same file.
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        file.to_str().unwrap(),
        &format!("docker://{remote}"),
    ]);
    w.ok("a", &["logout", &host]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(v["auths"].get(&host).is_none(), "{v}");
    let err = w.fails("a", &["logout", &host]);
    assert!(err.contains("not logged in"), "{err}");
    let err = w.fails("c", &["image", "pull", "-q", &remote]);
    assert!(err.contains("no credentials"), "{err}");
}

#[test]
fn skopeo_copies_into_the_registry_and_berth_pulls_and_runs_it() {
    require!();
    let w = World::new();
    let reg = Registry::start(None);
    let oci = w.path("bb-oci.tar");
    w.ok(
        "a",
        &[
            "image",
            "save",
            "--format",
            "oci-archive",
            "-o",
            oci.to_str().unwrap(),
            "busybox",
        ],
    );
    // gzip-compressed layers, as most registries hold them: berth keeps them unpacked and
    // pushes the uncompressed tar, still under the same image ID.
    let theirs = format!("{}/skopeo/bb:gz", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-compress",
        "--dest-compress-format=gzip",
        &format!("oci-archive:{}", oci.display()),
        &format!("docker://{theirs}"),
    ]);
    w.ok("b", &["image", "pull", "-q", &theirs]);
    let id = w.id("a", "busybox");
    assert_eq!(w.id("b", &theirs), id);
    assert_eq!(
        w.ok(
            "b",
            &[
                "run",
                "--rm",
                "--net",
                "none",
                &theirs,
                "cat",
                "/etc/berth-mark"
            ]
        ),
        "pushed\n"
    );
    let again = format!("{}/berth/bb:again", reg.host());
    w.ok("b", &["image", "push", "-q", &theirs, &again]);
    let layout = w.path("layout");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{again}"),
        &format!("oci:{}:x", layout.display()),
    ]);
    w.ok(
        "c",
        &["image", "import", layout.to_str().unwrap(), "fromskopeo:x"],
    );
    assert_eq!(w.id("c", "fromskopeo:x"), id);
}

#[test]
fn plain_http_elsewhere_asks_for_insecure() {
    require!();
    let w = World::new();
    let reg = Registry::start(None);
    w.ok(
        "a",
        &[
            "image",
            "push",
            "-q",
            "busybox",
            &format!("{}/bb:v1", reg.host()),
        ],
    );
    // The same registry, named by an address that is not in Docker's loopback rule.
    let mapped = format!("[::ffff:127.0.0.1]:{}/bb:v1", reg.port);
    let err = w.fails("b", &["image", "pull", "-q", &mapped]);
    assert!(err.contains("use --insecure"), "{err}");
    w.ok("b", &["image", "pull", "-q", "--insecure", &mapped]);
}

/// A docker-archive whose members are `files` (name, contents) and `links` (name, target).
fn archive(path: &Path, files: &[(&str, &[u8])], links: &[(&str, &str)]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // set_path refuses `..`: the raw name field takes anything.
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    for (name, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn load_refuses_archives_that_climb_out_or_link_out() {
    require!();
    let w = World::new();
    let manifest = br#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["l/layer.tar"]}]"#;
    let climb = w.path("climb.tar");
    archive(
        &climb,
        &[("manifest.json", manifest), ("../../escaped", b"x")],
        &[],
    );
    let err = w.fails("b", &["image", "load", "-i", climb.to_str().unwrap()]);
    assert!(err.contains("escapes the archive"), "{err}");
    assert!(!w.dir.path().parent().unwrap().join("escaped").exists());
    let link = w.path("link.tar");
    archive(
        &link,
        &[("manifest.json", manifest)],
        &[
            ("c.json", "../../../../etc/passwd"),
            ("l/layer.tar", "/etc/shadow"),
        ],
    );
    let err = w.fails("b", &["image", "load", "-i", link.to_str().unwrap()]);
    assert!(
        err.contains("escapes the archive") || err.contains("missing"),
        "{err}"
    );
    assert!(w.ok("b", &["image", "ls", "-q"]).is_empty());
}
