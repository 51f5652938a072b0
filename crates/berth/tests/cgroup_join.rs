//! The parent joins the init to its cgroup while the init builds the root (`ToChild::Placed`,
//! docs/ARCHITECTURE.md, process model step 5): whatever must run inside the cgroup still
//! does. A createContainer hook (run by the init, before pivot_root) and the program record
//! their /proc/self/cgroup; both must name the container's cgroup in every hierarchy. These
//! tests run as root.

mod common;

use std::fs;

use common::*;
use serde_json::json;

/// Every line of a /proc/<pid>/cgroup text names `cgroup` (hierarchies berth does not make
/// a directory in are not mounted on a test host).
fn assert_in(text: &str, cgroup: &str, who: &str) {
    assert!(!text.is_empty(), "{who}: empty /proc/self/cgroup");
    for line in text.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or_default();
        assert_eq!(
            path, cgroup,
            "{who} runs outside the container's cgroup: {text}"
        );
    }
}

#[test]
fn create_container_hooks_and_the_program_run_in_the_container_cgroup() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "cg-join",
        &["sh", "-c", "cat /proc/self/cgroup > /out/program"],
    );
    // Without a cgroup namespace, /proc/self/cgroup shows the host's paths.
    c.without_ns("cgroup");
    let out = c.bundle.path().join("out");
    fs::create_dir(&out).unwrap();
    let host = out.display().to_string();
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": host, "options": ["rbind", "rw"]
        }));
        // Before pivot_root: the host's /proc and paths still resolve.
        cfg["hooks"] = json!({"createContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("cat /proc/self/cgroup > {host}/hook")]}]});
    });
    assert_ok(&c.run(), "run");
    let cgroup = c.cgroup.clone();
    assert_in(
        &fs::read_to_string(out.join("hook")).unwrap(),
        &cgroup,
        "createContainer hook",
    );
    assert_in(
        &fs::read_to_string(out.join("program")).unwrap(),
        &cgroup,
        "the program",
    );
    c.assert_nothing_left();
}
