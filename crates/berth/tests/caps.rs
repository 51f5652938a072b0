//! Capabilities, LSM labels and the process fields that guard the host, tried as an attacker
//! would: unknown and missing capabilities, ambient capabilities for a non-root user, labels
//! without an LSM, and every process field applied (sysctls checked). These tests run as root.

mod common;

use common::*;
use serde_json::{json, Value};

fn with_caps(cfg: &mut Value, add: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        let list = cfg["process"]["capabilities"][set].as_array_mut().unwrap();
        for c in add {
            list.push(json!(c));
        }
    }
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
