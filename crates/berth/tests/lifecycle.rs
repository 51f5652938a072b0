//! The container lifecycle through berth's runc command line: state transitions, `list`,
//! kill by name and number, `kill --all`, cleanup after `delete`, `--pid-file`, commands in
//! the wrong state, the start socket, and the modes of the state. Real containers: these
//! tests run as root.

mod common;

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn list_json(c: &Ctr) -> Vec<Value> {
    let o = c.cmd(&["list", "--format", "json"]);
    assert_ok(&o, "list");
    serde_json::from_slice::<Value>(&o.stdout)
        .expect("list --format json prints JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn listed_status(c: &Ctr) -> String {
    let entries = list_json(c);
    let e = entries
        .iter()
        .find(|e| e["id"] == c.id.as_str())
        .unwrap_or_else(|| panic!("{} not in list {entries:?}", c.id));
    e["status"].as_str().unwrap().to_string()
}

/// Starts `berth run` in the foreground on a `sleep` without a pid namespace, so default
/// dispositions apply to the init and its exit status tells which signal arrived.
fn running_in_foreground(tag: &str) -> (Ctr, std::process::Child) {
    let mut c = Ctr::new(tag, &["sleep", "100"]);
    c.without_ns("pid");
    let child = c.spawn_run();
    (c, child)
}

/// Mode of `path` without the file type bits.
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `cat path` as nobody (uid and gid 65534, no supplementary groups).
fn cat_as_nobody(path: &std::path::Path) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn every_state_transition_shows_in_state_and_list() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("states", &["sleep", "100"]);
    let hook_out = c.bundle.path().join("hook-state.json");
    c.patch(|cfg| {
        cfg["hooks"] = json!({"prestart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}", hook_out.display())]
        }]});
    });
    assert!(list_json(&c).is_empty());
    assert_ok(&c.create(), "create");

    // Hooks run once the environment is made: "created" (the spec's lifecycle).
    let hook: Value = serde_json::from_slice(&fs::read(&hook_out).unwrap()).unwrap();
    assert_eq!(hook["status"], "created");
    assert_eq!(hook["id"], c.id.as_str());

    let st = c.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], c.id.as_str());
    assert_eq!(
        st["ociVersion"].as_str().map(|v| v.starts_with("1.")),
        Some(true)
    );
    assert_eq!(
        st["bundle"].as_str().unwrap(),
        fs::canonicalize(c.bundle.path()).unwrap().to_str().unwrap()
    );
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0 && alive(pid));
    assert_eq!(listed_status(&c), "created");
    let q = c.cmd(&["list", "-q"]);
    assert_eq!(stdout(&q), format!("{}\n", c.id));
    let table = stdout(&c.cmd(&["list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&c.id) && l.contains("created")),
        "{table}"
    );

    assert_ok(&c.start(), "start");
    assert_eq!(c.status(), "running");
    assert_eq!(c.pid(), pid);
    assert_eq!(listed_status(&c), "running");

    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    c.wait_status("stopped");
    assert_eq!(listed_status(&c), "stopped");
    assert!(!alive(pid));

    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    assert!(list_json(&c).is_empty());
    c.assert_nothing_left();
}

#[test]
fn container_that_exits_by_itself_reads_stopped() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("selfexit", &["true"]);
    c.create_and_start();
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn kill_by_name_and_number_delivers_that_signal() {
    if !need_root() {
        return;
    }
    // (signal argument, expected exit status of `run` = 128 + signal number)
    let cases: &[(Option<&str>, i32)] = &[
        (Some("KILL"), 137),
        (Some("SIGKILL"), 137),
        (Some("TERM"), 143),
        (Some("9"), 137),
        (Some("15"), 143),
        (Some("sigusr1"), 128 + 10),
        (Some("HUP"), 129),
        (None, 143),
    ];
    let runs: Vec<_> = cases
        .iter()
        .map(|(sig, code)| (running_in_foreground("killsig"), *sig, *code))
        .collect();
    for ((c, child), sig, code) in runs {
        let mut args = vec!["kill", c.id.as_str()];
        args.extend(sig);
        assert_ok(&c.cmd(&args), &format!("kill {sig:?}"));
        let st = child.wait_with_output().unwrap().status;
        assert_eq!(st.code(), Some(code), "kill {sig:?}");
        c.assert_nothing_left();
    }
}

#[test]
fn kill_rejects_an_unknown_signal() {
    if !need_root() {
        return;
    }
    let (c, mut child) = running_in_foreground("badsig");
    for bad in ["NOPE", "0", "65", "-9"] {
        let o = c.cmd(&["kill", &c.id, bad]);
        assert!(!o.status.success(), "kill {bad} succeeded");
    }
    assert_eq!(c.status(), "running");
    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    child.wait().unwrap();
}

#[test]
fn kill_all_signals_every_process_in_the_container() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("killall", &["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    c.create_and_start();
    wait_until("3 processes in the cgroup", Duration::from_secs(5), || {
        pids_in_cgroup(&c.cgroup).len() == 3
    });
    let pids = pids_in_cgroup(&c.cgroup);
    assert_ok(&c.cmd(&["kill", "--all", &c.id, "KILL"]), "kill --all");
    wait_until("every process gone", Duration::from_secs(5), || {
        pids.iter().all(|p| !alive(*p))
    });
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn kill_all_with_term_reaches_children_too() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("killallterm", &["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    c.without_ns("pid");
    c.create_and_start();
    wait_until("3 processes in the cgroup", Duration::from_secs(5), || {
        pids_in_cgroup(&c.cgroup).len() == 3
    });
    let pids = pids_in_cgroup(&c.cgroup);
    assert_ok(&c.cmd(&["kill", "-a", &c.id, "TERM"]), "kill -a TERM");
    wait_until("every process gone", Duration::from_secs(5), || {
        pids.iter().all(|p| !alive(*p))
    });
    c.wait_status("stopped");
}

#[test]
fn delete_of_a_created_container_removes_its_init() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("delcreated", &["sleep", "100"]);
    assert_ok(&c.create(), "create");
    let pid = c.pid();
    assert!(alive(pid));
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    assert!(
        !alive(pid),
        "init {pid} survived delete of a created container"
    );
    c.assert_nothing_left();
}

#[test]
fn delete_force_of_a_running_container_removes_everything() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("delforce", &["sleep", "100"]);
    c.create_and_start();
    let pid = c.pid();
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    assert!(!alive(pid));
    c.assert_nothing_left();
}

#[test]
fn a_foreground_run_deletes_only_the_container_it_made() {
    if !need_root() {
        return;
    }
    // A foreground run stopped (SIGSTOP: it can neither catch nor forward it) while its
    // container is deleted and another one is made under the same ID.
    let (c, mut run) = running_in_foreground("rundelown");
    let first = c.pid();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&run),
        rustix::process::Signal::STOP,
    )
    .unwrap();
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    c.create_and_start();
    let second = c.pid();
    assert_ne!(first, second);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&run),
        rustix::process::Signal::CONT,
    )
    .unwrap();
    // The run ends with its own container's status (killed) and leaves the new one alone.
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 9), "{status:?}");
    assert_eq!(c.status(), "running");
    assert_eq!(c.pid(), second);
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    c.assert_nothing_left();
}

#[test]
fn pid_file_holds_the_state_pid() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("pidfile", &["sleep", "100"]);
    let pid_file = c.bundle.path().join("init.pid");
    assert_ok(
        &c.create_with(&["--pid-file", pid_file.to_str().unwrap()]),
        "create --pid-file",
    );
    let text = fs::read_to_string(&pid_file).unwrap();
    assert_eq!(
        text.trim().parse::<i64>().unwrap(),
        c.state()["pid"].as_i64().unwrap()
    );
}

#[test]
fn run_detach_with_pid_file_leaves_a_running_container() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("rundetach", &["sleep", "100"]);
    let pid_file = c.bundle.path().join("run.pid");
    let mut cmd = c.berth();
    cmd.args(["run", "--detach", "--pid-file"])
        .arg(&pid_file)
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id);
    assert_ok(&run_detached_stdio(cmd), "run --detach");
    assert_eq!(c.status(), "running");
    let text = fs::read_to_string(&pid_file).unwrap();
    assert_eq!(text.trim().parse::<i32>().unwrap(), c.pid());
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    c.assert_nothing_left();
}

#[test]
fn delete_of_a_stopped_container_kills_processes_its_init_left_behind() {
    if !need_root() {
        return;
    }
    // Without a pid namespace, the init's children outlive it in the container's cgroup.
    let mut c = Ctr::new(
        "orphans",
        &["sh", "-c", "sleep 100 & sleep 100 & echo started"],
    );
    c.without_ns("pid");
    c.create_and_start();
    c.wait_status("stopped");
    let pids = pids_in_cgroup(&c.cgroup);
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    for p in pids {
        assert!(!alive(p), "orphan {p} survived delete");
    }
    c.assert_nothing_left();
}

#[test]
fn several_containers_in_one_root_are_listed() {
    if !need_root() {
        return;
    }
    let a = Ctr::new("lista", &["sleep", "100"]);
    let mut b = Ctr::new("listb", &["sleep", "100"]);
    // Same state root for both: b's own root stays empty.
    let a_root = a.root.path().to_path_buf();
    assert_ok(&a.create(), "create a");
    b.patch(|_| {});
    let o = run_detached_stdio({
        let mut cmd = std::process::Command::new(BERTH);
        cmd.arg("--root")
            .arg(&a_root)
            .args(["create", "--bundle"])
            .arg(b.bundle.path())
            .arg(&b.id);
        cmd
    });
    assert_ok(&o, "create b");
    let o = a.cmd(&["list", "-q"]);
    let mut want = [a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(stdout(&o), format!("{}\n", want.join("\n")));
    assert_ok(&a.cmd(&["delete", &b.id]), "delete b");
    assert_ok(&a.cmd(&["delete", &a.id]), "delete a");
    b.assert_nothing_left();
    a.assert_nothing_left();
}

#[test]
fn state_holding_environment_secrets_is_readable_by_root_only() {
    if !need_root() {
        return;
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        berth_common::skip!("setpriv (util-linux) is not installed");
    }
    let mut c = Ctr::new("statemode", &["sleep", "100"]);
    let secret = format!("hunter2-{}", c.id);
    c.patch(|cfg| {
        cfg["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("API_TOKEN={secret}")))
    });
    // A state root berth creates itself, in a directory anyone may enter.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(c.root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = c.root.path().join("state");
    let berth = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BERTH);
        cmd.arg("--root").arg(&root).args(args);
        cmd.stdin(Stdio::null());
        cmd
    };
    let mut create = berth(&["create", "--bundle"]);
    create.arg(c.bundle.path()).arg(&c.id);
    assert_ok(&run_detached_stdio(create), "create");
    let state = root.join(&c.id).join("state.json");
    assert!(fs::read_to_string(&state).unwrap().contains(&secret));
    assert_eq!(mode_of(&root), 0o700, "state root");
    assert_eq!(mode_of(&root.join(&c.id)), 0o711, "container dir");
    assert_eq!(mode_of(&state), 0o600, "state.json");
    let o = cat_as_nobody(&state);
    assert!(!o.status.success(), "nobody read state.json");
    assert!(!stdout(&o).contains(&secret));
    // A pre-existing root keeps its (looser) mode; the state file alone still protects.
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    let o = cat_as_nobody(&state);
    assert!(
        !o.status.success(),
        "nobody read state.json under a 0755 root"
    );
    assert!(!stdout(&o).contains(&secret));
    // Rewritten state (start) keeps the mode.
    assert_ok(&berth(&["start", &c.id]).output().unwrap(), "start");
    assert_eq!(mode_of(&state), 0o600, "state.json after start");
    assert_ok(
        &berth(&["delete", "--force", &c.id]).output().unwrap(),
        "delete",
    );
    assert!(!root.join(&c.id).exists());
}

#[test]
fn kill_of_a_created_container_stops_it() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("killcreated", &["sleep", "100"]);
    assert_ok(&c.create(), "create");
    let pid = c.pid();
    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    c.wait_status("stopped");
    assert!(!alive(pid));
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn init_killed_behind_berths_back_reads_stopped() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("killbehind", &["sleep", "100"]);
    c.create_and_start();
    let pid = c.pid();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("a pid"),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn list_of_an_empty_or_missing_root_is_empty() {
    if !need_root() {
        return;
    }
    let o = std::process::Command::new(BERTH)
        .args(["--root", "/nonexistent/berth-root", "list", "-q"])
        .output()
        .unwrap();
    assert_ok(&o, "list");
    assert_eq!(stdout(&o), "");
}

#[test]
fn duplicate_id() {
    if !need_root() {
        return;
    }
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
fn start_twice() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
    let c = Ctr::new("delunknown", &["true"]);
    let o = c.cmd(&["delete", "--force", "never-created"]);
    assert_ok(&o, "delete --force of an unknown ID");
    assert_eq!(stderr(&o), "");
    let o = c.cmd(&["delete", "never-created"]);
    assert_one_line_error(&o, &["never-created", "does not exist"]);
}

#[test]
fn state_of_unknown_id() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
    let c = Ctr::new("killstopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped");
    let o = c.cmd(&["kill", &c.id, "KILL"]);
    assert_one_line_error(&o, &[&c.id, "stopped"]);
}

#[test]
fn start_of_a_created_container_whose_init_died_fails() {
    if !need_root() {
        return;
    }
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

/// A state path longer than a socket address holds (a deep --root and a 64-character ID, as
/// containerd's) still reaches the start socket.
#[test]
fn start_socket_works_under_a_state_path_longer_than_sun_path() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("longroot", &["echo", "ran"]);
    let root = c.root.path().join("r".repeat(100));
    let id = format!("{}-{}", c.id, "x".repeat(64 - c.id.len() - 1));
    let berth = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BERTH);
        cmd.arg("--root").arg(&root).args(args);
        run_detached_stdio(cmd)
    };
    let bundle = c.bundle.path().to_str().unwrap();
    assert_ok(&berth(&["create", "--bundle", bundle, &id]), "create");
    assert_ok(&berth(&["start", &id]), "start");
    let o = berth(&["delete", "--force", &id]);
    assert_ok(&o, "delete");
}
