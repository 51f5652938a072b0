//! seccomp for real: Docker's and podman's profiles, errno actions, argument filters and flags,
//! the features document, a notify fd handed to its listener, profiles that deny what the
//! init's last steps might use or execve itself, and a filter without noNewPrivileges. These
//! tests run as root.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

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

fn fixture_seccomp(client: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/client-configs")
        .join(format!("{client}-config.json"));
    let cfg: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["linux"]["seccomp"].clone()
}

/// Docker's and podman's default profiles load, and a container runs under them (in
/// seccomp filter mode).
#[test]
fn docker_and_podman_seccomp_profiles_load_and_run() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    for client in ["docker", "podman"] {
        let mut cfg = berth.bundle(
            bundle.path(),
            &[
                "sh",
                "-c",
                "grep Seccomp: /proc/self/status; echo hi > /tmp/f && cat /tmp/f",
            ],
        );
        cfg["linux"]["seccomp"] = fixture_seccomp(client);
        Berth::write_config(bundle.path(), &cfg);
        let out = berth.run_container(bundle.path(), &id(client));
        let t = text(&out);
        assert!(out.status.success(), "{client}: {t}");
        assert_eq!(t.trim(), "Seccomp:\t2\nhi", "{client}: {t}");
    }
}

/// A profile is compiled once per state root: the second container of the same profile
/// loads the cached program, which blocks exactly what the profile blocks; a cache entry
/// holding another profile's program is never loaded for this one.
#[test]
fn a_cached_filter_blocks_what_its_profile_blocks() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let cache = berth.root.join("seccomp#cache");
    let run = |denied: &[&str], name: &str| {
        let script = format!(
            "d=/tmp/{name}; mkdir $d 2>&1 && echo mkdir-ok; rmdir $d 2>&1 && echo rmdir-ok; true"
        );
        let mut cfg = berth.bundle(bundle.path(), &["sh", "-c", &script]);
        cfg["linux"]["seccomp"] = denying(denied);
        Berth::write_config(bundle.path(), &cfg);
        let out = berth.run_container(bundle.path(), &id(name));
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    let first = run(&["rmdir"], "cache-a");
    assert!(
        first.contains("mkdir-ok") && !first.contains("rmdir-ok"),
        "{first}"
    );
    let entries = || fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(entries(), 1, "one compiled profile cached");
    let again = run(&["rmdir"], "cache-b");
    assert_eq!(
        again.replace("cache-b", "cache-a"),
        first,
        "the cached program behaves as the compiled one"
    );
    assert_eq!(entries(), 1);
    // Make every entry claim to be the rmdir profile's program, then run a mkdir profile:
    // its own entry (written below) must be compiled, not taken from a lying file.
    let entry = fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let other = run(&["mkdir"], "cache-c");
    assert!(!other.contains("mkdir-ok"), "{other}");
    assert_eq!(entries(), 2);
    let rmdir_program = fs::read(&entry).unwrap();
    for e in fs::read_dir(&cache).unwrap().flatten() {
        fs::write(e.path(), &rmdir_program).unwrap();
    }
    let other = run(&["mkdir"], "cache-d");
    assert!(
        !other.contains("mkdir-ok"),
        "the mkdir profile's own filter: {other}"
    );
}

/// SCMP_ACT_ERRNO with errnoRet, argument conditions (EQ and MASKED_EQ), and filter
/// flags.
#[test]
fn seccomp_errno_args_and_flags() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let mut cfg = berth.bundle(
        bundle.path(),
        &[
            "sh",
            "-c",
            "mkdir /tmp/d 2>&1; touch /tmp/f; \
             chmod 4755 /tmp/f 2>/dev/null || echo setuid-denied; \
             chmod 755 /tmp/f && echo chmod-ok; \
             kill -0 $$ 2>/dev/null || echo kill0-denied; kill -CONT $$ && echo cont-ok",
        ],
    );
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["no_such_syscall_in_any_kernel"], "action": "SCMP_ACT_ERRNO"}
        ]
    });
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("scmp"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let lines: Vec<&str> = t.lines().collect();
    // errno 95 is EOPNOTSUPP.
    assert!(lines[0].contains("not supported"), "{t}");
    assert_eq!(
        lines[1..],
        ["setuid-denied", "chmod-ok", "kill0-denied", "cont-ok"],
        "{t}"
    );
}

/// `features` reports the seccomp architectures, flags and actions that work here.
#[test]
fn features_reports_working_seccomp() {
    if !need_root() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("features")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seccomp = &doc["linux"]["seccomp"];
    let has = |key: &str, v: &str| seccomp[key].as_array().unwrap().contains(&json!(v));
    assert!(has("archs", "SCMP_ARCH_X86_64"));
    assert!(has("supportedFlags", "SECCOMP_FILTER_FLAG_LOG"));
    assert!(has("actions", "SCMP_ACT_ERRNO"));
    assert!(has("actions", "SCMP_ACT_NOTIFY"));
}

/// SCMP_ACT_NOTIFY: berth hands the notify fd and the container process state to the
/// listener at listenerPath (SCM_RIGHTS, as runc); the listener answers mkdir with a fake
/// success, so the container sees mkdir succeed and no directory appear.
#[test]
fn seccomp_notify_fd_reaches_the_listener() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(Value, u64)>();
    std::thread::spawn(move || {
        use std::os::fd::{AsFd, IntoRawFd};
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let (n, fds) = berth_common::fdpass::recv_fds(conn.as_fd(), &mut buf).unwrap();
        let fd = fds.into_iter().next().map(IntoRawFd::into_raw_fd);
        let state: Value = serde_json::from_slice(&buf[..n]).unwrap();
        // libseccomp's notify calls take the raw fd; it stays open for the test's life.
        let fd = fd.expect("no fd with the state");
        let mut answered = 0;
        while let Ok(req) = libseccomp::ScmpNotifReq::receive(fd) {
            let resp = libseccomp::ScmpNotifResp::new_val(
                req.id,
                0,
                libseccomp::ScmpNotifRespFlags::empty(),
            );
            let _ = resp.respond(fd);
            answered += 1;
            let _ = tx.send((state.clone(), answered));
        }
    });
    let mut cfg = berth.bundle(
        bundle.path(),
        &[
            "sh",
            "-c",
            "mkdir /tmp/notified && echo mkdir-ok; ls -d /tmp/notified 2>/dev/null || echo absent",
        ],
    );
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock_path,
        "listenerMetadata": "berth-test-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    Berth::write_config(bundle.path(), &cfg);
    let id = id("notify");
    let out = berth.run_container(bundle.path(), &id);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(
        t.split_whitespace().collect::<Vec<_>>(),
        ["mkdir-ok", "absent"],
        "{t}"
    );
    let (state, answered) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(answered >= 1);
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], json!("berth-test-metadata"));
    assert_eq!(state["state"]["id"], json!(id));
    assert!(state["pid"].as_i64().unwrap() > 0, "{state}");
}

/// A profile that predates close_range (runtime-tools' default, many hand-written ones)
/// must not stop the program: the init's fd work happens before any filter is loaded.
/// With no_new_privs the filter comes last, so it may also deny everything else the init
/// does on its way (accept, signal resets, identity and capability calls, chdir).
#[test]
fn seccomp_profile_without_close_range_runs_the_program() {
    if !need_root() {
        return;
    }
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

/// execve itself denied by the profile: `start` (filter loaded last, with no_new_privs) and
/// `run` (filter loaded before the capabilities go, without it) both fail with the init's
/// error instead of exiting 0 with nothing run.
#[test]
fn start_and_run_fail_when_seccomp_denies_execve() {
    if !need_root() {
        return;
    }
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

/// Docker's and podman's default seccomp profiles come with noNewPrivileges false: setuid
/// programs must keep working, so loading the filter must not set no_new_privs (libseccomp
/// does unless told otherwise).
#[test]
fn seccomp_without_no_new_privileges_leaves_it_unset() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "seccomp-nnp",
        &["grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"],
    );
    c.patch(|cfg| {
        cfg["process"]["noNewPrivileges"] = json!(false);
        cfg["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}],
        });
    });
    let out = run_ok(&c);
    assert_eq!(out, "NoNewPrivs:\t0\nSeccomp:\t2\n", "{out}");
}
