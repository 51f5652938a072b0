//! The container lifecycle through berth's runc command line: state transitions, `list`,
//! kill by name and number, `kill --all`, cleanup after `delete`, `--pid-file`, concurrent
//! commands on one ID, and the JSON error log. Real containers: these tests run as root.

mod common;

use std::fs;
use std::process::Stdio;
use std::sync::{Arc, Barrier};
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

#[test]
fn every_state_transition_shows_in_state_and_list() {
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
    let c = Ctr::new("selfexit", &["true"]);
    c.create_and_start();
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

/// Starts `berth run` in the foreground on a `sleep` without a pid namespace, so default
/// dispositions apply to the init and its exit status tells which signal arrived.
fn running_in_foreground(tag: &str) -> (Ctr, std::process::Child) {
    let mut c = Ctr::new(tag, &["sleep", "100"]);
    c.without_ns("pid");
    let child = c
        .berth()
        .arg("run")
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("container running", Duration::from_secs(5), || {
        let o = c.cmd(&["state", &c.id]);
        o.status.success()
            && serde_json::from_slice::<Value>(&o.stdout).unwrap()["status"] == "running"
    });
    (c, child)
}

#[test]
fn kill_by_name_and_number_delivers_that_signal() {
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
fn container_joins_its_cgroup_in_every_hierarchy_and_delete_removes_everything() {
    let c = Ctr::new("cleanup", &["sh", "-c", "sleep 100 & wait"]);
    c.create_and_start();
    let pid = c.pid();
    for d in c.cgroup_dirs() {
        assert!(d.is_dir(), "cgroup {} missing", d.display());
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "init {pid} not in {}: {procs:?}",
            d.display()
        );
    }
    wait_until("2 processes", Duration::from_secs(5), || {
        pids_in_cgroup(&c.cgroup).len() == 2
    });
    let pids = pids_in_cgroup(&c.cgroup);
    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    for p in pids {
        assert!(!alive(p), "pid {p} survived delete");
    }
    c.assert_nothing_left();
    let o = c.cmd(&["state", &c.id]);
    assert!(!o.status.success());
}

#[test]
fn delete_of_a_created_container_removes_its_init() {
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
    let c = Ctr::new("delforce", &["sleep", "100"]);
    c.create_and_start();
    let pid = c.pid();
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    assert!(!alive(pid));
    c.assert_nothing_left();
}

#[test]
fn pid_file_holds_the_state_pid() {
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

/// Runs `f` on `n` threads released together.
fn race<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (b, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                b.wait();
                f(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_delete_force_all_succeed_and_leave_nothing() {
    let c = Arc::new(Ctr::new("racedel", &["sleep", "100"]));
    c.create_and_start();
    let pid = c.pid();
    let cc = c.clone();
    let outs = race(8, move |_| cc.cmd(&["delete", "--force", &cc.id]));
    for o in &outs {
        assert_ok(o, "concurrent delete --force");
    }
    assert!(!alive(pid));
    c.assert_nothing_left();
}

#[test]
fn concurrent_start_kill_delete_do_not_corrupt_state() {
    let c = Arc::new(Ctr::new("racemix", &["sleep", "100"]));
    assert_ok(&c.create(), "create");
    let pid = c.pid();
    let cc = c.clone();
    let outs = race(8, move |i| {
        let id = cc.id.as_str();
        let args: &[&str] = match i % 4 {
            0 => &["start", id],
            1 => &["kill", id, "KILL"],
            2 => &["state", id],
            _ => &["delete", "--force", id],
        };
        (
            i,
            run_detached_stdio({
                let mut cmd = cc.berth();
                cmd.args(args);
                cmd
            }),
        )
    });
    for (i, o) in &outs {
        // Whatever the order, a command either succeeds or fails with one clean line.
        if !o.status.success() {
            assert_eq!(stderr(o).lines().count(), 1, "command {i}: {:?}", stderr(o));
            assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
        }
        if i % 4 == 2 && o.status.success() {
            let st: Value = serde_json::from_slice(&o.stdout).expect("state JSON intact");
            assert!(st["status"].is_string());
        }
        if i % 4 == 3 {
            assert_ok(o, "delete --force");
        }
    }
    assert!(!alive(pid));
    c.assert_nothing_left();
}

#[test]
fn concurrent_create_of_one_id_has_exactly_one_winner() {
    let c = Arc::new(Ctr::new("racecreate", &["sleep", "100"]));
    let cc = c.clone();
    let outs = race(6, move |_| cc.create());
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_one_line_error(o, &["already exists"]);
    }
    assert_eq!(c.status(), "created");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn containers_sharing_a_cgroup_parent_come_and_go_concurrently() {
    // Like Docker's /docker/<id>: parents are shared, created and removed around each other.
    let parent = format!("berthtest-shared-{}", std::process::id());
    let p = parent.clone();
    let outs = race(6, move |_| {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let mut c = Ctr::new("shared", &["true"]);
            c.cgroup = format!("/{p}/{}", c.id);
            let cg = c.cgroup.clone();
            c.patch(|cfg| cfg["linux"]["cgroupsPath"] = json!(cg));
            let o = c.run();
            if !o.status.success() {
                failures.push(stderr(&o));
            }
            c.assert_nothing_left();
        }
        failures
    });
    for h in cgroup_hierarchies() {
        let _ = fs::remove_dir(h.join(&parent));
    }
    let failures: Vec<String> = outs.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn json_log_gets_one_error_line_for_a_failing_command() {
    let c = Ctr::new("logjson", &["true"]);
    let log = c.bundle.path().join("berth.log");
    let o = c
        .berth()
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "state", "no-such-container"])
        .output()
        .unwrap();
    assert_one_line_error(&o, &["no-such-container"]);
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error");
    assert!(
        v["msg"].as_str().unwrap().contains("no-such-container"),
        "{v}"
    );
    let time = v["time"].as_str().unwrap();
    assert!(humantime_like(time), "time {time:?} is not RFC 3339");
}

#[test]
fn json_log_as_containerd_passes_it_for_a_failing_create() {
    let mut c = Ctr::new("logcreate", &["/bin/no-such-program"]);
    c.patch(|_| {});
    let log = c.bundle.path().join("log.json");
    let pid_file = c.bundle.path().join("pid");
    // containerd's exact form: global flags first.
    let o = run_detached_stdio({
        let mut cmd = c.berth();
        cmd.arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "create", "--bundle"])
            .arg(c.bundle.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&c.id);
        cmd
    });
    assert_one_line_error(&o, &["no-such-program"]);
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error");
    assert!(
        v["msg"].as_str().unwrap().contains("no-such-program"),
        "{v}"
    );
    assert!(!pid_file.exists());
    c.assert_nothing_left();
}

#[test]
fn text_log_gets_one_error_line() {
    let c = Ctr::new("logtext", &["true"]);
    let log = c.bundle.path().join("berth.log");
    let o = c
        .berth()
        .arg("--log")
        .arg(&log)
        .args(["state", "nope-text"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let text = fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("level=error") && text.contains("nope-text"),
        "{text}"
    );
}

/// `--debug` writes each step of create, start and delete with its duration to --log (JSON
/// and text); without it the same commands write nothing there.
#[test]
fn debug_logs_each_step_with_its_duration_and_nothing_without_it() {
    let lifecycle = |c: &Ctr, log: &std::path::Path, flags: &[&str]| {
        for args in [
            vec![
                "create",
                "--bundle",
                c.bundle.path().to_str().unwrap(),
                &c.id,
            ],
            vec!["start", &c.id],
            vec!["delete", "--force", &c.id],
        ] {
            let o = run_detached_stdio({
                let mut cmd = c.berth();
                cmd.arg("--log").arg(log).args(flags).args(&args);
                cmd
            });
            assert_ok(&o, args[0]);
        }
        fs::read_to_string(log).unwrap_or_default()
    };
    let c = Ctr::new("debugjson", &["sleep", "60"]);
    let log = c.bundle.path().join("debug.json");
    let text = lifecycle(&c, &log, &["--debug", "--log-format", "json"]);
    let steps: Vec<String> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["level"], "debug", "{l}");
            v["msg"].as_str().unwrap().to_string()
        })
        .collect();
    for want in [
        "create: claim the ID: ",
        "create: clone the init: ",
        "create: the init sets up the container: ",
        "start: wait for the program to run: ",
        "delete: kill the processes: ",
        "delete: remove the state: ",
    ] {
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with(want) && s.ends_with('s')),
            "no {want:?} step with a duration in {steps:?}"
        );
    }
    let c = Ctr::new("debugtext", &["sleep", "60"]);
    let log = c.bundle.path().join("debug.log");
    let text = lifecycle(&c, &log, &["--debug"]);
    assert!(
        text.contains("level=debug msg=\"create: clone the init: "),
        "{text}"
    );
    let c = Ctr::new("nodebug", &["sleep", "60"]);
    let log = c.bundle.path().join("quiet.log");
    assert_eq!(lifecycle(&c, &log, &[]), "");
}

/// 2026-11-24T23:12:59.123Z style.
fn humantime_like(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && (t.ends_with('Z') || t.contains('+'))
}

#[test]
fn delete_of_a_stopped_container_kills_processes_its_init_left_behind() {
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
fn concurrent_start_has_exactly_one_winner() {
    let c = Arc::new(Ctr::new("racestart", &["sleep", "100"]));
    assert_ok(&c.create(), "create");
    let cc = c.clone();
    let outs = race(6, move |_| cc.start());
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_one_line_error(o, &[&c.id]);
    }
    assert_eq!(c.status(), "running");
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    c.assert_nothing_left();
}

#[test]
fn several_containers_in_one_root_are_listed() {
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

/// `events --stats` prints one stats event; `events` streams stats until the container stops
/// and reports the OOM kill its memory limit causes (as runc's `{"type":"oom"}`).
#[test]
fn events_print_stats_and_report_an_oom_kill() {
    let limit = 16 * 1024 * 1024;
    let mut c = Ctr::new("events", &["sh", "-c", "sleep 1; tail /dev/zero; sleep 1"]);
    c.patch(|cfg| {
        // swap = limit: no swapping around the OOM killer.
        cfg["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    });
    c.create_and_start();

    let o = c.cmd(&["events", "--stats", &c.id]);
    assert_ok(&o, "events --stats");
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["type"], "stats");
    assert_eq!(lines[0]["id"], c.id.as_str());
    assert_eq!(lines[0]["data"]["memory"]["usage"]["limit"], limit);

    // Streams until the container stops: the shell outlives the killed tail by a second.
    let o = c
        .berth()
        .args(["events", "--interval", "100ms", &c.id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&o, "events");
    let types: Vec<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].to_string())
        .collect();
    assert!(types.iter().any(|t| t == "\"oom\""), "{types:?}");
    assert!(types.iter().any(|t| t == "\"stats\""), "{types:?}");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
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
fn state_holding_environment_secrets_is_readable_by_root_only() {
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
