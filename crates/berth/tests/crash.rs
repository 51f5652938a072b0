//! Crash safety and kill scope (issue 11 §4, §5, §6), with real containers as root:
//! - berth killed with SIGKILL at any instant of create, start, exec or delete leaves a
//!   container that `state`, `list` and `delete --force` understand, nothing behind once it
//!   is deleted, and an ID that can be created again;
//! - `delete` and `kill --all` signal only the container's own processes, never another
//!   container's or a host process that shares its cgroup, and a cgroup that berth did not
//!   create, or that still holds others, is not removed;
//! - `kill` of a stopped container says runc's "container not running".

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn need_root() -> bool {
    if !rustix::process::geteuid().is_root() {
        berth_common::note_skipped!("needs root (real containers)");
        return false;
    }
    true
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Create,
    Start,
    Exec,
    Delete,
}

/// Every live process whose command line names `needle` (berth processes of this test and
/// container inits before their execve carry the state root in their arguments).
fn processes_naming(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// What `state` and `list` say about the container; both must agree, and a container whose
/// creator is dead is never "creating".
fn understood_status(c: &Ctr, ctx: &str) -> Option<String> {
    let o = c.cmd(&["state", &c.id]);
    let listed = c.cmd(&["list", "--format", "json"]);
    assert_ok(&listed, "list");
    let entries: Value = serde_json::from_slice(&listed.stdout).expect("list prints JSON");
    let in_list = entries
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["id"] == c.id.as_str())
        .map(|e| e["status"].as_str().unwrap().to_string());
    if !o.status.success() {
        assert_one_line_error(&o, &["does not exist"]);
        assert!(
            !c.state_dir().exists(),
            "{ctx}: state says the container does not exist, but {} does",
            c.state_dir().display()
        );
        assert_eq!(in_list, None, "{ctx}: list shows what state does not");
        return None;
    }
    let st: Value = serde_json::from_slice(&o.stdout).expect("state prints JSON");
    let status = st["status"].as_str().unwrap().to_string();
    assert!(
        ["created", "running", "stopped", "paused"].contains(&status.as_str()),
        "{ctx}: status {status:?} with no berth command running"
    );
    assert!(
        in_list.is_some(),
        "{ctx}: state shows {status}, list omits it"
    );
    Some(status)
}

/// Deletes the container and asserts that nothing of it is left, waiting (bounded) for
/// processes killed with their parent to finish exiting.
fn delete_and_check_clean(c: &Ctr, ctx: &str) {
    let o = finishing(c, &["delete", "--force", &c.id], ctx);
    assert_ok(&o, &format!("{ctx}: delete --force"));
    let root = c.root.path().to_string_lossy().into_owned();
    wait_until(
        &format!("{ctx}: no process of the container left"),
        Duration::from_secs(10),
        || processes_naming(&root).is_empty() && pids_in_cgroup(&c.cgroup).is_empty(),
    );
    c.assert_nothing_left();
}

/// Runs a berth command that must not block forever: a lock left held by a dead berth (or
/// by a process it left behind) would make it wait for good, so after a generous minute
/// it is killed and the test fails naming that, instead of hanging the suite.
fn finishing(c: &Ctr, args: &[&str], ctx: &str) -> std::process::Output {
    let mut child = c
        .berth()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // Whatever holds the lock is this test's own (its command line names the test's
            // state root): kill it, so cleanup after the failure does not block too.
            let holders = processes_naming(&c.root.path().to_string_lossy());
            for pid in &holders {
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_raw(*pid).expect("a pid"),
                    rustix::process::Signal::KILL,
                );
            }
            panic!(
                "{ctx}: berth {args:?} still blocked after a minute (lock held by {holders:?}?)"
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn spawn_berth(c: &Ctr, args: &[&str]) -> Child {
    c.berth()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Returns what `state` said after the kill ("gone" when the container did not exist).
fn one_round(c: &Ctr, op: Op, delay: Duration, round: usize) -> String {
    let ctx = format!("round {round} ({op:?} killed after {delay:?})");
    match op {
        Op::Create => {}
        Op::Start => assert_ok(&c.create(), &format!("{ctx}: create")),
        Op::Exec | Op::Delete => c.create_and_start(),
    }
    let bundle = c.bundle.path().to_str().unwrap().to_string();
    let args: Vec<&str> = match op {
        Op::Create => vec!["create", "--bundle", &bundle, &c.id],
        Op::Start => vec!["start", &c.id],
        Op::Exec => vec!["exec", &c.id, "true"],
        Op::Delete => vec!["delete", "--force", &c.id],
    };
    let mut victim = spawn_berth(c, &args);
    std::thread::sleep(delay);
    let _ = victim.kill(); // SIGKILL; it may have finished already
    victim.wait().unwrap();

    let seen = understood_status(c, &ctx).unwrap_or_else(|| "gone".into());
    delete_and_check_clean(c, &ctx);
    // The ID is free again.
    assert_ok(&c.create(), &format!("{ctx}: create after cleanup"));
    assert_eq!(c.status(), "created", "{ctx}");
    delete_and_check_clean(c, &format!("{ctx}, second create"));
    format!("{op:?} -> {seen}")
}

#[test]
fn sigkill_at_any_instant_of_create_start_exec_delete_leaves_nothing_wedged() {
    if !need_root() {
        return;
    }
    // Bounded for CI: each round is a handful of berth calls.
    let rounds: usize = berth_common::test_random::env_or("BERTH_CRASH_ROUNDS", 120);
    let mut rng = berth_common::test_random::Rng::from_env("BERTH_CRASH_SEED");
    let ctrs: Vec<(Op, Ctr)> = [Op::Create, Op::Start, Op::Exec, Op::Delete]
        .into_iter()
        .map(|op| (op, Ctr::new("crash", &["sleep", "100"])))
        .collect();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..rounds {
        let (op, c) = &ctrs[round % ctrs.len()];
        let delay = Duration::from_micros(rng.next_u64() % 30_000);
        *outcomes.entry(one_round(c, *op, delay, round)).or_default() += 1;
    }
    // Which states the kills left (to see that the delays hit every phase).
    eprintln!("outcomes: {outcomes:?}");
}

/// A host process parked in `cgroup` (relative to each hierarchy's root) in every
/// hierarchy, as an administrator or another runtime might put one there.
struct HostProcess {
    child: Child,
}

impl HostProcess {
    fn in_cgroup(cgroup: &str) -> HostProcess {
        let host = HostProcess {
            child: Command::new("sleep")
                .arg("1000")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        };
        for h in cgroup_hierarchies() {
            let dir = h.join(cgroup.trim_start_matches('/'));
            fs::create_dir_all(&dir).unwrap();
            // A new v1 cpuset cgroup has no cpus or mems: a task cannot join it until set.
            for knob in ["cpuset.cpus", "cpuset.mems"] {
                if dir.join(knob).exists()
                    && fs::read_to_string(dir.join(knob))
                        .unwrap()
                        .trim()
                        .is_empty()
                {
                    let parent = fs::read_to_string(h.join(knob)).unwrap();
                    fs::write(dir.join(knob), parent.trim()).unwrap();
                }
            }
            let procs = dir.join("cgroup.procs");
            fs::write(&procs, host.pid().to_string())
                .unwrap_or_else(|e| panic!("move a host process into {}: {e}", procs.display()));
        }
        host
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes a test cgroup (in every hierarchy) once its processes are gone.
fn remove_test_cgroup(cgroup: &str) {
    for h in cgroup_hierarchies() {
        let dir: PathBuf = h.join(cgroup.trim_start_matches('/'));
        let _ = fs::remove_dir(dir);
    }
}

#[test]
fn delete_and_kill_all_spare_what_shares_the_cgroup() {
    if !need_root() {
        return;
    }
    // A is created first, in an empty cgroup, so by its own record it is alone there; B and
    // a host process join it later. A with and without a pid namespace, deleted by force
    // while running or plainly after its init died.
    for (a_pid_ns, force) in [(true, true), (true, false), (false, true), (false, false)] {
        let ctx = format!("A with pid namespace: {a_pid_ns}, delete --force: {force}");
        let mut a = Ctr::new("ownA", &["sleep", "100"]);
        if !a_pid_ns {
            a.without_ns("pid");
        }
        let mut b = Ctr::new("ownB", &["sleep", "100"]);
        let shared = a.cgroup.clone();
        b.patch(|cfg| cfg["linux"]["cgroupsPath"] = json!(shared));
        a.create_and_start();
        let a_pid = a.pid();
        let host = HostProcess::in_cgroup(&shared);
        let o = b.create();
        assert_ok(&o, "create B in A's cgroup");
        assert!(
            stderr(&o).contains("shared"),
            "{ctx}: B is not warned about the shared cgroup: {:?}",
            stderr(&o)
        );
        assert_ok(&b.start(), "start B");
        let b_pid = b.pid();

        if force {
            assert_ok(&a.cmd(&["delete", "--force", &a.id]), "delete --force A");
        } else {
            assert_ok(&a.cmd(&["kill", &a.id, "KILL"]), "kill A");
            a.wait_status("stopped");
            assert_ok(&a.cmd(&["delete", &a.id]), "delete A");
        }
        wait_until("A's init to be gone", Duration::from_secs(5), || {
            !alive(a_pid)
        });
        assert!(alive(b_pid), "{ctx}: deleting A killed B's init");
        assert!(alive(host.pid()), "{ctx}: deleting A killed a host process");
        assert!(!a.state_dir().exists());
        for d in a.cgroup_dirs() {
            assert!(
                d.is_dir(),
                "{ctx}: {} removed while it holds others",
                d.display()
            );
        }

        // kill --all keeps runc's meaning for B's own processes only.
        assert_ok(&b.cmd(&["kill", "--all", &b.id, "KILL"]), "kill --all B");
        b.wait_status("stopped");
        assert!(
            alive(host.pid()),
            "{ctx}: kill --all B killed a host process"
        );
        assert_ok(&b.cmd(&["delete", &b.id]), "delete B");
        assert!(alive(host.pid()), "{ctx}: delete B killed a host process");
        drop(host);
        remove_test_cgroup(&shared);
    }
}

#[test]
fn a_container_in_a_busy_host_cgroup_never_kills_the_host() {
    if !need_root() {
        return;
    }
    // Stands for `"cgroupsPath": "/"`: a cgroup that already holds host processes. A
    // dedicated test cgroup, never the real root.
    let hostlike = format!("/berthtest-hostlike-{}", std::process::id());
    let host = HostProcess::in_cgroup(&hostlike);
    for pid_ns in [false, true] {
        let mut c = Ctr::new("hostlike", &["sleep", "100"]);
        c.patch(|cfg| cfg["linux"]["cgroupsPath"] = json!(hostlike));
        if !pid_ns {
            c.without_ns("pid");
        }
        let ctx = if pid_ns { "with" } else { "without" };
        c.create_and_start();
        let init = c.pid();
        assert_ok(&c.cmd(&["kill", "--all", &c.id, "KILL"]), "kill --all");
        wait_until("the init to die", Duration::from_secs(5), || !alive(init));
        assert!(
            alive(host.pid()),
            "kill --all ({ctx} a pid namespace) killed a host process"
        );
        // delete of a container whose init has died, then delete --force of a live one.
        assert_ok(&c.cmd(&["delete", &c.id]), "delete");
        assert!(
            alive(host.pid()),
            "delete ({ctx} a pid namespace) killed a host process"
        );
        c.create_and_start();
        assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
        assert!(
            alive(host.pid()),
            "delete --force ({ctx} a pid namespace) killed a host process"
        );
        for h in cgroup_hierarchies() {
            let d = h.join(hostlike.trim_start_matches('/'));
            assert!(
                d.is_dir(),
                "pre-existing cgroup {} was removed",
                d.display()
            );
        }
    }
    drop(host);
    remove_test_cgroup(&hostlike);
}

#[test]
fn kill_of_a_stopped_container_says_container_not_running() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("killstopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped");
    let o = c.cmd(&["kill", &c.id, "TERM"]);
    // containerd's shim matches on runc's exact words.
    assert_one_line_error(&o, &[&c.id, "container not running"]);
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

/// A `start` killed after it told the init to go but before it removed the start socket:
/// the program runs, so `state` and `list` say running (not created, which the leftover
/// socket alone would say), a second `start` is refused, and delete cleans up. The killed
/// `start` is played by the test: it sends `Start` on the socket as `start` does, waits for
/// the program to be executed, and never removes the socket.
#[test]
fn a_start_killed_before_removing_its_socket_leaves_a_running_container() {
    use berth_runtime::process::{connect_start, ChannelError, ToChild, ToParent};
    if !need_root() {
        return;
    }
    let c = Ctr::new("startkill", &["sleep", "100"]);
    assert_ok(&c.create(), "create");
    assert_eq!(c.status(), "created");
    let socket = c.state_dir().join(berth_runtime::state::START_SOCKET);
    let conn = connect_start(&socket).expect("connect to the start socket");
    conn.send(&ToChild::Start).expect("send Start");
    match conn.recv::<ToParent>() {
        Err(ChannelError::Closed) => {}
        other => panic!("the init did not execute the program: {other:?}"),
    }
    assert!(
        socket.exists(),
        "the test keeps the socket, as the killed start did"
    );
    assert_eq!(
        understood_status(&c, "after the half start").as_deref(),
        Some("running")
    );
    let again = c.cmd(&["start", &c.id]);
    assert_one_line_error(&again, &["running"]);
    delete_and_check_clean(&c, "after the half start");
}
