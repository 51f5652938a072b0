//! The security flags of `berth run IMAGE` (--cap-add, --cap-drop, --privileged, --device,
//! --security-opt, --user, --group-add, --ulimit, --sysctl, --tmpfs, --shm-size), each checked
//! from inside a real container started through the CLI, from a busybox image imported here.

use std::path::PathBuf;
use std::process::Output;

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{text, World};

/// `berth run --rm --net none FLAGS busybox:latest sh -c SCRIPT`, for the flag tests.
trait RunFlags {
    fn run(&self, flags: &[&str], script: &str) -> String;
    fn run_out(&self, flags: &[&str], script: &str) -> Output;
    fn refused(&self, flags: &[&str]) -> String;
}

impl RunFlags for World {
    /// Its stdout; the run must succeed.
    fn run(&self, flags: &[&str], script: &str) -> String {
        let out = self.run_out(flags, script);
        assert!(
            out.status.success(),
            "run {flags:?} {script}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn run_out(&self, flags: &[&str], script: &str) -> Output {
        let mut args = vec!["run", "--rm", "--net", "none"];
        args.extend(flags);
        args.extend(["busybox:latest", "sh", "-c", script]);
        self.berth(&args)
    }

    /// A run that must be refused: its one-line error.
    fn refused(&self, flags: &[&str]) -> String {
        let out = self.run_out(flags, "true");
        assert!(!out.status.success(), "{flags:?} was accepted");
        text(&out.stderr)
    }
}

/// The value of a /proc/self/status field in `status`.
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .trim()
}

fn cap_eff(status: &str) -> u64 {
    u64::from_str_radix(field(status, "CapEff"), 16).unwrap()
}

const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_CHOWN: u64 = 1;
const CAP_SYS_ADMIN: u64 = 1 << 21;

#[test]
fn cap_add_and_drop() {
    require_root!();
    let w = World::new();
    let default = cap_eff(&w.run(&[], "cat /proc/self/status"));
    assert_ne!(default & CAP_CHOWN, 0, "Docker's default set has CHOWN");
    assert_eq!(default & (CAP_NET_ADMIN | CAP_SYS_ADMIN), 0);
    let only = cap_eff(&w.run(
        &["--cap-drop", "ALL", "--cap-add", "net_admin"],
        "cat /proc/self/status",
    ));
    assert_eq!(only, CAP_NET_ADMIN);
    let dropped = cap_eff(&w.run(&["--cap-drop", "CAP_CHOWN"], "cat /proc/self/status"));
    assert_eq!(dropped, default & !CAP_CHOWN);
    // With NET_ADMIN the container can configure its own interfaces (containode's case).
    w.run(&["--cap-add", "NET_ADMIN"], "ip link set lo down");
    let out = w.run_out(&[], "ip link set lo down");
    assert!(!out.status.success(), "lo went down without NET_ADMIN");
    let e = w.refused(&["--cap-add", "FLY"]);
    assert!(e.contains("--cap-add FLY: unknown capability"), "{e}");
}

#[test]
fn privileged() {
    require_root!();
    let w = World::new();
    // Every capability berth itself may hand on.
    let bounding = field(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd",
    )
    .to_string();
    let script = "cat /proc/self/status; grep -c ' /proc/[a-z]' /proc/mounts || true";
    let out = w.run(&["--privileged"], script);
    assert_eq!(field(&out, "CapEff"), bounding);
    assert_eq!(field(&out, "Seccomp"), "0");
    // Masked and read-only paths are mounts over /proc entries.
    assert_eq!(out.lines().last(), Some("0"), "/proc paths still masked");
    let plain = w.run(&[], script);
    assert_ne!(
        plain.lines().last(),
        Some("0"),
        "/proc paths are masked by default"
    );
}

#[test]
fn device() {
    require_root!();
    let w = World::new();
    let out = w.run(
        &["--device", "/dev/zero:/dev/myzero"],
        "ls -l /dev/myzero; head -c 4 /dev/myzero | wc -c",
    );
    assert!(out.starts_with('c'), "{out}");
    assert!(out.contains("1,") && out.contains('5'), "{out}");
    assert_eq!(out.lines().last().map(str::trim), Some("4"), "{out}");
    let e = w.refused(&["--device", "/etc/hostname"]);
    assert!(e.contains("is not a device node"), "{e}");
    let e = w.refused(&["--device", "/dev/zero:/dev/z:rq"]);
    assert!(e.contains("--device /dev/zero:/dev/z:rq"), "{e}");
}

#[test]
fn security_opt() {
    require_root!();
    let w = World::new();
    let status = w.run(&[], "cat /proc/self/status");
    assert_eq!(field(&status, "NoNewPrivs"), "1");
    assert_eq!(field(&status, "Seccomp"), "2", "Docker's default filter");
    let status = w.run(
        &["--security-opt", "no-new-privileges=false"],
        "cat /proc/self/status",
    );
    assert_eq!(field(&status, "NoNewPrivs"), "0");
    let status = w.run(
        &["--security-opt", "no-new-privileges"],
        "cat /proc/self/status",
    );
    assert_eq!(field(&status, "NoNewPrivs"), "1");

    // A Docker-format profile (archMap) that denies mkdir.
    let profile = w.dir.path().join("seccomp.json");
    std::fs::write(
        &profile,
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "comment": "no new directories", "includes": {}, "excludes": {}}]
        })
        .to_string(),
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = w.run(
        &["--security-opt", &opt],
        "grep Seccomp: /proc/self/status; mkdir /tmp/d 2>/dev/null && echo made || echo denied",
    );
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("denied"), "{out}");
    let out = w.run(
        &["--security-opt", "seccomp=unconfined"],
        "mkdir /tmp/d && echo made",
    );
    assert!(out.contains("made"));
    let e = w.refused(&["--security-opt", "apparmor=x"]);
    assert!(e.contains("--security-opt apparmor=x"), "{e}");
}

/// The image form's default filter is Docker's: a new user namespace is refused (EPERM,
/// as Docker refuses it) unless the filter is off; with `--cap-add SYS_ADMIN` Docker's profile
/// allows mount and unshare, which the container then does. Docker's own profile file, with
/// its capability and architecture conditions, loads through `seccomp=FILE` with the same
/// effect.
#[test]
fn default_seccomp_is_dockers() {
    require_root!();
    let w = World::new();
    let probe = "unshare -U true 2>&1 && echo userns-made; \
                 mount -t tmpfs t /mnt 2>/dev/null && echo mounted; true";
    let out = w.run(&[], probe);
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(
        !out.contains("userns-made") && !out.contains("mounted"),
        "{out}"
    );
    assert_eq!(
        w.run(&["--security-opt", "seccomp=unconfined"], probe)
            .trim(),
        "userns-made"
    );
    let admin = w.run(&["--cap-add", "SYS_ADMIN"], probe);
    assert_eq!(admin.trim(), "userns-made\nmounted", "{admin}");

    let docker = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/docker-seccomp-default.json"
    );
    let opt = format!("seccomp={docker}");
    let out = w.run(&["--security-opt", &opt], probe);
    assert!(out.contains("Operation not permitted"), "{out}");
    let admin = w.run(&["--security-opt", &opt, "--cap-add", "SYS_ADMIN"], probe);
    assert_eq!(admin.trim(), "userns-made\nmounted", "{admin}");
}

#[test]
fn user_group_add_ulimit() {
    require_root!();
    let w = World::new();
    let out = w.run(
        &[
            "--user",
            "1234:2345",
            "--group-add",
            "27",
            "--ulimit",
            "nofile=123:456",
        ],
        "id -u; id -g; id -G; ulimit -n; ulimit -Hn",
    );
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "1234", "{out}");
    assert_eq!(lines[1], "2345", "{out}");
    assert!(lines[2].split(' ').any(|g| g == "27"), "{out}");
    assert_eq!(&lines[3..5], ["123", "456"], "{out}");
    let e = w.refused(&["--ulimit", "nofile=9:1"]);
    assert!(e.contains("soft limit is above"), "{e}");
}

#[test]
fn sysctl_tmpfs_shm_size() {
    require_root!();
    let w = World::new();
    let out = w.run(
        &[
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.shmmax=12345678",
            "--tmpfs",
            "/scratch:size=1m",
            "--shm-size",
            "2m",
        ],
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; \
         grep -E ' /scratch | /dev/shm ' /proc/mounts",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["1", "12345678"], "{out}");
    let scratch = lines.iter().find(|l| l.contains(" /scratch ")).unwrap();
    for opt in ["nosuid", "nodev", "noexec", "size=1024k"] {
        assert!(scratch.contains(opt), "{scratch}");
    }
    let shm = lines.iter().find(|l| l.contains(" /dev/shm ")).unwrap();
    assert!(shm.contains("size=2048k"), "{shm}");
    let e = w.refused(&["--sysctl", "vm.swappiness=1"]);
    assert!(e.contains("vm.swappiness"), "{e}");
}

/// `--init`: a `sleep` as the command stops at TERM (PID 1 without an init would ignore it),
/// and the run exits with 128+15.
#[test]
fn init_forwards_term() {
    require_root!();
    let w = World::new();
    let id = format!("flags-init-{}", std::process::id());
    let mut child = w
        .cmd(&["run", "--rm", "--init", "--net", "none", "--name", &id])
        .args(["busybox:latest", "sleep", "100"])
        .spawn()
        .unwrap();
    world::wait_for_init_forwarding(&w, &id);
    let out = w.berth(&["kill", &id, "TERM"]);
    assert!(out.status.success(), "kill: {}", text(&out.stderr));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
}

/// `--init`'s PID 1 is berth-init, on a read-only bind: the container sees it, runs it, and
/// cannot write the host's binary through the mount or through /proc/1/exe (the attack). While
/// PID 1 runs the file a write fails with ETXTBSY anyway, so the mount itself must be read-only
/// (its options in mountinfo): the protection that outlives PID 1.
#[test]
fn init_is_berth_init_read_only() {
    require_root!();
    let w = World::new();
    let init = PathBuf::from(env!("CARGO_BIN_EXE_berth-people")).with_file_name("berth-init");
    let before = std::fs::read(&init).unwrap();
    let script = "tr '\\0' ' ' < /proc/1/cmdline; echo; \
         grep ' /dev/init ' /proc/self/mountinfo; \
         (echo x >> /dev/init) 2>&1; (echo x >> /proc/1/exe) 2>&1; echo done";
    let out = w.run(&["--init"], script);
    assert!(
        out.starts_with("/dev/init -- "),
        "PID 1 is not berth-init: {out}"
    );
    let mount = out
        .lines()
        .skip(1)
        .find(|l| l.contains(" /dev/init "))
        .unwrap_or_default();
    let options = mount.split_whitespace().nth(5).unwrap_or_default();
    assert!(
        options.split(',').any(|o| o == "ro"),
        "/dev/init is not a read-only mount: {out}"
    );
    let refused = out.lines().filter(|l| l.contains("can't create")).count();
    assert_eq!(refused, 2, "both writes must fail: {out}");
    assert!(
        std::fs::read(&init).unwrap() == before,
        "{} was changed",
        init.display()
    );
}

/// `--init` reaps an orphan: a process whose parent exited is reparented to PID 1 and must not
/// stay a zombie once it ends.
#[test]
fn init_reaps_orphans() {
    require_root!();
    let w = World::new();
    // The orphan waits on a fifo, so it ends when the script says; it is first checked to be
    // the init's child (its parent, a subshell, exited), then the script waits until it is gone
    // (reaped) or has been a zombie for many rounds.
    let script = "mkfifo /tmp/f; ( (read x < /tmp/f) & echo $! > /tmp/pid ); pid=$(cat /tmp/pid); \
         grep PPid /proc/$pid/status; echo go > /tmp/f; n=0; \
         while [ -e /proc/$pid ] && [ $n -lt 500 ]; do n=$((n+1)); sleep 0.01; done; \
         if [ -e /proc/$pid ]; then grep State /proc/$pid/status; else echo reaped; fi";
    let out = w.run(&["--init"], script);
    assert!(
        out.contains("PPid:\t1\n"),
        "the orphan is not the init's: {out}"
    );
    assert!(out.contains("reaped"), "{out}");
}
