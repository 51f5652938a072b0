//! The `process` object and the identity fields: hostname, domainname, user, groups, umask, cwd,
//! env, rlimits, capabilities, no_new_privs, oom_score_adj, seccomp, LSM labels.

use crate::procfs;
use crate::tap::Tap;
use serde_json::Value;

pub fn check(t: &mut Tap, c: &Value) {
    let p = &c["process"];
    let status = procfs::status();
    let field = |k: &str| status.get(k).cloned().unwrap_or_default();

    for (key, file) in [("hostname", "hostname"), ("domainname", "domainname")] {
        if let Some(want) = c[key].as_str() {
            let got =
                procfs::read(&format!("/proc/sys/kernel/{file}")).map(|s| s.trim_end().to_string());
            t.check(key, got.and_then(|g| same(&g, want)));
        }
    }

    let uid = p["user"]["uid"].as_u64().unwrap_or(0);
    let gid = p["user"]["gid"].as_u64().unwrap_or(0);
    t.eq(
        "user uid (real, effective, saved, fs)",
        ids(&field("Uid")),
        vec![uid; 4],
    );
    t.eq(
        "user gid (real, effective, saved, fs)",
        ids(&field("Gid")),
        vec![gid; 4],
    );
    if let Some(extra) = p["user"]["additionalGids"].as_array() {
        let mut want: Vec<u64> = extra.iter().filter_map(Value::as_u64).collect();
        want.sort_unstable();
        want.dedup();
        let mut got = ids(&field("Groups"));
        got.sort_unstable();
        t.eq("user additionalGids", got, want);
    }

    let umask = p["user"]["umask"].as_u64().unwrap_or(0o022);
    t.eq("umask", field("Umask"), format!("{umask:04o}"));

    let cwd = p["cwd"].as_str().unwrap_or("/");
    let got = std::fs::read_link("/proc/self/cwd").map(|p| p.to_string_lossy().into_owned());
    t.check(
        "cwd",
        got.map_err(|e| e.to_string())
            .and_then(|g| same(&g, &procfs::canonical(cwd))),
    );

    env(t, p);
    rlimits(t, p);
    capabilities(t, p, &field);

    let nnp = p["noNewPrivileges"].as_bool().unwrap_or(false);
    t.eq(
        "noNewPrivileges",
        field("NoNewPrivs"),
        if nnp { "1" } else { "0" }.to_string(),
    );

    if let Some(want) = p["oomScoreAdj"].as_i64() {
        let got = procfs::read("/proc/self/oom_score_adj").map(|s| s.trim().to_string());
        t.check("oomScoreAdj", got.and_then(|g| same(&g, &want.to_string())));
    }

    // Mode 2 is filter mode; any seccomp object installs a filter.
    let want = if c["linux"]["seccomp"].is_object() {
        "2"
    } else {
        "0"
    };
    t.eq("seccomp mode", field("Seccomp"), want.to_string());

    lsm(t, p);
}

fn same(got: &str, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("got {got:?}, want {want:?}"))
    }
}

fn ids(s: &str) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// Every variable the config sets has its value (a later entry for the same name wins).
fn env(t: &mut Tap, p: &Value) {
    let mut want: Vec<(String, String)> = Vec::new();
    for e in p["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        want.retain(|(k2, _)| k2 != k);
        want.push((k.into(), v.into()));
    }
    for (k, v) in want {
        let got = std::env::var(&k).ok();
        t.eq(&format!("env {k}"), got, Some(v));
    }
}

/// /proc/self/limits names each resource in words.
const RLIMITS: &[(&str, &str)] = &[
    ("RLIMIT_CPU", "Max cpu time"),
    ("RLIMIT_FSIZE", "Max file size"),
    ("RLIMIT_DATA", "Max data size"),
    ("RLIMIT_STACK", "Max stack size"),
    ("RLIMIT_CORE", "Max core file size"),
    ("RLIMIT_RSS", "Max resident set"),
    ("RLIMIT_NPROC", "Max processes"),
    ("RLIMIT_NOFILE", "Max open files"),
    ("RLIMIT_MEMLOCK", "Max locked memory"),
    ("RLIMIT_AS", "Max address space"),
    ("RLIMIT_LOCKS", "Max file locks"),
    ("RLIMIT_SIGPENDING", "Max pending signals"),
    ("RLIMIT_MSGQUEUE", "Max msgqueue size"),
    ("RLIMIT_NICE", "Max nice priority"),
    ("RLIMIT_RTPRIO", "Max realtime priority"),
    ("RLIMIT_RTTIME", "Max realtime timeout"),
];

fn rlimits(t: &mut Tap, p: &Value) {
    let text = procfs::read("/proc/self/limits").unwrap_or_default();
    let limit = |words: &str| -> Option<(u64, u64)> {
        let rest = text.lines().find_map(|l| l.strip_prefix(words))?;
        let mut v = rest.split_whitespace().map(|x| {
            if x == "unlimited" {
                u64::MAX
            } else {
                x.parse().unwrap_or(0)
            }
        });
        Some((v.next()?, v.next()?))
    };
    for r in p["rlimits"].as_array().into_iter().flatten() {
        let ty = r["type"].as_str().unwrap_or("");
        let what = format!("rlimit {ty}");
        let Some((_, words)) = RLIMITS.iter().find(|(n, _)| *n == ty) else {
            t.skip(&what, "unknown to this checker");
            continue;
        };
        let want = (
            r["soft"].as_u64().unwrap_or(0),
            r["hard"].as_u64().unwrap_or(0),
        );
        t.eq(&what, limit(words), Some(want));
    }
}

fn capabilities(t: &mut Tap, p: &Value, field: &dyn Fn(&str) -> String) {
    let Some(caps) = p["capabilities"].as_object() else {
        t.skip("capabilities", "the config has none");
        return;
    };
    // Names the kernel does not know are dropped by every runtime: compare known bits only.
    let last: u32 = procfs::read("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let known = if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    };
    let mask = |set: &str| {
        let mut m = 0u64;
        for name in caps
            .get(set)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Ok(cap) = name.parse::<caps::Capability>() {
                m |= 1u64 << cap.index();
            }
        }
        m & known
    };
    // What execve leaves of the sets the runtime applied (capabilities(7), no file capabilities):
    // an ambient capability survives only if permitted and inheritable; root's permitted and
    // effective sets become bounding ∪ inheritable ∪ ambient, and no more than it had under
    // no_new_privs; anyone else's become the ambient set.
    let (bounding, inheritable, permitted) =
        (mask("bounding"), mask("inheritable"), mask("permitted"));
    let ambient = mask("ambient") & permitted & inheritable;
    let root = p["user"]["uid"].as_u64().unwrap_or(0) == 0;
    let nnp = p["noNewPrivileges"].as_bool().unwrap_or(false);
    let permitted = match (root, nnp) {
        (true, false) => bounding | inheritable | ambient,
        (true, true) => (bounding | inheritable | ambient) & permitted,
        (false, _) => ambient,
    };
    for (set, status_key, want) in [
        ("bounding", "CapBnd", bounding),
        ("effective", "CapEff", permitted),
        ("permitted", "CapPrm", permitted),
        ("inheritable", "CapInh", inheritable),
        ("ambient", "CapAmb", ambient),
    ] {
        let got = u64::from_str_radix(&field(status_key), 16).unwrap_or(u64::MAX);
        t.check(&format!("capabilities {set}"), diff_caps(got, want));
    }
}

fn diff_caps(got: u64, want: u64) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let names = |mask: u64| -> Vec<String> {
        caps::all()
            .into_iter()
            .filter(|c| mask & (1u64 << c.index()) != 0)
            .map(|c| c.to_string())
            .collect()
    };
    Err(format!(
        "extra {:?}, missing {:?}",
        names(got & !want),
        names(want & !got)
    ))
}

/// AppArmor and SELinux labels, checked only where the kernel has them enabled.
fn lsm(t: &mut Tap, p: &Value) {
    let current = || {
        procfs::read("/proc/self/attr/current")
            .map(|s| s.trim_end_matches(['\n', '\0']).to_string())
    };
    if let Some(profile) = p["apparmorProfile"].as_str() {
        let enabled =
            procfs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y");
        if enabled {
            let got = current();
            t.check(
                "apparmorProfile",
                got.and_then(|g| {
                    if g.split(' ').next() == Some(profile) {
                        Ok(())
                    } else {
                        Err(format!("got {g:?}, want {profile:?}"))
                    }
                }),
            );
        } else {
            t.skip("apparmorProfile", "AppArmor is not enabled");
        }
    }
    if let Some(label) = p["selinuxLabel"].as_str() {
        if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
            t.check("selinuxLabel", current().and_then(|g| same(&g, label)));
        } else {
            t.skip("selinuxLabel", "SELinux is not enabled");
        }
    }
}
