//! config.json fields beyond the basics, each checked from inside a real container:
//! capabilities, rlimits, noNewPrivileges, umask, default devices and /dev symlinks,
//! network namespace, domainname, sysctl, relative root path, user namespace mappings,
//! and terminal relaying by `run` in the foreground. These tests run as root.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use serde_json::json;

fn run_ok(c: &Ctr) -> String {
    let o = c.run();
    assert_ok(&o, "run");
    stdout(&o)
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
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
    let mut c = Ctr::new(
        "umask",
        &["sh", "-c", "umask; touch /tmp/f; stat -c %a /tmp/f"],
    );
    c.patch(|cfg| cfg["process"]["user"]["umask"] = json!(0o077));
    assert_eq!(run_ok(&c), "0077\n600\n");
}

#[test]
fn default_devices_and_dev_symlinks_exist() {
    let c = Ctr::new(
        "devices",
        &[
            "sh",
            "-c",
            "for d in null zero full random urandom tty; do stat -c '%n %t:%T %F' /dev/$d; done; \
             for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; \
             head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok",
        ],
    );
    let out = run_ok(&c);
    let expect = "/dev/null 1:3 character special file\n\
                  /dev/zero 1:5 character special file\n\
                  /dev/full 1:7 character special file\n\
                  /dev/random 1:8 character special file\n\
                  /dev/urandom 1:9 character special file\n\
                  /dev/tty 5:0 character special file\n\
                  fd /proc/self/fd\n\
                  stdin /proc/self/fd/0\n\
                  stdout /proc/self/fd/1\n\
                  stderr /proc/self/fd/2\n\
                  ptmx pts/ptmx\n\
                  4\n\
                  null-ok\n";
    assert_eq!(out, expect);
}

#[test]
fn new_network_namespace_has_only_loopback() {
    let c = Ctr::new("netns", &["ls", "/sys/class/net"]);
    assert_eq!(run_ok(&c), "lo\n");
}

#[test]
fn domainname_and_sysctl_apply() {
    let mut c = Ctr::new(
        "sysctl",
        &[
            "sh",
            "-c",
            "cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_unprivileged_port_start",
        ],
    );
    c.patch(|cfg| {
        cfg["domainname"] = json!("example.test");
        cfg["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "80"});
    });
    assert_eq!(run_ok(&c), "example.test\n80\n");
}

#[test]
fn relative_root_path_resolves_against_the_bundle() {
    let mut c = Ctr::new("relroot", &["echo", "relative"]);
    std::os::unix::fs::symlink(rootfs(), c.bundle.path().join("rootfs")).unwrap();
    c.patch(|cfg| cfg["root"]["path"] = json!("rootfs"));
    assert_eq!(run_ok(&c), "relative\n");
}

#[test]

fn user_namespace_maps_ids() {
    let mut c = Ctr::new(
        "userns",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u",
        ],
    );
    c.patch(|cfg| {
        cfg["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let out = run_ok(&c);
    let norm: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        norm,
        vec![
            vec!["0", "100000", "65536"],
            vec!["0", "100000", "65536"],
            vec!["0"]
        ],
        "{out}"
    );
}

#[test]
fn run_in_the_foreground_relays_a_terminal() {
    let mut c = Ctr::new("runtty", &["sh", "-c", "tty; echo on-a-tty"]);
    c.patch(|cfg| cfg["process"]["terminal"] = json!(true));
    let out = run_ok(&c).replace("\r\n", "\n");
    assert_eq!(out, "/dev/pts/0\non-a-tty\n");
    c.assert_nothing_left();
}

#[test]
fn kill_of_a_created_container_stops_it() {
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
fn preserve_fds_passes_extra_fds() {
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

#[test]
fn features_document_is_json_and_lists_what_tests_use() {
    let o = std::process::Command::new(BERTH)
        .arg("features")
        .output()
        .unwrap();
    assert_ok(&o, "features");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["ociVersionMax"].as_str().is_some(), "{v}");
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"] {
        assert!(ns.contains(&want), "{want} not in {ns:?}");
    }
}

#[test]
fn list_of_an_empty_or_missing_root_is_empty() {
    let o = std::process::Command::new(BERTH)
        .args(["--root", "/nonexistent/berth-root", "list", "-q"])
        .output()
        .unwrap();
    assert_ok(&o, "list");
    assert_eq!(stdout(&o), "");
}

#[test]
fn bind_mounts_rw_and_ro_from_the_host() {
    let mut c = Ctr::new(
        "binds",
        &[
            "sh",
            "-c",
            "cat /tmp/rw/in; echo out > /tmp/rw/out; \
             if echo x > /tmp/ro/x; then echo ro-writable; else echo ro-denied; fi; cat /tmp/ro/in",
        ],
    );
    let rw = c.bundle.path().join("rw");
    let ro = c.bundle.path().join("ro");
    fs::create_dir(&rw).unwrap();
    fs::create_dir(&ro).unwrap();
    fs::write(rw.join("in"), "rw-in\n").unwrap();
    fs::write(ro.join("in"), "ro-in\n").unwrap();
    c.patch(|cfg| {
        let m = cfg["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/tmp/rw", "type": "bind", "source": rw, "options": ["rbind", "rw"]}));
        m.push(json!({"destination": "/tmp/ro", "type": "bind", "source": ro, "options": ["bind", "ro"]}));
    });
    let o = c.run();
    assert_ok(&o, "run");
    assert_eq!(stdout(&o), "rw-in\nro-denied\nro-in\n");
    assert_eq!(fs::read_to_string(rw.join("out")).unwrap(), "out\n");
    assert!(!ro.join("x").exists());
    c.assert_nothing_left();
}

#[test]
fn tmpfs_mount_options_apply() {
    let mut c = Ctr::new(
        "tmpfsopts",
        &[
            "sh",
            "-c",
            "stat -c %a /tmp/t; grep ' /tmp/t ' /proc/self/mountinfo",
        ],
    );
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp/t", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "mode=0710", "size=1m"]
        }));
    });
    let out = run_ok(&c);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("710"), "{out}");
    let mi = lines.next().unwrap_or_default();
    for opt in ["nosuid", "nodev", "noexec"] {
        assert!(
            mi.split(' ').nth(5).unwrap().contains(opt),
            "{opt} missing: {mi}"
        );
    }
    assert!(mi.contains("size=1024k"), "{mi}");
}

#[test]
fn unknown_mount_type_fails_cleanly_at_create() {
    let mut c = Ctr::new("badmount", &["true"]);
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp/x", "type": "no-such-fs", "source": "none"
        }));
    });
    let o = c.create();
    assert_one_line_error(&o, &["/tmp/x"]);
    c.assert_nothing_left();
}

#[test]
fn joining_a_namespace_by_path_shares_it() {
    let a = Ctr::new("nsowner", &["sleep", "100"]);
    a.create_and_start();
    let pid = a.pid();
    let mut b = Ctr::new("nsjoiner", &["readlink", "/proc/self/ns/net"]);
    b.patch(|cfg| {
        for n in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!(format!("/proc/{pid}/ns/net"));
            }
        }
    });
    let out = run_ok(&b);
    let want = fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(out.trim(), want.to_str().unwrap());
    assert_ne!(
        fs::read_link("/proc/self/ns/net").unwrap(),
        want,
        "container A should have its own netns"
    );
}

#[test]
fn joining_a_missing_namespace_path_fails_cleanly() {
    let mut c = Ctr::new("nsmissing", &["true"]);
    c.patch(|cfg| {
        for n in cfg["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!("/proc/999999999/ns/net");
            }
        }
    });
    let o = c.create();
    assert_one_line_error(&o, &["/proc/999999999/ns/net"]);
    c.assert_nothing_left();
}

#[test]
fn poststart_and_poststop_hooks_run() {
    let mut c = Ctr::new("hooks", &["sleep", "100"]);
    let dir = c.bundle.path().to_path_buf();
    c.patch(|cfg| {
        let hook = |name: &str| {
            json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}.json", dir.display())]}])
        };
        cfg["hooks"] = json!({
            "poststart": hook("poststart"),
            "poststop": hook("poststop"),
        });
    });
    c.create_and_start();
    let st: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("poststart.json")).unwrap()).unwrap();
    assert_eq!(st["status"], "running");
    assert!(!dir.join("poststop.json").exists());
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    let st: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("poststop.json")).unwrap()).unwrap();
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["id"], c.id.as_str());
    c.assert_nothing_left();
}

/// A hook past its timeout is killed and fails the create with one line; a failing hook
/// fails it naming its exit status. Either way nothing is left behind.
#[test]
fn hooks_that_time_out_or_fail_fail_the_create() {
    let mut c = Ctr::new("hook-timeout", &["true"]);
    c.patch(|cfg| {
        cfg["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
        ]});
    });
    let started = std::time::Instant::now();
    let o = c.create();
    let took = started.elapsed();
    assert_one_line_error(&o, &["createRuntime", "/bin/sleep", "timed out after 1s"]);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    c.assert_nothing_left();

    let mut c = Ctr::new("hook-fails", &["true"]);
    c.patch(|cfg| {
        cfg["hooks"] = json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}
        ]});
    });
    let o = c.create();
    assert_one_line_error(&o, &["prestart", "/bin/sh", "exit status: 3"]);
    c.assert_nothing_left();
}

/// Docker's and podman's default seccomp profiles come with noNewPrivileges false: setuid
/// programs must keep working, so loading the filter must not set no_new_privs (libseccomp
/// does unless told otherwise).
#[test]
fn seccomp_without_no_new_privileges_leaves_it_unset() {
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
