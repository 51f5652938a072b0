//! The config.json files that containerd (ctr), Docker and podman wrote on this kind of
//! machine load and run under berth, with root.path pointed at the test rootfs, their
//! host-specific bind sources replaced by files this test makes, and Docker's prestart hook
//! (a libnetwork call into a dockerd that does not exist here) dropped. Each runs without a
//! terminal and with one handed over a console socket, as runc hands it to its callers.

mod common;

use std::fs;
use std::io::Read;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

fn fixture(client: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/client-configs")
        .join(format!("{client}-config.json"));
    serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
}

/// A container from `client`'s config, made runnable here; returns it with the output the
/// script inside must print (before the terminal's `tty` line, if any).
fn client_container(client: &str, terminal: bool, runc_device_rules: bool) -> (Ctr, String) {
    let mut c = Ctr::new(client, &["true"]);
    let mut cfg = fixture(client);
    if runc_device_rules {
        add_runc_allowed_devices(&mut cfg);
    }
    cfg["root"]["path"] = json!(rootfs());
    if let Some(hooks) = cfg.get_mut("hooks").and_then(Value::as_object_mut) {
        hooks.remove("prestart");
    }
    // A parent named like the client's (/docker, /libpod_parent, /default) but private to
    // this test process, shared by its tests as the client shares it, and a unique leaf.
    c.cgroup = format!("{}/{}", client_parent(&cfg), c.id);
    cfg["linux"]["cgroupsPath"] = json!(c.cgroup);

    let files = c.bundle.path().join("client-files");
    fs::create_dir_all(&files).unwrap();
    let mut cats = Vec::new();
    let mut expect_files = String::new();
    let mut shm_dir = None;
    for (i, m) in cfg["mounts"].as_array_mut().unwrap().iter_mut().enumerate() {
        let Some(src) = m["source"].as_str() else {
            continue;
        };
        if !src.starts_with("/tmp/clients/") {
            continue;
        }
        let dest = m["destination"].as_str().unwrap().to_string();
        let local = files.join(format!("m{i}"));
        if dest == "/dev/shm" {
            fs::create_dir(&local).unwrap();
            shm_dir = Some(local.clone());
        } else {
            let content = format!("{client} file for {dest}");
            fs::write(&local, format!("{content}\n")).unwrap();
            cats.push(dest);
            expect_files.push_str(&content);
            expect_files.push('\n');
        }
        m["source"] = json!(local);
    }
    let hostname = match cfg["hostname"].as_str() {
        Some(h) => h.to_string(),
        // No hostname in the config: the new UTS namespace keeps the host's.
        None => fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .to_string(),
    };
    let mut script = format!("echo {client}-ok; id -u; hostname");
    if !cats.is_empty() {
        script.push_str(&format!("; cat {}", cats.join(" ")));
    }
    if shm_dir.is_some() {
        script.push_str("; touch /dev/shm/from-container");
    }
    if terminal {
        script.push_str("; tty");
    }
    cfg["process"]["args"] = json!(["sh", "-c", script]);
    cfg["process"]["terminal"] = json!(terminal);
    c.config = cfg;
    c.write();
    let expect = format!("{client}-ok\n0\n{hostname}\n{expect_files}");
    if let Some(d) = shm_dir {
        // Checked by the caller after the run, through the same directory.
        fs::write(files.join("shm-dir"), d.to_str().unwrap()).unwrap();
    }
    (c, expect)
}

/// runc appends these rules (libcontainer/specconv `AllowedDevices`) after the config's own,
/// so the default device nodes can be made and used even under a deny-all rule list.
fn add_runc_allowed_devices(cfg: &mut Value) {
    let rule = |typ: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = json!({"allow": true, "type": typ, "access": access});
        if let Some(m) = major {
            r["major"] = json!(m);
        }
        if let Some(m) = minor {
            r["minor"] = json!(m);
        }
        r
    };
    let rules = [
        rule("c", None, None, "m"),
        rule("b", None, None, "m"),
        rule("c", Some(1), Some(3), "rwm"),
        rule("c", Some(1), Some(8), "rwm"),
        rule("c", Some(1), Some(7), "rwm"),
        rule("c", Some(5), Some(0), "rwm"),
        rule("c", Some(1), Some(5), "rwm"),
        rule("c", Some(1), Some(9), "rwm"),
        rule("c", Some(136), None, "rwm"),
        rule("c", Some(5), Some(2), "rwm"),
    ];
    cfg["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .extend(rules);
}

fn client_parent(cfg: &Value) -> String {
    let cg = cfg["linux"]["cgroupsPath"].as_str().unwrap();
    let parent = cg.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    format!("{parent}-berthtest-{}", std::process::id())
}

/// Removes the shared parent if no other test of this process still has a container in it:
/// like runc, berth leaves a parent that another container still used when it was deleted.
fn remove_parent(client: &str) {
    let parent = client_parent(&fixture(client));
    for h in cgroup_hierarchies() {
        let _ = fs::remove_dir(h.join(parent.trim_start_matches('/')));
    }
}

fn check_shm(c: &Ctr) {
    let marker = c.bundle.path().join("client-files/shm-dir");
    if let Ok(d) = fs::read_to_string(marker) {
        assert!(
            Path::new(&d).join("from-container").exists(),
            "the bind-mounted /dev/shm did not reach the host directory"
        );
    }
}

fn run_plain(client: &str, runc_device_rules: bool) {
    let (c, expect) = client_container(client, false, runc_device_rules);
    let o = c.run();
    assert_ok(&o, &format!("{client} run"));
    assert_eq!(stdout(&o), expect);
    check_shm(&c);
    c.assert_nothing_left();
    drop(c);
    remove_parent(client);
}

/// Receives the pty master berth sends over the console socket (SCM_RIGHTS, as runc).
fn recv_master(listener: &UnixListener) -> OwnedFd {
    let (stream, _) = listener.accept().unwrap();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = rustix::net::RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 256];
    rustix::net::recvmsg(
        &stream,
        &mut [std::io::IoSliceMut::new(&mut name)],
        &mut cmsg,
        rustix::net::RecvFlags::CMSG_CLOEXEC,
    )
    .unwrap();
    for msg in cmsg.drain() {
        if let rustix::net::RecvAncillaryMessage::ScmRights(mut fds) = msg {
            if let Some(fd) = fds.next() {
                return fd;
            }
        }
    }
    panic!("the console socket carried no file descriptor");
}

fn run_with_terminal(client: &str, runc_device_rules: bool) {
    let (c, expect) = client_container(client, true, runc_device_rules);
    let sock = c.bundle.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    assert_ok(
        &c.create_with(&["--console-socket", sock.to_str().unwrap()]),
        &format!("{client} create --console-socket"),
    );
    let master = recv_master(&listener);
    assert_ok(&c.start(), "start");
    let mut out = Vec::new();
    let mut f = fs::File::from(master);
    // The master reads EIO once the last slave fd closes (the container exited).
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc_eio()) => break,
            Err(e) => panic!("read pty master: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&out).replace("\r\n", "\n");
    assert_eq!(text, format!("{expect}/dev/pts/0\n"));
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    check_shm(&c);
    c.assert_nothing_left();
    drop(c);
    remove_parent(client);
}

fn libc_eio() -> i32 {
    rustix::io::Errno::IO.raw_os_error()
}

#[test]
fn ctr_config_runs() {
    if !need_root() {
        return;
    }
    run_plain("ctr", false);
}

#[test]
fn ctr_config_runs_with_a_terminal() {
    if !need_root() {
        return;
    }
    run_with_terminal("ctr", false);
}

#[test]

fn docker_config_runs() {
    run_plain("docker", false);
}

#[test]

fn docker_config_runs_with_a_terminal() {
    run_with_terminal("docker", false);
}

#[test]

fn podman_config_runs() {
    run_plain("podman", false);
}

#[test]

fn podman_config_runs_with_a_terminal() {
    run_with_terminal("podman", false);
}

// Until that bug is fixed: the same configs with runc's implicit rules written out, so
// everything else in them (seccomp, sysctls, binds, rlimits, umask, terminal) is covered.

#[test]
fn docker_config_with_runc_device_rules_runs() {
    if !need_root() {
        return;
    }
    run_plain("docker", true);
}

#[test]
fn docker_config_with_runc_device_rules_runs_with_a_terminal() {
    if !need_root() {
        return;
    }
    run_with_terminal("docker", true);
}

#[test]
fn podman_config_with_runc_device_rules_runs() {
    if !need_root() {
        return;
    }
    run_plain("podman", true);
}

#[test]
fn podman_config_with_runc_device_rules_runs_with_a_terminal() {
    if !need_root() {
        return;
    }
    run_with_terminal("podman", true);
}
