//! A container's v1 cpuset below a load-balancing ancestor has `cpuset.sched_load_balance`
//! cleared before its cpus are written: the kernel never looks below a balancing cpuset when
//! it builds scheduler domains, and with the flag set every cpus write and the removal
//! rebuild the host's domains. Below an ancestor that does not balance, the flag is left.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const CPUSET: &str = "/sys/fs/cgroup/cpuset";

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// The v1 cpuset hierarchy's root, when it balances load (the default).
fn balancing_root() -> Option<PathBuf> {
    let root = PathBuf::from(CPUSET);
    let flag = std::fs::read_to_string(root.join("cpuset.sched_load_balance")).ok()?;
    (flag.trim() == "1").then_some(root)
}

#[test]
fn a_new_cpuset_below_a_balancing_root_does_not_balance_itself() {
    let Some(root) = balancing_root() else {
        berth_common::skip!("no v1 cpuset hierarchy whose root balances load");
    };
    let c = Ctr::new("cpubal", &["sleep", "1000"]);
    c.create_and_start();
    let dir = root.join(c.cgroup.trim_start_matches('/'));
    assert_eq!(read(&dir, "cpuset.sched_load_balance"), "0");
    // Its cpus were still copied down, and the program runs on them.
    let cpus = read(&root, "cpuset.cpus");
    assert_eq!(read(&dir, "cpuset.cpus"), cpus);
    let pid = c.state()["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    assert_eq!(allowed, cpus);
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn below_a_parent_that_does_not_balance_the_flag_is_left_alone() {
    let Some(root) = balancing_root() else {
        berth_common::skip!("no v1 cpuset hierarchy whose root balances load");
    };
    let parent_name = format!("berthtest-nobal-{}", std::process::id());
    let parent = root.join(&parent_name);
    std::fs::create_dir(&parent).unwrap();
    for f in ["cpuset.cpus", "cpuset.mems"] {
        std::fs::write(parent.join(f), read(&root, f)).unwrap();
    }
    std::fs::write(parent.join("cpuset.sched_load_balance"), "0").unwrap();
    let mut c = Ctr::new("cpubal", &["sleep", "1000"]);
    let path = format!("/{parent_name}/{}", c.id);
    c.cgroup = path.clone();
    c.patch(|v| v["linux"]["cgroupsPath"] = serde_json::json!(path));
    let out = c.create();
    let flag = std::fs::read_to_string(
        root.join(c.cgroup.trim_start_matches('/'))
            .join("cpuset.sched_load_balance"),
    );
    let _ = c.cmd(&["delete", "--force", &c.id]);
    let _ = std::fs::remove_dir(&parent);
    assert_ok(&out, "create");
    assert_eq!(flag.unwrap().trim(), "1");
}
