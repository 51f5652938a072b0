//! Regression tests that try the known container escapes against a real berth, as root.
//! Each test names the CVE it replays; docs/SECURITY.md maps protections to these tests.

mod sec_common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sec_common::*;
use serde_json::{json, Value};

fn id(name: &str) -> String {
    format!("sec-{name}-{}", std::process::id())
}

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
    let size = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap();
    w.write_all(&vec![b'x'; size as usize]).unwrap();
    (r, w)
}

/// Sets up the rootfs for the attack; returns the copy of berth the test runs.
fn cve_2019_5736_setup(bundle: &Bundle, bin_dir: &Path) -> std::path::PathBuf {
    let copy = bin_dir.join("berth");
    std::fs::copy(env!("CARGO_BIN_EXE_berth"), &copy).unwrap();
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
    // The exec'd berth ran (its usage error reached stderr): the attack was real.
    assert!(
        String::from_utf8_lossy(&sink).contains("Usage"),
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
        String::from_utf8_lossy(&sink).contains("Usage"),
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

/// An unknown capability name is a create (and exec) error that names it.
#[test]
fn unknown_capability_is_a_clear_error() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let mut cfg = berth.bundle(bundle.path(), &["true"]);
    cfg["process"]["capabilities"]["bounding"]
        .as_array_mut()
        .unwrap()
        .push(json!("CAP_NO_SUCH_THING"));
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("capname"));
    assert!(!out.status.success());
    assert!(text(&out).contains("CAP_NO_SUCH_THING"), "{}", text(&out));

    let cfg = berth.bundle(bundle.path(), &["sleep", "100"]);
    Berth::write_config(bundle.path(), &cfg);
    let id = id("capexec");
    berth.ok(&[
        "run",
        "-d",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    let out = berth.run(&["exec", "--cap", "CAP_BOGUS", &id, "true"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("CAP_BOGUS"), "{}", text(&out));
}

fn with_caps(cfg: &mut Value, add: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        let list = cfg["process"]["capabilities"][set].as_array_mut().unwrap();
        for c in add {
            list.push(json!(c));
        }
    }
}

/// Without CAP_NET_RAW no raw socket, without CAP_SYS_ADMIN no mount; granting either
/// makes the same call work (so the failure is the capability's doing).
#[test]
fn missing_capabilities_deny_raw_sockets_and_mounts() {
    if !need_root() {
        return;
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    // busybox ping needs a raw socket (ICMP datagram sockets are off in a new netns).
    let script = "ping -c1 -W1 127.0.0.1 2>&1 | grep -qi 'permission denied\\|not permitted' \
                  && echo raw-denied; \
                  mount -t tmpfs t /tmp 2>/dev/null && echo mounted || echo mount-denied";
    let cfg = berth.bundle(bundle.path(), &["sh", "-c", script]);
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("capdeny"));
    assert_eq!(text(&out).trim(), "raw-denied\nmount-denied");

    let mut cfg = berth.bundle(bundle.path(), &["sh", "-c", script]);
    with_caps(&mut cfg, &["CAP_NET_RAW", "CAP_SYS_ADMIN"]);
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("capgrant"));
    assert_eq!(text(&out).trim(), "mounted");
}

/// A non-root user keeps an ambient capability across execve (and only that one).
#[test]
fn ambient_capabilities_for_a_non_root_user() {
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
            "grep -E '^Cap(Eff|Amb)' /proc/self/status; id -u",
        ],
    );
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    cfg["process"]["capabilities"] = json!({
        "bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "effective": ["CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("ambient"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // CAP_NET_BIND_SERVICE is bit 10.
    assert!(t.contains("CapEff:\t0000000000000400"), "{t}");
    assert!(t.contains("CapAmb:\t0000000000000400"), "{t}");
    assert!(t.trim_end().ends_with("1000"), "{t}");
}

fn fixture_seccomp(client: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/client-configs")
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
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if !fixtures.exists() {
        berth_common::skip!("{} missing", fixtures.display());
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

/// LSM fields where no LSM is enabled (as here): empty labels are ignored, a requested
/// AppArmor profile or SELinux process label is a create error naming it (runc fails
/// applying them), and mountLabel is ignored.
#[test]
fn lsm_labels_without_an_lsm() {
    if !need_root() {
        return;
    }
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if lsm.contains("apparmor") || lsm.contains("selinux") {
        berth_common::skip!("an LSM is enabled here ({lsm})");
    }
    let bundle = Bundle::new();
    let berth = Berth::new();
    let mut cfg = berth.bundle(bundle.path(), &["true"]);
    cfg["process"]["apparmorProfile"] = json!("");
    cfg["process"]["selinuxLabel"] = json!("");
    cfg["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("lsm0"));
    assert!(out.status.success(), "{}", text(&out));

    for (field, value) in [
        ("apparmorProfile", "docker-default"),
        ("selinuxLabel", "system_u:system_r:container_t:s0"),
    ] {
        let mut cfg = berth.bundle(bundle.path(), &["true"]);
        cfg["process"][field] = json!(value);
        Berth::write_config(bundle.path(), &cfg);
        let out = berth.run_container(bundle.path(), &id("lsm1"));
        assert!(!out.status.success(), "{field} accepted");
        assert!(text(&out).contains(value), "{}", text(&out));
    }
}

/// process.oomScoreAdj, noNewPrivileges, ioPriority, scheduler and linux.personality are
/// applied; a non-namespaced sysctl is a create error.
#[test]
fn process_fields_are_applied_and_sysctls_checked() {
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
            "cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status; \
             grep -E '^policy' /proc/self/sched; uname -m; cat /proc/sys/net/ipv4/ip_forward",
        ],
    );
    cfg["process"]["oomScoreAdj"] = json!(123);
    cfg["process"]["noNewPrivileges"] = json!(true);
    cfg["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    cfg["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    cfg["linux"]["personality"] = json!({"domain": "LINUX32"});
    cfg["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("procf"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let lines: Vec<&str> = t.lines().map(str::trim).collect();
    assert_eq!(lines[0], "123", "{t}");
    assert_eq!(lines[1], "NoNewPrivs:\t1", "{t}");
    // SCHED_BATCH is policy 3.
    assert!(
        lines[2].starts_with("policy") && lines[2].ends_with(" 3"),
        "{t}"
    );
    assert_eq!(lines[3], "i686", "{t}");
    assert_eq!(lines[4], "1", "{t}");

    let mut cfg = berth.bundle(bundle.path(), &["true"]);
    cfg["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("sysctl"));
    assert!(!out.status.success());
    assert!(text(&out).contains("vm.swappiness"), "{}", text(&out));
}

/// A user namespace with uid/gid mappings written by berth while the init waits: the
/// container's root is an unprivileged host uid.
#[test]
fn user_namespace_with_mappings() {
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
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; \
             cat /proc/self/setgroups; (echo x > /proc/sysrq-trigger) 2>/dev/null || echo denied",
        ],
    );
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    cfg["linux"]["uidMappings"] = map.clone();
    cfg["linux"]["gidMappings"] = map;
    Berth::write_config(bundle.path(), &cfg);
    let out = berth.run_container(bundle.path(), &id("userns"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let words: Vec<&str> = t.split_whitespace().collect();
    assert_eq!(
        words,
        ["0", "200000", "65536", "0", "200000", "65536", "0", "allow", "denied"],
        "{t}"
    );
}

const ROOTLESS_USER: &str = "berth-rootless";

/// Creates the test's non-root user (with /etc/subuid and /etc/subgid ranges) once.
fn rootless_user() -> Option<(u32, u32)> {
    let ids = |flag: &str| -> Option<u32> {
        let out = std::process::Command::new("id")
            .args([flag, ROOTLESS_USER])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if ids("-u").is_none() {
        let _ = std::process::Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", ROOTLESS_USER])
            .status();
    }
    Some((ids("-u")?, ids("-g")?))
}

/// Runs berth as the rootless user with its own XDG_RUNTIME_DIR.
fn as_user(runtime_dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("runuser")
        .args(["-u", ROOTLESS_USER, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR={}", runtime_dir.display()))
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A non-root user runs containers: `spec --rootless`, state under
/// $XDG_RUNTIME_DIR/berth, no cgroup (a warning, not a failure), one mapping written
/// directly and several through newuidmap/newgidmap; supplementary groups and resource
/// limits are clear errors.
#[test]
fn rootless_user_runs_containers() {
    if !need_root() {
        return;
    }
    let Some((uid, gid)) = rootless_user() else {
        berth_common::skip!("cannot create user {ROOTLESS_USER} (useradd)");
    };
    let bundle = Bundle::new();
    let runtime_dir = tempfile::tempdir().unwrap();
    for p in [bundle.path(), runtime_dir.path()] {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let bundle_arg = bundle.path().to_str().unwrap();
    let out = as_user(
        runtime_dir.path(),
        &["spec", "--rootless", "--bundle", bundle_arg],
    );
    assert!(out.status.success(), "{}", text(&out));
    let read = || -> Value {
        serde_json::from_slice(&std::fs::read(bundle.path().join("config.json")).unwrap()).unwrap()
    };
    let mut cfg = read();
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = json!(["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    cfg["root"]["path"] = json!(bundle.rootfs());
    Berth::write_config(bundle.path(), &cfg);

    let id = id("rootless");
    let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", &uid.to_string(), "1"], "{t}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without a cgroup"),
        "{t}"
    );
    // State lived under $XDG_RUNTIME_DIR/berth (and is gone after run).
    assert!(runtime_dir.path().join("berth").is_dir());

    // Supplementary groups cannot be set with setgroups denied.
    let mut groups = cfg.clone();
    groups["process"]["user"]["additionalGids"] = json!([5]);
    Berth::write_config(bundle.path(), &groups);
    let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
    assert!(!out.status.success());
    assert!(text(&out).contains("setgroups is denied"), "{}", text(&out));
    let _ = as_user(runtime_dir.path(), &["delete", "--force", &id]);

    // Limits need a cgroup this user cannot make.
    let mut limits = cfg.clone();
    limits["linux"]["resources"] = json!({"pids": {"limit": 10}});
    Berth::write_config(bundle.path(), &limits);
    let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
    assert!(!out.status.success());
    assert!(text(&out).contains("needs a cgroup"), "{}", text(&out));
    let _ = as_user(runtime_dir.path(), &["delete", "--force", &id]);

    // More than one mapping goes through newuidmap/newgidmap.
    if Path::new("/usr/bin/newuidmap").exists() {
        let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
        let start = subuid
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{ROOTLESS_USER}:")))
            .and_then(|r| r.split(':').next()?.parse::<u32>().ok());
        if let Some(start) = start {
            let mut multi = cfg.clone();
            for (key, own) in [("uidMappings", uid), ("gidMappings", gid)] {
                multi["linux"][key] = json!([
                    {"containerID": 0, "hostID": own, "size": 1},
                    {"containerID": 1, "hostID": start, "size": 1000}
                ]);
            }
            multi["process"]["args"] = json!(["sh", "-c", "cat /proc/self/uid_map"]);
            Berth::write_config(bundle.path(), &multi);
            let out = as_user(runtime_dir.path(), &["run", "--bundle", bundle_arg, &id]);
            let t = text(&out);
            assert!(out.status.success(), "{t}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let words: Vec<&str> = stdout.split_whitespace().collect();
            let (own, sub) = (uid.to_string(), start.to_string());
            assert_eq!(
                words,
                ["0", own.as_str(), "1", "1", sub.as_str(), "1000"],
                "{t}"
            );
        } else {
            eprintln!("note: no /etc/subuid range for {ROOTLESS_USER}: multi-mapping not tried");
        }
    } else {
        eprintln!("note: newuidmap missing (Debian uidmap): multi-mapping not tried");
    }
}

/// SCMP_ACT_NOTIFY: berth hands the notify fd and the container process state to the
/// listener at listenerPath (SCM_RIGHTS, as runc); the listener answers mkdir with a fake
/// success, so the container sees mkdir succeed and no directory appear.
#[test]
fn seccomp_notify_fd_reaches_the_listener() {
    use std::os::fd::AsRawFd;
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
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fd = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                fd = fds.first().copied();
            }
        }
        let n = msg.bytes;
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
