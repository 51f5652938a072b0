//! Real-effect tests on this machine's cgroups, as root: every test creates its own
//! absolute cgroup (`/berth-cgtest-<pid>-<name>`), moves a busybox child in, checks what
//! the kernel does, and removes everything again.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use berth_cgroups::{
    manager_for, manager_from_paths, systemd_to_cgroupfs, CgroupError, CgroupPaths, FreezerState,
    Host, Layout, LayoutKind, Manager, MemoryWatch,
};
use oci_spec::runtime::LinuxResources;

const BUSYBOX: &str = "/bin/busybox";

/// None (after saying why) when the host cannot run these tests.
fn host_ready() -> Option<Host> {
    if !is_root() {
        berth_common::note_skipped!("needs root");
        return None;
    }
    if !Path::new(BUSYBOX).exists() {
        berth_common::note_skipped!("{BUSYBOX} missing (apt-get install busybox-static)");
        return None;
    }
    let host = Host::default();
    match berth_cgroups::layout_kind(&host) {
        Ok(_) => Some(host),
        Err(e) => {
            berth_common::note_skipped!("{e}");
            None
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn test_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/berth-cgtest-{}-{name}", std::process::id()))
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("test resources parse")
}

/// A busybox shell that runs `script` once it is released (after it joined the cgroup).
struct Gated {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Gated {
    fn spawn(script: &str) -> Gated {
        let mut child = Command::new(BUSYBOX)
            .args(["sh", "-c", &format!("read _; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn busybox");
        let stdin = child.stdin.take();
        Gated { child, stdin }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    fn release(&mut self) {
        let mut stdin = self.stdin.take().expect("released once");
        stdin.write_all(b"go\n").expect("release child");
    }

    /// Waits (bounded) for the child; returns (exit code, signal, stdout).
    fn finish(mut self, timeout: Duration) -> (Option<i32>, Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait child") {
                let mut out = String::new();
                if let Some(mut o) = self.child.stdout.take() {
                    o.read_to_string(&mut out).expect("read child stdout");
                }
                use std::os::unix::process::ExitStatusExt;
                return (st.code(), st.signal(), out);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "child {} did not finish within {timeout:?}",
                    self.child.id()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Kills whatever is left in the cgroup and removes it, also when a test fails midway.
struct Cleanup<'a>(&'a dyn Manager);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        kill_all(self.0);
        let _ = self.0.freeze(FreezerState::Thawed);
        let _ = self.0.destroy();
    }
}

fn kill_all(m: &dyn Manager) {
    for pid in m.pids().unwrap_or_default() {
        let _ = Command::new(BUSYBOX)
            .args(["kill", "-9", &pid.to_string()])
            .status();
    }
}

fn cgroup_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup")
}

/// The v2 guest (ci/v2-guest.sh) sets BERTH_EXPECT_LAYOUT=V2, so a silently hybrid or
/// v1 boot cannot pass as a v2 run.
#[test]
fn layout_is_the_expected_one() {
    let Some(host) = host_ready() else {
        return;
    };
    let kind = berth_cgroups::layout_kind(&host).unwrap();
    match std::env::var("BERTH_EXPECT_LAYOUT") {
        Ok(want) => assert_eq!(format!("{kind:?}"), want),
        Err(_) => eprintln!("layout_is_the_expected_one: {kind:?} (BERTH_EXPECT_LAYOUT unset)"),
    }
}

#[test]
fn join_list_freeze_and_destroy_leave_nothing_behind() {
    let Some(host) = host_ready() else {
        return;
    };
    let base = test_path("life");
    let inner = base.join("parent/ctr");
    // A pre-existing parent in the memory hierarchy must survive destroy.
    let layout = Layout::detect(&host).unwrap();
    let memory_root = layout
        .hierarchy_for("memory")
        .filter(|h| !h.is_v2())
        .map(|h| h.mount_point.join(base.strip_prefix("/").unwrap()));
    if let Some(r) = &memory_root {
        std::fs::create_dir(r).unwrap();
    }
    let m = manager_for(&host, Some(&inner), "ctr").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    for (_, d) in &m.paths().dirs {
        assert!(d.is_dir(), "{} created", d.display());
    }

    let tmp = tempfile::tempdir().unwrap();
    let counter = tmp.path().join("n");
    let mut child = Gated::spawn(&format!(
        "i=0; while :; do i=$((i+1)); echo $i > {}; done",
        counter.display()
    ));
    m.add_process(child.pid()).unwrap();
    child.release();

    let own = cgroup_of(child.pid());
    for line in own.lines() {
        let rel = line.splitn(3, ':').nth(2).unwrap();
        assert!(
            rel.ends_with(inner.to_str().unwrap()),
            "every hierarchy moved: {line}"
        );
    }
    assert_eq!(m.pids().unwrap(), vec![child.pid()]);

    let read = || std::fs::read_to_string(&counter).unwrap_or_default();
    let wait_progress = |from: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while read() == from || read().is_empty() {
            assert!(Instant::now() < deadline, "child made no progress");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_progress("");
    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    let frozen_at = read();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), frozen_at, "frozen child made progress");
    m.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    wait_progress(&frozen_at);

    kill_all(m.as_ref());
    let (_, sig, _) = child.finish(Duration::from_secs(5));
    assert_eq!(sig, Some(9));
    m.destroy().unwrap();
    for (key, d) in &m.paths().dirs {
        assert!(!d.exists(), "{} removed", d.display());
        let parent = d.parent().unwrap();
        if key == "memory" {
            assert!(
                !parent.exists(),
                "created parent {} removed",
                parent.display()
            );
            assert!(
                memory_root.as_ref().unwrap().is_dir(),
                "pre-existing parent kept"
            );
        } else {
            assert!(
                !d.parent().unwrap().parent().unwrap().exists(),
                "created base removed"
            );
        }
    }
    // Destroying again is fine.
    m.destroy().unwrap();
    if let Some(r) = memory_root {
        std::fs::remove_dir(r).unwrap();
    }
}

#[test]
fn destroy_waits_for_live_processes_then_reports_them() {
    let Some(host) = host_ready() else {
        return;
    };
    let m = manager_for(&host, Some(&test_path("busy")), "busy").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    let mut child = Gated::spawn("exec sleep 30");
    m.add_process(child.pid()).unwrap();
    child.release();
    let started = Instant::now();
    match m.destroy() {
        Err(CgroupError::Busy { pids, .. }) => assert_eq!(pids, vec![child.pid()]),
        other => panic!("destroy of a busy cgroup: {other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "it retried"
    );
    // A process that is exiting while destroy runs is waited for.
    let pid = child.pid();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let _ = Command::new(BUSYBOX)
            .args(["kill", "-9", &pid.to_string()])
            .status();
    });
    m.destroy().unwrap();
    let (_, sig, _) = child.finish(Duration::from_secs(5));
    assert_eq!(sig, Some(9));
    for (_, d) in &m.paths().dirs {
        assert!(!d.exists());
    }
}

#[test]
fn memory_limit_oom_kills_and_is_counted() {
    let Some(host) = host_ready() else {
        return;
    };
    let m = manager_for(&host, Some(&test_path("oom")), "oom").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    let limit = 32 << 20;
    m.apply(&resources(&format!(
        r#"{{"memory":{{"limit":{limit},"swap":{limit}}}}}"#
    )))
    .unwrap();
    let mut watcher = MemoryWatch::new(m.paths()).unwrap();
    let mut child = Gated::spawn("x=0123456789abcdef; while :; do x=$x$x; done");
    m.add_process(child.pid()).unwrap();
    child.release();
    let (code, sig, _) = child.finish(Duration::from_secs(30));
    assert_eq!((code, sig), (None, Some(9)), "killed by the OOM killer");
    assert!(m.oom_kill_count().unwrap() >= 1);
    assert_eq!(watcher.poll().unwrap().oom_kills, 1);
    assert_eq!(watcher.poll().unwrap().oom_kills, 0);
    let stats = m.stats().unwrap();
    assert_eq!(stats.memory.usage.limit, limit);
    // The peak reached the limit (failcnt stays 0 on kernels whose v1 memcg no longer
    // counts failed charges, so the peak is the evidence).
    assert!(
        stats.memory.usage.max >= limit - (1 << 20),
        "{:?}",
        stats.memory.usage
    );
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["memory"]["usage"]["limit"], limit);
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let Some(host) = host_ready() else {
        return;
    };
    let m = manager_for(&host, Some(&test_path("pids")), "pids").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    m.apply(&resources(r#"{"pids":{"limit":5}}"#)).unwrap();
    let mut child = Gated::spawn(
        "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; echo started; exec sleep 30",
    );
    m.add_process(child.pid()).unwrap();
    child.release();
    // The shell reports the failed fork; by then the loop has hit the limit.
    let mut stderr = BufReader::new(child.child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("fork"), "fork failed: {line:?}");
    std::thread::sleep(Duration::from_millis(100));
    let n = m.pids().unwrap().len();
    assert!((4..=5).contains(&n), "{n} processes, limit 5");
    let stats = m.stats().unwrap();
    assert_eq!(stats.pids.limit, 5);
    assert!(stats.pids.current <= 5);
    kill_all(m.as_ref());
    child.finish(Duration::from_secs(5));
}

const DEVICE_RULES: &str = r#"{"devices":[{"allow":false,"access":"rwm"},
    {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#;

/// With only char 1:3 (null) allowed: null opens and can be created, zero (1:5) can be
/// neither opened nor created. `m` joins the child, `rules` holds the device rules.
fn check_device_rules(m: &dyn Manager, rules: &dyn Manager) {
    rules.apply(&resources(DEVICE_RULES)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display();
    for (name, minor) in [("null", "3"), ("zero", "5")] {
        let st = Command::new(BUSYBOX)
            .args(["mknod", &format!("{d}/{name}"), "c", "1", minor])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mut child = Gated::spawn(&format!(
        "echo x > {d}/null && echo null-ok; \
         head -c1 {d}/zero > {d}/out 2>&1 && echo zero-ok || echo zero-denied; \
         mknod {d}/zero2 c 1 5 2>/dev/null && echo mknod-zero-ok || echo mknod-zero-denied; \
         mknod {d}/null2 c 1 3 && echo mknod-null-ok"
    ));
    m.add_process(child.pid()).unwrap();
    child.release();
    let (code, _, out) = child.finish(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "null-ok",
            "zero-denied",
            "mknod-zero-denied",
            "mknod-null-ok"
        ]
    );
}

#[test]
fn device_rules_deny_open_and_mknod() {
    let Some(host) = host_ready() else {
        return;
    };
    let m = manager_for(&host, Some(&test_path("dev")), "dev").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    // v1: devices.allow/deny; pure v2: the eBPF program.
    check_device_rules(m.as_ref(), m.as_ref());
    // An update that also allows zero (1:5) takes effect; on v1 it is written as a
    // difference, so the list is exactly the new exceptions.
    m.apply(&resources(
        r#"{"devices":[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":5,"access":"r"}]}"#,
    ))
    .unwrap();
    if let Some(d) = m.paths().dir_for("devices") {
        let list = std::fs::read_to_string(d.join("devices.list")).unwrap();
        assert_eq!(list, "c 1:3 rwm\nc 1:5 r\n");
    }
    let mut child = Gated::spawn("head -c1 /dev/zero > /dev/null && echo zero-ok");
    m.add_process(child.pid()).unwrap();
    child.release();
    let (_, _, out) = child.finish(Duration::from_secs(10));
    assert_eq!(out, "zero-ok\n");
}

/// The cgroup v2 path (an eBPF device program), exercised on the unified hierarchy: on a
/// hybrid host through a manager that sees only that hierarchy, on pure v2 directly.
#[test]
fn device_rules_as_bpf_program_on_cgroup2() {
    let Some(host) = host_ready() else {
        return;
    };
    let m = manager_for(&host, Some(&test_path("bpfdev")), "bpfdev").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    let Some(uni) = m.paths().unified_dir() else {
        berth_common::skip!("no cgroup2 mounted");
    };
    let v2_only = manager_from_paths(CgroupPaths {
        layout: LayoutKind::V2,
        dirs: vec![(String::new(), uni.to_path_buf())],
        created: Vec::new(),
        systemd_unit: None,
    });
    check_device_rules(m.as_ref(), v2_only.as_ref());
    // Applying again replaces the program instead of stacking a second one.
    v2_only.apply(&resources(DEVICE_RULES)).unwrap();
    check_device_rules(m.as_ref(), v2_only.as_ref());
}

#[test]
fn cpu_quota_caps_usage_and_update_changes_limits() {
    let Some(host) = host_ready() else {
        return;
    };
    let m = manager_for(&host, Some(&test_path("cpu")), "cpu").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    m.apply(&resources(
        r#"{"cpu":{"quota":20000,"period":100000,"shares":512},"memory":{"limit":67108864}}"#,
    ))
    .unwrap();
    // About 1 MiB of shell string, then spin.
    let mut child = Gated::spawn(
        "x=0123456789abcdef; i=0; while [ $i -lt 16 ]; do x=$x$x; i=$((i+1)); done; \
         while :; do :; done",
    );
    m.add_process(child.pid()).unwrap();
    let before = m.stats().unwrap().cpu.usage.total;
    let t0 = Instant::now();
    child.release();
    std::thread::sleep(Duration::from_millis(1000));
    let used = m.stats().unwrap().cpu.usage.total - before;
    let wall = t0.elapsed().as_nanos() as u64;
    assert!(used > 0, "stats move: used {used} ns");
    assert!(
        used < wall * 35 / 100,
        "quota caps usage: used {used} of {wall} ns"
    );
    let stats = m.stats().unwrap();
    assert!(stats.cpu.throttling.throttled_periods > 0);

    // update on the running container: the new limits hold.
    m.apply(&resources(
        r#"{"cpu":{"quota":50000},"memory":{"limit":33554432,"checkBeforeUpdate":true}}"#,
    ))
    .unwrap();
    assert_eq!(m.stats().unwrap().memory.usage.limit, 33554432);
    if let Some(d) = m.paths().dir_for("cpu") {
        let q = std::fs::read_to_string(d.join("cpu.cfs_quota_us")).unwrap();
        assert_eq!(q.trim(), "50000");
    }
    // On v1, a limit above memory+swap is refused with an explanation.
    if m.paths().dir_for("memory").is_some() {
        m.apply(&resources(
            r#"{"memory":{"limit":33554432,"swap":33554432}}"#,
        ))
        .unwrap();
        let err = m
            .apply(&resources(r#"{"memory":{"limit":67108864}}"#))
            .unwrap_err();
        assert!(
            err.to_string().contains("memory+swap limit 33554432"),
            "{err}"
        );
    }
    // checkBeforeUpdate refuses a limit below current usage.
    let err = m
        .apply(&resources(
            r#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("below current usage"), "{err}");
    kill_all(m.as_ref());
    child.finish(Duration::from_secs(5));
}

#[test]
fn hybrid_hugetlb_lives_in_the_unified_hierarchy() {
    let Some(host) = host_ready() else {
        return;
    };
    if berth_cgroups::layout_kind(&host).unwrap() != LayoutKind::Hybrid {
        berth_common::skip!("host is not hybrid");
    }
    // Nested, so controllers must be enabled in a parent this create makes too.
    let m = manager_for(&host, Some(&test_path("huge").join("ctr")), "huge").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    let uni = m.paths().unified_dir().unwrap().to_path_buf();
    let offered = std::fs::read_to_string(uni.join("cgroup.controllers")).unwrap();
    if !offered.contains("hugetlb") {
        berth_common::skip!("the unified hierarchy offers no hugetlb");
    }
    m.apply(&resources(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
    ))
    .unwrap();
    let v = std::fs::read_to_string(uni.join("hugetlb.2MB.max")).unwrap();
    assert_eq!(v.trim(), "4194304");
    let stats = m.stats().unwrap();
    assert!(stats.hugetlb.contains_key("2MB"), "{:?}", stats.hugetlb);
}

/// A real block device of this host as "major:minor" (throttles need one that exists).
fn some_block_device() -> Option<String> {
    let mut devs: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
        .map(|d| d.trim().to_string())
        .collect();
    devs.sort();
    devs.into_iter().next()
}

/// blkio on cgroup v1 as runc does it: each setting goes to the file the host's schedulers
/// expose (CFQ's, else BFQ's weight files; the throttle files), empty lists and zero weights
/// write nothing, and a setting the host cannot honour fails naming that setting.
#[test]
fn blkio_v1_writes_what_the_host_offers() {
    let Some(host) = host_ready() else {
        return;
    };
    let m = manager_for(&host, Some(&test_path("blkio")), "blkio").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    let Some(dir) = m.paths().dir_for("blkio").map(Path::to_path_buf) else {
        berth_common::skip!("no v1 blkio hierarchy");
    };
    let Some(dev) = some_block_device() else {
        berth_common::skip!("no block device");
    };
    let (maj, min) = dev.split_once(':').unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    // Empty device lists and zero weights: nothing to write, nothing to fail.
    m.apply(&resources(
        r#"{"blockIO":{"weight":0,"leafWeight":0,"weightDevice":[],"throttleReadBpsDevice":[],
            "throttleWriteBpsDevice":[],"throttleReadIOPSDevice":[],"throttleWriteIOPSDevice":[]}}"#,
    ))
    .unwrap();
    // Populated throttle lists on a real device.
    m.apply(&resources(&format!(
        r#"{{"blockIO":{{"throttleReadBpsDevice":[{{"major":{maj},"minor":{min},"rate":1048576}}],
            "throttleWriteBpsDevice":[{{"major":{maj},"minor":{min},"rate":2097152}}],
            "throttleReadIOPSDevice":[{{"major":{maj},"minor":{min},"rate":100}}],
            "throttleWriteIOPSDevice":[{{"major":{maj},"minor":{min},"rate":200}}]}}}}"#
    )))
    .unwrap();
    assert_eq!(
        read("blkio.throttle.read_bps_device"),
        format!("{dev} 1048576\n")
    );
    assert_eq!(
        read("blkio.throttle.write_bps_device"),
        format!("{dev} 2097152\n")
    );
    assert_eq!(
        read("blkio.throttle.read_iops_device"),
        format!("{dev} 100\n")
    );
    assert_eq!(
        read("blkio.throttle.write_iops_device"),
        format!("{dev} 200\n")
    );
    // The weight goes to whichever weight file the host has.
    let weight = resources(r#"{"blockIO":{"weight":700}}"#);
    match ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| dir.join(f).exists())
    {
        Some(f) => {
            m.apply(&weight).unwrap();
            assert!(read(f).trim().ends_with("700"), "{f}: {}", read(f));
        }
        None => {
            let err = m.apply(&weight).unwrap_err().to_string();
            assert!(
                err.contains("blockIO.weight") && err.contains("not supported"),
                "{err}"
            );
        }
    }
    // Leaf weights exist only with CFQ: written there, a named refusal elsewhere.
    let leaf = resources(r#"{"blockIO":{"leafWeight":300}}"#);
    if dir.join("blkio.leaf_weight").exists() {
        m.apply(&leaf).unwrap();
        assert_eq!(read("blkio.leaf_weight").trim(), "300");
    } else {
        let err = m.apply(&leaf).unwrap_err().to_string();
        assert!(
            err.contains("blockIO.leafWeight") && err.contains("not supported"),
            "{err}"
        );
    }
    // A device the host does not have is named as such.
    if let Some(missing) = (0..16)
        .map(|n| format!("{maj}:{}", 240 + n))
        .find(|d| !Path::new("/sys/dev/block").join(d).exists())
    {
        let (ma, mi) = missing.split_once(':').unwrap();
        let err = m
            .apply(&resources(&format!(
                r#"{{"blockIO":{{"throttleReadBpsDevice":[{{"major":{ma},"minor":{mi},"rate":1}}]}}}}"#
            )))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&missing) && err.contains("no such block device"),
            "{err}"
        );
    }
}

#[test]
fn systemd_path_translates_to_a_working_cgroup() {
    let Some(host) = host_ready() else {
        return;
    };
    let name = format!("berth-cgtest-{}.slice:test:sd", std::process::id());
    let path = systemd_to_cgroupfs(&name).unwrap();
    let m = manager_for(&host, Some(&path), "sd").unwrap();
    let _c = Cleanup(m.as_ref());
    m.create().unwrap();
    let d = m.paths().dirs[0].1.clone();
    assert!(d.ends_with(format!(
        "berth-cgtest-{}.slice/test-sd.scope",
        std::process::id()
    )));
    m.destroy().unwrap();
    assert!(!d.parent().unwrap().exists(), "created slice removed too");
}

/// The cgroup part of create/delete must stay cheap next to the rest of the lifecycle:
/// resolve + create + memory/pids/cpu limits + join + destroy, averaged over a few rounds.
#[test]
fn repeated_create_apply_destroy_leaves_nothing() {
    let Some(host) = host_ready() else {
        return;
    };
    let limits = resources(
        r#"{"memory":{"limit":67108864,"swap":67108864},"pids":{"limit":100},
            "cpu":{"shares":512,"quota":50000,"period":100000}}"#,
    );
    let rounds = 20u32;
    let mut child = Gated::spawn("exit 0");
    let started = Instant::now();
    for i in 0..rounds {
        let m = manager_for(&host, Some(&test_path(&format!("speed{i}"))), "speed").unwrap();
        let _c = Cleanup(m.as_ref());
        m.create().unwrap();
        m.apply(&limits).unwrap();
        m.add_process(child.pid()).unwrap();
        // Back to the root so destroy finds the cgroup empty.
        for (_, d) in &m.paths().dirs {
            let root = d.parent().unwrap();
            std::fs::write(root.join("cgroup.procs"), child.pid().to_string()).unwrap();
        }
        m.destroy().unwrap();
        for (_, d) in &m.paths().dirs {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
    let per_round = started.elapsed() / rounds;
    child.release();
    child.finish(Duration::from_secs(5));
    // Speed is measured by bench/, never asserted here: this only reports it.
    eprintln!("cgroup create+apply+join+destroy: {per_round:?} per container");
}

/// The resources of real clients' config.json files (ctr, docker, podman; from
/// /work/shared/fixtures/client-configs) apply as they are.
#[test]
fn client_config_resources_apply() {
    let Some(host) = host_ready() else {
        return;
    };
    let configs = [
        (
            "ctr",
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":8,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":7,"access":"rwm"},{"allow":true,"type":"c","major":5,"minor":0,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":9,"access":"rwm"},{"allow":true,"type":"c","major":5,"minor":1,"access":"rwm"},{"allow":true,"type":"c","major":136,"access":"rwm"},{"allow":true,"type":"c","major":5,"minor":2,"access":"rwm"}],"cpu":{"shares":1024}}"#,
        ),
        (
            "docker",
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":9,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":8,"access":"rwm"},{"allow":true,"type":"c","major":5,"minor":0,"access":"rwm"},{"allow":true,"type":"c","major":5,"minor":1,"access":"rwm"},{"allow":false,"type":"c","major":10,"minor":229,"access":"rwm"}],"memory":{"disableOOMKiller":false},"cpu":{"shares":0},"blockIO":{"weight":0}}"#,
        ),
        (
            "podman",
            r#"{"devices":[{"allow":false,"access":"rwm"}],"pids":{"limit":2048}}"#,
        ),
    ];
    for (client, json) in configs {
        let m = manager_for(&host, Some(&test_path(client).join("ctr")), client).unwrap();
        let _c = Cleanup(m.as_ref());
        m.create().unwrap();
        m.apply(&resources(json))
            .unwrap_or_else(|e| panic!("{client}: {e}"));
        let mut child = Gated::spawn("echo x > /dev/null && echo ok");
        m.add_process(child.pid()).unwrap();
        child.release();
        let (_, _, out) = child.finish(Duration::from_secs(10));
        let want = if client == "podman" { "" } else { "ok\n" };
        assert_eq!(out, want, "{client}: /dev/null access");
        if client == "podman" {
            assert_eq!(m.stats().unwrap().pids.limit, 2048);
        }
    }
}
