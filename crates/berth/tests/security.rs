//! Regression tests that try the known container escapes against a real berth, as root.
//! Each test names the CVE it replays; docs/SECURITY.md maps protections to these tests.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The attacker of CVE-2019-5736: find the berth process that `#!/proc/self/exe` made run
/// inside the container, hold its /proc/<pid>/exe open, and once it is gone (no more
/// ETXTBSY) write through that handle.
const ATTACKER: &str = r#"#!/bin/sh
P=
while [ -z "$P" ]; do
  if [ -s /victim_pid ]; then P=$(cat /victim_pid); break; fi
  for p in /proc/[0-9]*; do
    if [ "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" = "/proc/self/exe /evil " ]; then P=${p#/proc/}; break; fi
  done
  sleep 0.02
done
while [ "$(tr '\0' ' ' < /proc/$P/cmdline 2>/dev/null)" != "/proc/self/exe /evil " ]; do sleep 0.02; done
if cat /proc/$P/exe > /dev/null 2>&1; then
  exec 3< /proc/$P/exe
  echo opened > /result1
else
  echo open-denied > /result1
  exec sleep 1000
fi
while [ ! -e /go ]; do sleep 0.02; done
if echo pwned >> /proc/self/fd/3; then echo wrote > /result2; else echo write-denied > /result2; fi
exec sleep 1000
"#;

/// A pipe whose buffer is already full: a process writing to it blocks until we read.
fn full_pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    let (r, mut w) = std::io::pipe().unwrap();
    let size = rustix::pipe::fcntl_getpipe_size(&w).unwrap();
    w.write_all(&vec![b'x'; size as usize]).unwrap();
    (r, w)
}

/// Sets up the rootfs for the attack; returns the copy of berth the test runs.
fn cve_2019_5736_setup(bundle: &Bundle, bin_dir: &Path) -> std::path::PathBuf {
    let copy = bin_dir.join("berth");
    copy_executable(Path::new(env!("CARGO_BIN_EXE_berth")), &copy);
    let rootfs = bundle.rootfs();
    // berth is dynamically linked: give the container its loader and libraries, or the
    // `#!/proc/self/exe` execve would fail for want of them and the test would prove nothing.
    copy_libs_for(&copy, &rootfs);
    write_exec(&rootfs.join("evil"), "#!/proc/self/exe\n");
    write_exec(&rootfs.join("attack"), ATTACKER);
    copy
}

/// The line the attacker wrote to `path`, once it is whole: the shell creates the file
/// before it writes, so an empty read means "not yet", not the answer.
fn written_line(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .filter(|s| s.ends_with('\n'))
}

fn finish_attack(rootfs: &Path, copy: &Path, before: &str) {
    std::fs::write(rootfs.join("go"), "").unwrap();
    let result = wait_for(
        "the attacker's write attempt",
        Duration::from_secs(20),
        || written_line(&rootfs.join("result2")),
    );
    assert_eq!(
        sha256(copy),
        before,
        "the berth binary on the host was modified"
    );
    assert_eq!(result.trim(), "write-denied");
}

fn fd_list(berth: &Berth, args: &[&str]) -> Vec<String> {
    let out = berth.run(args);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // `ls -l` lines end in "N -> target": keep N, show the targets on failure. `; true`
    // keeps sh from exec'ing ls, so $$ is the shell and not ls with its own dir fd.
    parse_fds(&t)
}

fn parse_fds(t: &str) -> Vec<String> {
    let mut fds: Vec<String> = t
        .lines()
        .filter(|l| l.contains(" -> "))
        .filter_map(|l| l.split(" -> ").next()?.split_whitespace().last())
        .filter(|f| f.parse::<u32>().is_ok())
        .map(String::from)
        .collect();
    fds.sort();
    if fds.len() > 3 {
        eprintln!("{t}");
    }
    fds
}

/// What berth writes when the container runs it as `/proc/self/exe /evil`: `/evil` is no
/// runtime command, so berth hands it to berth-people, which is not in the container (or,
/// were it there, its usage error).
fn berth_answered(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    text.contains("berth: run /berth-people") || text.contains("Usage")
}

#[test]
fn cve_2019_5736_exec_cannot_overwrite_berth() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let bins = tempfile::tempdir().unwrap();
    let copy = cve_2019_5736_setup(&bundle, bins.path());
    let before = sha256(&copy);
    let berth = Berth::with_binary(copy.clone());
    let cfg = berth.bundle(bundle.path(), &["/attack"]);
    Berth::write_config(bundle.path(), &cfg);
    let id = id("5736exec");
    berth.ok(&[
        "run",
        "-d",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);

    // The victim: `berth exec` runs /evil, i.e. berth itself inside the container; it
    // blocks writing its usage error to a full stderr until the attacker holds its exe.
    let (mut r, w) = full_pipe();
    let mut exec = berth
        .cmd(&["exec", &id, "/evil"])
        .stdout(Stdio::null())
        .stderr(w)
        .spawn()
        .unwrap();
    let first = wait_for(
        "the attacker to open the exe",
        Duration::from_secs(20),
        || written_line(&bundle.rootfs().join("result1")),
    );
    let mut sink = Vec::new();
    r.read_to_end(&mut sink).unwrap();
    exec.wait().unwrap();
    // The exec'd berth ran (its answer to `/evil` reached stderr): the attack was real.
    assert!(
        berth_answered(&sink),
        "berth did not run inside the container: {}",
        String::from_utf8_lossy(&sink[sink.len().saturating_sub(500)..])
    );
    assert_eq!(first.trim(), "opened");
    finish_attack(&bundle.rootfs(), &copy, &before);
}

#[test]
fn cve_2019_5736_init_cannot_overwrite_berth() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let bins = tempfile::tempdir().unwrap();
    let copy = cve_2019_5736_setup(&bundle, bins.path());
    let before = sha256(&copy);
    let berth = Berth::with_binary(copy.clone());
    let mut cfg = berth.bundle(bundle.path(), &["/evil"]);
    // No pid namespace: the attacker must outlive the victim (the container's first process).
    let ns: Vec<Value> = cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect();
    cfg["linux"]["namespaces"] = Value::Array(ns);
    Berth::write_config(bundle.path(), &cfg);
    let id = id("5736init");
    let pid_file = bundle.path().join("pid");
    let (mut r, w) = full_pipe();
    let out = berth
        .cmd(&[
            "create",
            "--bundle",
            bundle.path().to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ])
        .stdout(Stdio::null())
        .stderr(w)
        .status()
        .unwrap();
    assert!(out.success());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    std::fs::write(bundle.rootfs().join("victim_pid"), &pid).unwrap();
    berth.ok(&["exec", "-d", &id, "/attack"]);
    berth.ok(&["start", &id]);
    let first = wait_for(
        "the attacker to open the exe",
        Duration::from_secs(20),
        || written_line(&bundle.rootfs().join("result1")),
    );
    let mut sink = Vec::new();
    r.read_to_end(&mut sink).unwrap();
    assert!(
        berth_answered(&sink),
        "berth did not run as the container's init"
    );
    assert_eq!(first.trim(), "opened");
    finish_attack(&bundle.rootfs(), &copy, &before);
}

/// CVE-2016-9962: while the init waits for `start` it has the container's capabilities
/// and uid but still holds host fds: the container must not read or ptrace it.
#[test]
fn cve_2016_9962_waiting_init_is_not_inspectable() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let cfg = berth.bundle(bundle.path(), &["sleep", "100"]);
    Berth::write_config(bundle.path(), &cfg);
    let id = id("9962");
    berth.ok(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let out = berth.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /proc/1/exe >/dev/null 2>&1 && echo exe-readable; \
         for f in /proc/1/fd/*; do readlink $f >/dev/null 2>&1 && echo fd-readable; done; \
         cat /proc/1/fd/3 >/dev/null 2>&1 && echo fd-openable; \
         cat /proc/1/environ >/dev/null 2>&1 && echo environ-readable; \
         echo done",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(t.trim(), "done", "the waiting init is exposed: {t}");
}

/// CVE-2024-21626: no host fd reaches the container, in the init or through exec.
#[test]
fn cve_2024_21626_no_host_fds_reach_the_container() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    // The shell lists its own fds ($$), not those of ls.
    let cfg = berth.bundle(bundle.path(), &["sh", "-c", "ls -l /proc/$$/fd; true"]);
    Berth::write_config(bundle.path(), &cfg);
    let id = id("21626");
    let bundle_arg = bundle.path().to_str().unwrap();
    assert_eq!(
        fd_list(&berth, &["run", "--bundle", bundle_arg, &id]),
        ["0", "1", "2"]
    );
    let _ = berth.run(&["delete", "--force", &id]);

    let cfg = berth.bundle(bundle.path(), &["sleep", "100"]);
    Berth::write_config(bundle.path(), &cfg);
    berth.ok(&["run", "-d", "--bundle", bundle_arg, &id]);
    assert_eq!(
        fd_list(
            &berth,
            &["exec", &id, "sh", "-c", "ls -l /proc/$$/fd; true"]
        ),
        ["0", "1", "2"]
    );
    // Preserved fds are the only extra ones.
    let out = berth
        .cmd(&[
            "exec",
            "--preserve-fds",
            "1",
            &id,
            "sh",
            "-c",
            "ls -l /proc/$$/fd; true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // fd 3 of the exec is whatever the test harness had there, or nothing: never more.
    let t = text(&out);
    let extra: Vec<String> = parse_fds(&t)
        .into_iter()
        .filter(|f| !["0", "1", "2", "3"].contains(&f.as_str()))
        .collect();
    assert!(extra.is_empty(), "unexpected fds {extra:?}: {t}");
}

/// CVE-2024-21626: a cwd through a leaked fd is refused at create and at exec.
#[test]
fn cve_2024_21626_cwd_through_proc_fd_is_refused() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let bundle_arg = bundle.path().to_str().unwrap();
    for n in 3..9 {
        let mut cfg = berth.bundle(bundle.path(), &["true"]);
        cfg["process"]["cwd"] = Value::from(format!("/proc/self/fd/{n}"));
        Berth::write_config(bundle.path(), &cfg);
        let id = id(&format!("cwd{n}"));
        let out = berth.run(&["create", "--bundle", bundle_arg, &id]);
        assert!(!out.status.success(), "cwd /proc/self/fd/{n} was accepted");
        let _ = berth.run(&["delete", "--force", &id]);
    }
    let cfg = berth.bundle(bundle.path(), &["sleep", "100"]);
    Berth::write_config(bundle.path(), &cfg);
    let id = id("cwdexec");
    berth.ok(&["run", "-d", "--bundle", bundle_arg, &id]);
    for cwd in [
        "/proc/self/fd/3",
        "/proc/self/fd/4",
        "/proc/1/fd/3",
        "/proc/1/cwd/..",
    ] {
        let out = berth.run(&["exec", "--cwd", cwd, &id, "pwd"]);
        let t = text(&out);
        assert!(
            !out.status.success() || t.trim() == "/",
            "exec with cwd {cwd} ran outside the root: {t}"
        );
    }
}

/// CVE-2019-19921 / CVE-2021-30465: a mount destination that is a symlink out of the root
/// is resolved inside the root; nothing lands on the host path.
#[test]
fn cve_2021_30465_symlinked_mount_target_stays_in_root() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("marker"), "host").unwrap();
    let host_path = host.path().to_str().unwrap().to_string();
    // A dangling escape is refused (berth does not create directories through symlinks).
    std::os::unix::fs::symlink(&host_path, bundle.rootfs().join("abs")).unwrap();
    let mut cfg = berth.bundle(bundle.path(), &["true"]);
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/abs/sub", "type": "tmpfs", "source": "tmpfs"}));
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("30465a"));
    assert!(!out.status.success(), "{}", text(&out));
    std::fs::remove_file(bundle.rootfs().join("abs")).unwrap();
    assert!(
        !host.path().join("sub").exists(),
        "a directory was made on the host"
    );

    // With the in-root twin present, both escapes resolve to it.
    let twin = bundle.rootfs().join(host.path().strip_prefix("/").unwrap());
    std::fs::create_dir_all(&twin).unwrap();
    // Absolute and relative escapes.
    std::os::unix::fs::symlink(&host_path, bundle.rootfs().join("abs")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../../../..{host_path}"),
        bundle.rootfs().join("rel"),
    )
    .unwrap();
    let mut cfg = berth.bundle(
        bundle.path(),
        &[
            "sh",
            "-c",
            "echo pwned > /abs/pwned; echo pwned > /rel/pwned2; \
             grep -c \" $(readlink /abs) .* - tmpfs \" /proc/self/mountinfo",
        ],
    );
    for dest in ["/abs", "/rel"] {
        cfg["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    }
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("30465"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // Both mounts landed on the in-root twin of the host path.
    assert_eq!(t.trim(), "2", "{t}");
    let host_entries: Vec<_> = std::fs::read_dir(host.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(host_entries, ["marker"]);
    // The writes went to the tmpfs, not to the rootfs directory either.
    assert!(!twin.join("pwned").exists());
}

/// CVE-2019-19921: procfs must not be mounted through a symlink (it would leave /proc a
/// path the masking and LSM rules do not cover).
#[test]
fn cve_2019_19921_proc_through_symlink_is_refused() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    std::fs::remove_dir(bundle.rootfs().join("proc")).unwrap();
    std::fs::create_dir(bundle.rootfs().join("fakeproc")).unwrap();
    std::os::unix::fs::symlink("/fakeproc", bundle.rootfs().join("proc")).unwrap();
    let cfg = berth.bundle(bundle.path(), &["true"]);
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("19921"));
    let t = text(&out);
    assert!(!out.status.success(), "proc mounted through a symlink: {t}");
    assert!(t.contains("/proc"), "error does not name /proc: {t}");
}

/// Default-spec masking: writes to the host's kernel knobs fail inside the container.
#[test]
fn proc_and_sys_are_masked() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let script =
        "for f in /proc/sysrq-trigger /proc/sys/kernel/domainname /proc/sys/vm/drop_caches \
                  /proc/irq/0/smp_affinity /proc/bus/pci/devices; do \
                    if [ -e $f ] && (echo 1 > $f) 2>/dev/null; then echo writable:$f; fi; done; \
                  [ -n \"$(ls /sys/firmware 2>/dev/null)\" ] && echo firmware-visible; \
                  touch /sys/firmware/x 2>/dev/null && echo firmware-writable; \
                  [ -s /proc/kcore ] && echo kcore; \
                  head -c1 /proc/keys 2>/dev/null | grep -q . && echo keys; \
                  echo done";
    let cfg = berth.bundle(bundle.path(), &["sh", "-c", script]);
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("mask"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(t.trim(), "done", "{t}");
}

/// CVE-2024-21626 through `..`: a cwd that reaches /proc/self/fd/N by a path the old prefix
/// check did not catch is resolved inside the root (no magic links) and refused, for
/// create and for exec; an ordinary cwd with `..` and symlinks still works.
#[test]
fn cve_2024_21626_cwd_with_dotdot_stays_in_the_root() {
    if !need_root() {
        return;
    }
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
    if !need_root() {
        return;
    }
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
