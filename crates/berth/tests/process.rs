//! The container's process as the config gives it, seen from inside: output and exit status
//! through `run`, signals forwarded, env, cwd, user and groups, rlimits, umask,
//! noNewPrivileges, oomScoreAdj, capabilities, extra fds and socket activation, and failures
//! of the program after `start`. Real containers: these tests run as root.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::json;

/// The exit status of `berth run`, or a panic (after removing the container) if it does
/// not exit within 5 seconds.
fn run_status(c: &Ctr, mut child: std::process::Child) -> std::process::ExitStatus {
    let t = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > Duration::from_secs(5) {
            let _ = c.cmd(&["delete", "--force", &c.id]);
            let _ = child.kill();
            panic!("berth run did not exit after its container was signalled");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn run_prints_container_stdout_and_cleans_up() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("stdout", &["echo", "hello from berth"]);
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "hello from berth\n");
    c.assert_nothing_left();
}

#[test]
fn run_propagates_exit_code() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("exit7", &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let o = c.run();
    assert_eq!(o.status.code(), Some(7), "stderr {:?}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    c.assert_nothing_left();
}

#[test]
fn run_exits_128_plus_signal_when_container_is_killed() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("sigkill", &["sleep", "100"]);
    c.without_ns("pid");
    let child = c.spawn_run();
    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    assert_eq!(run_status(&c, child).code(), Some(137));
    c.assert_nothing_left();
}

#[test]
fn run_forwards_signals_to_the_container() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("sigfwd", &["sleep", "100"]);
    c.without_ns("pid");
    let child = c.spawn_run();
    // "running" is visible before `run` blocks signals for forwarding (the bug that
    // run_forwards_a_signal_that_arrives_right_after_start shows): give it a moment.
    std::thread::sleep(Duration::from_millis(200));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert_eq!(run_status(&c, child).code(), Some(143));
    c.assert_nothing_left();
}

#[test]

fn run_forwards_a_signal_that_arrives_right_after_start() {
    // A poststart hook is a child of `berth run` and runs after the container started:
    // its SIGTERM to its parent lands exactly in that window.
    let mut c = Ctr::new("sigearly", &["sleep", "100"]);
    c.without_ns("pid");
    c.patch(|cfg| {
        cfg["hooks"] = json!({"poststart": [{
            "path": "/bin/sh", "args": ["sh", "-c", "kill -TERM $PPID"]
        }]});
    });
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
    let st = run_status(&c, child);
    let left = c.state_dir().exists();
    let _ = c.cmd(&["delete", "--force", &c.id]);
    assert_eq!(st.code(), Some(143), "berth run ended with {st:?}");
    assert!(!left, "the container outlived `berth run`");
    c.assert_nothing_left();
}

#[test]
fn env_and_cwd_are_set() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("envcwd", &["sh", "-c", "echo \"$FOO|$BAR\"; pwd"]);
    c.patch(|cfg| {
        cfg["process"]["env"] = json!(["PATH=/bin", "FOO=foo value", "BAR=x=y"]);
        cfg["process"]["cwd"] = json!("/etc");
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "foo value|x=y\n/etc\n");
}

#[test]
fn only_the_configured_env_is_seen() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("envonly", &["env"]);
    c.patch(|cfg| cfg["process"]["env"] = json!(["PATH=/bin", "ONLY=1"]));
    let o = c
        .berth()
        .env("LEAKED_FROM_HOST", "1")
        .arg("run")
        .arg("--bundle")
        .arg(c.bundle.path())
        .arg(&c.id)
        .output()
        .unwrap();
    assert_ok(&o, "run");
    let mut lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    lines.sort();
    // HOME is filled in from /etc/passwd by runc when unset; accept either.
    lines.retain(|l| !l.starts_with("HOME="));
    assert_eq!(lines, ["ONLY=1", "PATH=/bin"]);
}

#[test]
fn user_uid_gid_and_additional_groups() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("user", &["sh", "-c", "id -u; id -g; id -G; id -un"]);
    c.patch(|cfg| {
        cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]});
    });
    let o = c.run();
    assert_ok(&o, "run");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1000", "{out}");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups, ["1000", "2000"], "{out}");
    assert_eq!(lines[3], "tester", "{out}");
}

#[test]
fn root_user_has_no_supplementary_groups_from_the_host() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("rootgrp", &["id", "-G"]);
    c.patch(|cfg| cfg["process"]["user"] = json!({"uid": 0, "gid": 0}));
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o).trim(), "0");
}

#[test]
fn run_propagates_every_exit_code() {
    if !need_root() {
        return;
    }
    let cases = [0, 1, 2, 126, 200, 255];
    let ctrs: Vec<Ctr> = cases
        .iter()
        .map(|code| Ctr::new("codes", &["sh", "-c", &format!("exit {code}")]))
        .collect();
    for (c, code) in ctrs.iter().zip(cases) {
        assert_eq!(c.run().status.code(), Some(code));
        c.assert_nothing_left();
    }
}

#[test]
fn bundle_defaults_to_the_current_directory_and_ids_may_use_runc_characters() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("cwd", &["echo", "from cwd bundle"]);
    c.id = format!("a+b.c_d-E9-{}", c.id);
    let o = c
        .berth()
        .current_dir(c.bundle.path())
        .args(["run", &c.id])
        .output()
        .unwrap();
    assert_ok(&o, "run with the bundle in the cwd");
    assert_eq!(stdout(&o), "from cwd bundle\n");
    c.assert_nothing_left();
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("caps", &["grep", "^Cap", "/proc/self/status"]);
    let out = run_ok(&c);
    // berth spec: CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("{field} missing: {out}"));
        assert!(line.ends_with(&want), "{line} != {want}");
    }
}

#[test]
fn rlimits_no_new_privileges_and_oom_score_adj_apply() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "rlimits",
        &[
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn; grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
        ],
    );
    c.patch(|cfg| {
        cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1000, "soft": 512}]);
        cfg["process"]["oomScoreAdj"] = json!(123);
    });
    let out = run_ok(&c);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "512", "{out}");
    assert_eq!(lines[1], "1000", "{out}");
    assert!(lines[2].ends_with('1'), "{out}");
    assert_eq!(lines[3], "123", "{out}");
}

#[test]
fn umask_applies() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new(
        "umask",
        &["sh", "-c", "umask; touch /tmp/f; stat -c %a /tmp/f"],
    );
    c.patch(|cfg| cfg["process"]["user"]["umask"] = json!(0o077));
    assert_eq!(run_ok(&c), "0077\n600\n");
}

#[test]
fn preserve_fds_passes_extra_fds() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("preserve", &["sh", "-c", "cat <&3"]);
    let data = c.bundle.path().join("fd3.txt");
    fs::write(&data, "through fd 3\n").unwrap();
    // A shell gives berth the file as fd 3, as a caller passing extra fds would.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec \"$@\" 3<\"$FD3\"")
        .arg("sh")
        .arg(BERTH)
        .arg("--root")
        .arg(c.root.path())
        .args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(c.bundle.path())
        .arg(&c.id)
        .env("FD3", &data)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_ok(&o, "run --preserve-fds 1");
    assert_eq!(stdout(&o), "through fd 3\n");
}

#[test]
fn preserve_fds_near_the_u32_limit_keeps_stdio() {
    if !need_root() {
        return;
    }
    // 3 + 4294967293 wrapped to 0: the init closed its stdin, stdout and stderr (a debug
    // build panicked), so the program ran with no output at all.
    let c = Ctr::new("preservemax", &["sh", "-c", "echo out; echo err >&2"]);
    let o = c
        .berth()
        .args(["run", "--preserve-fds", "4294967293", "--bundle"])
        .arg(c.bundle.path())
        .arg(&c.id)
        .output()
        .unwrap();
    assert_ok(&o, "run --preserve-fds 4294967293");
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    c.assert_nothing_left();
}

#[test]
fn socket_activation_passes_listen_fds_and_tells_the_program() {
    if !need_root() {
        return;
    }
    let c = Ctr::new(
        "listen",
        &["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"],
    );
    let data = c.bundle.path().join("socket.txt");
    fs::write(&data, "activated\n").unwrap();
    // systemd's protocol: fds from 3 on, LISTEN_FDS their count, LISTEN_PID the receiver
    // (the shell execs berth, so its pid is berth's).
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("export LISTEN_PID=$$ LISTEN_FDS=1; exec \"$@\" 3<\"$FD3\"")
        .arg("sh")
        .arg(BERTH)
        .arg("--root")
        .arg(c.root.path())
        .args(["run", "--bundle"])
        .arg(c.bundle.path())
        .arg(&c.id)
        .env("FD3", &data)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_ok(&o, "run with LISTEN_FDS=1");
    assert_eq!(stdout(&o), "1 1\nactivated\n");
}

/// The program is gone between create and start: `start` fails naming the step, in one
/// line on stderr and in --log, and the container reads "stopped".
#[test]
fn start_fails_when_the_program_vanished_after_create() {
    if !need_root() {
        return;
    }
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

/// Duplicate additionalGids reach setgroups once each (as runc).
#[test]
fn duplicate_additional_gids_are_set_once() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
