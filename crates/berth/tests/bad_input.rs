//! Bad input to berth: each is a non-zero exit with exactly one stderr line naming the
//! problem, and leaves nothing behind (no state dir, no cgroup, no stray process).

mod common;

use std::fs;

use common::*;
use serde_json::json;

/// Nothing at all under the state root: not even an empty directory for the ID.
fn assert_root_empty(c: &Ctr) {
    let left: Vec<_> = fs::read_dir(c.root.path())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left under the state root: {left:?}");
}

#[test]
fn missing_bundle() {
    let c = Ctr::new("nobundle", &["true"]);
    let o = run_detached_stdio({
        let mut cmd = c.berth();
        cmd.args(["create", "--bundle", "/nonexistent/bundle-dir", &c.id]);
        cmd
    });
    assert_one_line_error(&o, &["/nonexistent/bundle-dir"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn bundle_without_config_json() {
    let c = Ctr::new("noconfig", &["true"]);
    fs::remove_file(c.bundle.path().join("config.json")).unwrap();
    let o = c.create();
    assert_one_line_error(&o, &["config.json"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn malformed_json() {
    let c = Ctr::new("badjson", &["true"]);
    fs::write(
        c.bundle.path().join("config.json"),
        "{\"ociVersion\": \"1.0.2\", ",
    )
    .unwrap();
    let o = c.create();
    assert_one_line_error(&o, &["config.json"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

const WRONG_TYPES: &[(&str, &str, &str)] = &[
    // (JSON pointer, bad value as JSON, the field's name in the config)
    ("/process/args", "\"sh -c true\"", "args"),
    ("/process/user/uid", "\"root\"", "uid"),
    ("/mounts", "{\"destination\": \"/x\"}", "mounts"),
    ("/process/terminal", "\"no\"", "terminal"),
];

fn create_with_wrong_type(ptr: &str, bad: &str) -> (Ctr, std::process::Output) {
    let mut c = Ctr::new("badtype", &["true"]);
    let bad: serde_json::Value = serde_json::from_str(bad).unwrap();
    c.patch(|cfg| *cfg.pointer_mut(ptr).unwrap() = bad);
    let o = c.create();
    (c, o)
}

#[test]
fn wrong_field_types() {
    for (ptr, bad, _) in WRONG_TYPES {
        let (c, o) = create_with_wrong_type(ptr, bad);
        assert_one_line_error(&o, &["config.json", "invalid type"]);
        c.assert_nothing_left();
        assert_root_empty(&c);
    }
}

#[test]

fn wrong_field_type_error_names_the_field() {
    for (ptr, bad, field) in WRONG_TYPES {
        let (_c, o) = create_with_wrong_type(ptr, bad);
        assert_one_line_error(&o, &[field]);
    }
}

#[test]
fn missing_process_args() {
    let mut c = Ctr::new("noargs", &["true"]);
    c.patch(|cfg| cfg["process"]["args"] = json!([]));
    let o = c.create();
    assert_one_line_error(&o, &["args"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn duplicate_id() {
    let c = Ctr::new("dup", &["sleep", "100"]);
    assert_ok(&c.create(), "first create");
    let pid = c.pid();
    let o = c.create();
    assert_one_line_error(&o, &[&c.id, "already exists"]);
    // The first container is untouched.
    assert_eq!(c.status(), "created");
    assert_eq!(c.pid(), pid);
    assert!(alive(pid));
    assert_eq!(pids_in_cgroup(&c.cgroup), vec![pid]);
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn invalid_ids() {
    let c = Ctr::new("badid", &["true"]);
    // One byte over a file name (NAME_MAX): refused as an ID, not by mkdir half way.
    let long = "x".repeat(256);
    for bad in ["../x", "", "a/b", "/abs", "..", &long] {
        let o = run_detached_stdio({
            let mut cmd = c.berth();
            cmd.arg("create")
                .arg("--bundle")
                .arg(c.bundle.path())
                .arg(bad);
            cmd
        });
        assert_one_line_error(&o, &["invalid container id"]);
        for sub in ["state", "start", "delete", "kill"] {
            let o = c.cmd(&[sub, bad]);
            assert_one_line_error(&o, &["invalid container id"]);
        }
        assert_root_empty(&c);
    }
    // No cgroup named after a bad ID appeared beside the root's parent either.
    assert!(!c
        .root
        .path()
        .parent()
        .unwrap()
        .join("x")
        .join("state.json")
        .exists());
    c.assert_nothing_left();
}

#[test]
fn start_twice() {
    let c = Ctr::new("start2", &["sleep", "100"]);
    c.create_and_start();
    let o = c.start();
    assert_one_line_error(&o, &[&c.id, "running"]);
    assert_eq!(c.status(), "running");
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    c.assert_nothing_left();
}

#[test]
fn start_of_a_stopped_container() {
    let c = Ctr::new("startstopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped");
    let o = c.start();
    assert_one_line_error(&o, &[&c.id, "stopped"]);
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn delete_running_without_force_fails_then_force_works() {
    let c = Ctr::new("delrun", &["sleep", "100"]);
    c.create_and_start();
    let pid = c.pid();
    let o = c.cmd(&["delete", &c.id]);
    assert_one_line_error(&o, &[&c.id, "running"]);
    assert_eq!(c.status(), "running");
    assert!(alive(pid));
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    assert!(!alive(pid));
    c.assert_nothing_left();
}

#[test]
fn delete_force_of_unknown_id_exits_0() {
    let c = Ctr::new("delunknown", &["true"]);
    let o = c.cmd(&["delete", "--force", "never-created"]);
    assert_ok(&o, "delete --force of an unknown ID");
    assert_eq!(stderr(&o), "");
    let o = c.cmd(&["delete", "never-created"]);
    assert_one_line_error(&o, &["never-created", "does not exist"]);
}

#[test]
fn state_of_unknown_id() {
    let c = Ctr::new("stateunknown", &["true"]);
    let o = c.cmd(&["state", "no-such-id"]);
    assert_one_line_error(&o, &["no-such-id", "does not exist"]);
    assert_eq!(stdout(&o), "");
    for sub in ["start", "kill"] {
        let o = c.cmd(&[sub, "no-such-id"]);
        assert_one_line_error(&o, &["no-such-id", "does not exist"]);
    }
    assert_root_empty(&c);
}

#[test]
fn kill_of_a_stopped_container_fails() {
    let c = Ctr::new("killstopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped");
    let o = c.cmd(&["kill", &c.id, "KILL"]);
    assert_one_line_error(&o, &[&c.id, "stopped"]);
}

#[test]
fn program_missing_from_rootfs_fails_at_create() {
    let c = Ctr::new("noprog", &["/bin/definitely-not-here", "arg"]);
    let o = c.create();
    assert_one_line_error(&o, &["/bin/definitely-not-here"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn program_missing_from_path_fails_at_create() {
    let c = Ctr::new("nopathprog", &["not-on-path"]);
    let o = c.create();
    assert_one_line_error(&o, &["not-on-path"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn program_missing_fails_run_too() {
    let c = Ctr::new("noprogrun", &["/nope"]);
    let o = c.run();
    assert_one_line_error(&o, &["/nope"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn cwd_missing_from_rootfs_fails_at_create() {
    let mut c = Ctr::new("nocwd", &["true"]);
    c.patch(|cfg| cfg["process"]["cwd"] = json!("/no/such/dir"));
    let o = c.create();
    assert_one_line_error(&o, &["/no/such/dir"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn terminal_without_console_socket_fails_at_create() {
    let mut c = Ctr::new("noconsole", &["true"]);
    c.patch(|cfg| cfg["process"]["terminal"] = json!(true));
    let o = c.create();
    assert_one_line_error(&o, &["console-socket"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn missing_rootfs_fails_at_create() {
    let mut c = Ctr::new("norootfs", &["true"]);
    c.patch(|cfg| cfg["root"]["path"] = json!("/nonexistent/rootfs"));
    let o = c.create();
    assert_one_line_error(&o, &["/nonexistent/rootfs"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn systemd_cgroup_is_a_clear_error() {
    let c = Ctr::new("systemd", &["true"]);
    let o = run_detached_stdio({
        let mut cmd = c.berth();
        cmd.args(["--systemd-cgroup", "create", "--bundle"])
            .arg(c.bundle.path())
            .arg(&c.id);
        cmd
    });
    assert_one_line_error(&o, &["systemd"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn start_of_a_created_container_whose_init_died_fails() {
    let c = Ctr::new("deadinit", &["sleep", "100"]);
    assert_ok(&c.create(), "create");
    let pid = c.pid();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("a pid"),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    c.wait_status("stopped");
    let o = c.start();
    assert_one_line_error(&o, &[&c.id, "stopped"]);
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}
