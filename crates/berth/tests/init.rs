//! The container init from start to execve, tried for real: seccomp profiles that deny what
//! the init's last steps might use, failures after `start` that must reach `start`/`run`
//! (and --log), the cwd escape of CVE-2024-21626 through `..`, namespace paths of the wrong
//! type, duplicate additional gids, and the state each kind of hook reads on stdin.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// A seccomp profile that allows everything but `denied` (EPERM).
fn denying(denied: &[&str]) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}

fn with_log(c: &Ctr, log: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = c.berth();
    cmd.arg("--log").arg(log).args(args);
    run_detached_stdio(cmd)
}

/// A profile that predates close_range (runtime-tools' default, many hand-written ones)
/// must not stop the program: the init's fd work happens before any filter is loaded.
/// With no_new_privs the filter comes last, so it may also deny everything else the init
/// does on its way (accept, signal resets, identity and capability calls, chdir).
#[test]
fn seccomp_profile_without_close_range_runs_the_program() {
    for (nnp, denied) in [
        (false, vec!["close_range", "getdents64"]),
        (
            true,
            vec![
                "close_range",
                "getdents64",
                "accept4",
                "accept",
                "recvfrom",
                "sendto",
                "rt_sigprocmask",
                "rt_sigaction",
                "prctl",
                "capset",
                "setgroups",
                "setresuid",
                "setresgid",
                "chdir",
                "fchdir",
                "openat2",
            ],
        ),
    ] {
        let mut c = Ctr::new("scmp-late", &["echo", "ran"]);
        c.patch(|cfg| {
            cfg["process"]["noNewPrivileges"] = json!(nnp);
            cfg["linux"]["seccomp"] = denying(&denied);
        });
        let o = c.run();
        assert_ok(&o, &format!("run with noNewPrivileges {nnp}"));
        assert_eq!(stdout(&o), "ran\n", "noNewPrivileges {nnp}");

        // The same through create + start (the init waits on the start socket).
        let mut c = Ctr::new("scmp-late-cs", &["sleep", "100"]);
        c.patch(|cfg| {
            cfg["process"]["noNewPrivileges"] = json!(nnp);
            cfg["linux"]["seccomp"] = denying(&denied);
        });
        c.create_and_start();
        assert_eq!(c.status(), "running");
        let comm = fs::read_to_string(format!("/proc/{}/comm", c.pid())).unwrap();
        assert_eq!(comm.trim(), "sleep", "noNewPrivileges {nnp}");
    }
}

/// The program is gone between create and start: `start` fails naming the step, in one
/// line on stderr and in --log, and the container reads "stopped".
#[test]
fn start_fails_when_the_program_vanished_after_create() {
    let mut c = Ctr::new("vanish", &["/opt/prog"]);
    let opt = c.bundle.path().join("opt");
    fs::create_dir(&opt).unwrap();
    let prog = opt.join("prog");
    fs::write(&prog, "#!/bin/sh\necho ran\n").unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    let src = opt.display().to_string();
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/opt", "type": "bind", "source": src, "options": ["rbind", "ro"]
        }));
    });
    assert_ok(&c.create(), "create");
    fs::remove_file(&prog).unwrap();
    let log = c.bundle.path().join("start.log");
    let o = with_log(&c, &log, &["start", &c.id]);
    assert_one_line_error(&o, &["container init", "exec", "/opt/prog", "no such file"]);
    let logged = fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("/opt/prog"),
        "--log has no error: {logged:?}"
    );
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

/// execve itself denied by the profile: `start` (filter loaded last, with no_new_privs) and
/// `run` (filter loaded before the capabilities go, without it) both fail with the init's
/// error instead of exiting 0 with nothing run.
#[test]
fn start_and_run_fail_when_seccomp_denies_execve() {
    let mut c = Ctr::new("noexec-start", &["echo", "ran"]);
    c.patch(|cfg| {
        cfg["process"]["noNewPrivileges"] = json!(true);
        cfg["linux"]["seccomp"] = denying(&["execve", "execveat"]);
    });
    assert_ok(&c.create(), "create");
    let o = c.start();
    assert_one_line_error(&o, &["container init", "exec \"echo\"", "not permitted"]);
    c.wait_status("stopped");

    let mut c = Ctr::new("noexec-run", &["echo", "ran"]);
    c.patch(|cfg| {
        cfg["process"]["noNewPrivileges"] = json!(false);
        cfg["linux"]["seccomp"] = denying(&["execve", "execveat"]);
    });
    let log = c.bundle.path().join("run.log");
    let mut cmd = c.berth();
    cmd.arg("--log").arg(&log).arg("run").arg("--bundle");
    cmd.arg(c.bundle.path()).arg(&c.id);
    let o = cmd.output().unwrap();
    assert_one_line_error(&o, &["container init", "exec \"echo\"", "not permitted"]);
    assert!(stdout(&o).is_empty(), "the program ran: {:?}", stdout(&o));
    assert!(fs::read_to_string(&log)
        .unwrap()
        .contains("exec \\\"echo\\\""));
    c.assert_nothing_left();
}

/// CVE-2024-21626 through `..`: a cwd that reaches /proc/self/fd/N by a path the old prefix
/// check did not catch is resolved inside the root (no magic links) and refused, for
/// create and for exec; an ordinary cwd with `..` and symlinks still works.
#[test]
fn cve_2024_21626_cwd_with_dotdot_stays_in_the_root() {
    for n in 3..8 {
        for cwd in [
            format!("/proc/../proc/self/fd/{n}"),
            format!("/proc/./thread-self/fd/{n}"),
        ] {
            let mut c = Ctr::new("cwd-fd", &["pwd"]);
            c.patch(|cfg| cfg["process"]["cwd"] = json!(cwd));
            let o = c.create();
            assert_one_line_error(&o, &["cwd", &cwd]);
            c.assert_nothing_left();
        }
    }
    let mut c = Ctr::new("cwd-ok", &["pwd"]);
    c.patch(|cfg| cfg["process"]["cwd"] = json!("/../../tmp/../etc/.."));
    let o = c.run();
    assert_ok(&o, "run with a cwd full of ..");
    assert_eq!(stdout(&o), "/\n");

    let c = Ctr::new("cwd-exec", &["sleep", "100"]);
    c.create_and_start();
    for cwd in ["/proc/../proc/self/fd/3", "/proc/../proc/1/cwd/../.."] {
        let o = c.cmd(&["exec", "--cwd", cwd, &c.id, "pwd"]);
        assert!(
            !o.status.success() || stdout(&o) == "/\n",
            "exec with cwd {cwd} ran outside the root: {:?}",
            stdout(&o)
        );
    }
    let o = c.cmd(&["exec", "--cwd", "/proc/../proc/self/fd/3", &c.id, "pwd"]);
    assert_one_line_error(&o, &["cwd"]);
}

/// While the init waits for `start` it holds no directory of the host (before, the locked
/// state dir was open in it when it entered the cwd).
#[test]
fn waiting_init_holds_no_host_directory() {
    let c = Ctr::new("init-fds", &["true"]);
    assert_ok(&c.create(), "create");
    let pid = c.pid();
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let target = fs::read_link(e.path()).unwrap_or_default();
        let is_dir = fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
        assert!(
            !is_dir,
            "fd {:?} of the init is the directory {target:?}",
            e.file_name()
        );
    }
}

/// A namespace path of another type than declared is a clear create error (setns gets the
/// declared type); the right type joins.
#[test]
fn namespace_path_of_the_wrong_type_is_refused() {
    let mut c = Ctr::new("ns-type", &["true"]);
    c.without_ns("cgroup").patch(|cfg| {
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup", "path": "/proc/self/ns/ipc"}));
    });
    let o = c.create();
    assert_one_line_error(
        &o,
        &["cgroup namespace", "/proc/self/ns/ipc", "not a cgroup"],
    );
    c.assert_nothing_left();

    let host_uts = fs::read_link("/proc/self/ns/uts").unwrap();
    let mut c = Ctr::new("ns-type-ok", &["readlink", "/proc/self/ns/uts"]);
    c.without_ns("uts").patch(|cfg| {
        cfg["hostname"] = Value::Null;
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "uts", "path": "/proc/self/ns/uts"}));
    });
    let o = c.run();
    assert_ok(&o, "run joining the host's uts namespace");
    assert_eq!(stdout(&o).trim(), host_uts.to_str().unwrap());
}

/// Duplicate additionalGids reach setgroups once each (as runc).
#[test]
fn duplicate_additional_gids_are_set_once() {
    let mut c = Ctr::new("gids", &["grep", "^Groups:", "/proc/self/status"]);
    c.patch(|cfg| cfg["process"]["user"]["additionalGids"] = json!([20, 10, 20, 10, 30]));
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["Groups:", "10", "20", "30"]
    );
}

#[test]
fn uid_minus_one_is_refused_not_left_as_root() {
    // setresuid((uid_t)-1) changes nothing: uid 4294967295 ran the program as root.
    for (uid, gid, extra) in [
        (u32::MAX, 0, 0),
        (1000, u32::MAX, 0),
        (1000, 1000, u32::MAX),
    ] {
        let mut c = Ctr::new("uidmax", &["id"]);
        c.patch(|cfg| {
            cfg["process"]["user"] = json!({ "uid": uid, "gid": gid, "additionalGids": [extra] })
        });
        let o = c.run();
        assert_one_line_error(&o, &["process.user", "4294967295", "outside 0-2147483647"]);
        assert!(
            !stdout(&o).contains("uid="),
            "the program ran: {}",
            stdout(&o)
        );
        c.assert_nothing_left();
    }
    // The same through exec -u.
    let c = Ctr::new("uidmaxexec", &["sleep", "30"]);
    c.create_and_start();
    let o = c.cmd(&["exec", "-u", "4294967295", &c.id, "id"]);
    assert_one_line_error(&o, &["process.user", "4294967295"]);
    assert!(
        !stdout(&o).contains("uid="),
        "the program ran: {}",
        stdout(&o)
    );
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    c.assert_nothing_left();
}

/// Every kind of hook reads the state with the status the spec gives for its point, with
/// runc's fields (the spec's State: no pid once stopped); hooks run in the container see the
/// container's pid. Failing poststart and poststop hooks are
/// warnings (stderr and --log): the lifecycle and the remaining hooks go on.
#[test]
fn hooks_read_their_status_and_late_failures_are_warnings() {
    let mut c = Ctr::new("hook-status", &["sleep", "100"]);
    let out = c.bundle.path().join("out");
    fs::create_dir(&out).unwrap();
    let host = out.display().to_string();
    let record = |dir: &str, name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {dir}/{name}.json")]});
    let fail = json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]});
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": host, "options": ["rbind", "rw"]
        }));
        cfg["hooks"] = json!({
            "prestart": [record(&host, "prestart")],
            "createRuntime": [record(&host, "createRuntime")],
            // Before pivot_root: host paths still resolve.
            "createContainer": [record(&host, "createContainer")],
            "startContainer": [record("/out", "startContainer")],
            "poststart": [fail.clone(), record(&host, "poststart")],
            "poststop": [fail, record(&host, "poststop")],
        });
    });
    assert_ok(&c.create(), "create");
    let host_pid = c.pid();
    let log = c.bundle.path().join("hooks.log");
    let o = with_log(&c, &log, &["--log-format", "json", "start", &c.id]);
    assert_ok(&o, "start with a failing poststart hook");
    assert!(
        stderr(&o).contains("warning: poststart hook /bin/sh"),
        "{}",
        stderr(&o)
    );
    assert_eq!(c.status(), "running");
    let o = with_log(
        &c,
        &log,
        &["--log-format", "json", "delete", "--force", &c.id],
    );
    assert_ok(&o, "delete with a failing poststop hook");
    let warnings: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["level"] == "warning")
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0]["msg"].as_str().unwrap().contains("poststart"));
    assert!(warnings[1]["msg"].as_str().unwrap().contains("poststop"));

    for (name, status, in_container) in [
        ("prestart", "created", false),
        ("createRuntime", "created", false),
        ("createContainer", "created", true),
        ("startContainer", "created", true),
        ("poststart", "running", false),
        ("poststop", "stopped", false),
    ] {
        let text = fs::read_to_string(out.join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
        let st: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(st["status"], status, "{name}: {st}");
        assert_eq!(st["id"], c.id.as_str(), "{name}: {st}");
        if name != "poststop" {
            let want = if in_container { 1 } else { host_pid };
            assert_eq!(st["pid"], want, "{name}: {st}");
        }
        // runc's field set for hooks: no pid once stopped, nothing of berth's own state.
        let mut keys: Vec<&str> = st.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        let mut want = vec!["bundle", "id", "ociVersion", "status"];
        if name != "poststop" {
            want.push("pid");
            want.sort_unstable();
        }
        assert_eq!(keys, want, "{name}: {st}");
        assert_eq!(
            st["bundle"],
            c.bundle.path().to_str().unwrap(),
            "{name}: {st}"
        );
    }
    c.assert_nothing_left();
}

/// A state path longer than a socket address holds (a deep --root and a 64-character ID, as
/// containerd's) still reaches the start socket.
#[test]
fn start_socket_works_under_a_state_path_longer_than_sun_path() {
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

/// A failing startContainer hook runs in the init after `start` reached it: `start` fails
/// with the hook's error (before, the init printed it to the container's stderr and `start`
/// exited 0).
#[test]
fn failing_start_container_hook_fails_start() {
    let mut c = Ctr::new("startc-fails", &["sleep", "100"]);
    c.patch(|cfg| {
        cfg["hooks"] = json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}
        ]});
    });
    assert_ok(&c.create(), "create");
    let o = c.start();
    assert_one_line_error(&o, &["startContainer hook /bin/sh", "exit status: 5"]);
    c.wait_status("stopped");
}
