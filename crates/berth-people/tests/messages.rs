//! The errors a new user meets first, each one line that says what to do (issue 15 §8),
//! checked word for word through the CLI, as root.

use std::process::Command;

mod common;
#[path = "common/registry.rs"]
mod registry;
#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{text, World};

fn id(name: &str) -> String {
    format!("{name}{}", std::process::id() % 10_000)
}

#[test]
fn run_of_an_image_name_without_a_bundle_names_the_image_form() {
    require_root!();
    let w = World::new();
    let empty = w.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = w
        .cmd(&["run", "walk-alpine"])
        .current_dir(&empty)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "berth: no config.json in {}: `berth run walk-alpine` is runc's form, which runs \
             the OCI bundle there; for an image use the image form: `berth run --rm \
             walk-alpine` or `berth run --image walk-alpine ID`",
            empty.display()
        )
    );
}

#[test]
fn logs_of_a_removed_container_says_why_it_is_gone() {
    require_root!();
    let w = World::new();
    let gone = id("gone");
    w.ok(&[
        "run", "--rm", "--name", &gone, "--net", "none", "busybox", "true",
    ]);
    assert_eq!(
        w.fails(&["logs", &gone]).trim(),
        format!(
            "berth: no container {gone}: a container run with --rm is removed with its log \
             when it exits (run it without --rm to keep it; `berth ps -a` lists the kept ones)"
        )
    );
}

#[test]
fn a_missing_network_or_switch_is_refused_before_anything_is_made() {
    require_root!();
    let w = World::new();
    let e = w.fails(&["run", "--rm", "--net", "nosuchnet", "busybox", "true"]);
    assert_eq!(
        e.trim(),
        "berth: --net nosuchnet: no network nosuchnet: create it with `berth network create \
         nosuchnet` (`berth network ls` lists them)"
    );
    let sock = w.dir.path().join("no.sock");
    let e = w.fails(&[
        "run",
        "--rm",
        "--net",
        &format!("switch:{}", sock.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(
        e.trim(),
        format!(
            "berth: --net switch:{p}: no switch socket at {p}: start one with `berth switch \
             --socket {p}`",
            p = sock.display()
        )
    );
    let left = std::fs::read_dir(w.image_root().join("containers"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "a refused run left a container dir");
}

/// When the network hook itself fails (here: an address outside the network), its own
/// message is the end of the runtime's one error line, so it reaches `--log` as well.
#[test]
fn a_failing_network_hook_says_why_in_the_error_line() {
    require_root!();
    let w = World::new();
    let net = id("hk");
    let third = std::process::id() % 200 + 20;
    w.ok(&[
        "network",
        "create",
        "--subnet",
        &format!("10.238.{third}.0/24"),
        "--bridge",
        &format!("bm-{net}"),
        &net,
    ]);
    let e = w.fails(&[
        "run",
        "--rm",
        "--net",
        &net,
        "--ip",
        "10.99.99.99",
        "busybox",
        "true",
    ]);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 1, "{e}");
    assert!(
        lines[0].starts_with("berth: createRuntime hook ")
            && lines[0].ends_with(&format!(
                "exited with exit status: 1: berth: address 10.99.99.99 is not a usable host \
                 address of {net} (10.238.{third}.0/24)"
            )),
        "{e}"
    );
}

/// `image pull` names the manifest digest and the image ID, each labelled: pulled from a
/// local registry (Debian's docker-registry) that skopeo filled.
#[test]
fn pull_labels_the_manifest_digest_and_the_image_id() {
    require_root!();
    if let Some(why) = registry::missing() {
        berth_common::skip!("{why}");
    }
    let w = World::new();
    let reg = registry::Registry::start(None);
    let image = format!("{}/msg/busybox:1", reg.host());
    let tar = w.dir.path().join("busybox.tar");
    let st = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("tarball:{}", tar.display()))
        .arg(format!("docker://{image}"))
        .status()
        .unwrap();
    assert!(st.success(), "skopeo copy");
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let out = w.ok(&["image", "pull", "--insecure", &image]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[0],
        format!("Digest: {}", manifest["Digest"].as_str().unwrap())
    );
    let image_id = lines[1].strip_prefix("Image ID: sha256:").unwrap();
    let ls = w.ok(&["image", "ls"]);
    let short = &image_id[..12];
    assert!(
        ls.contains(short),
        "image ls shows the image ID {short}: {ls}"
    );
    assert_eq!(lines[2], image);
}
