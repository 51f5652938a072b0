//! The security flags of the image form (`--cap-add`, `--cap-drop`, `--privileged`,
//! `--device`, `--security-opt`, `--group-add`, `--ulimit`, `--sysctl`, `--tmpfs`,
//! `--shm-size`), each mapped onto the generated OCI config. The runtime enforces them as it
//! enforces any config.json (and refuses what it cannot honour, e.g. a host-wide sysctl).

use berth_common::io::Step;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Mount, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType, Spec,
};

use berth::people_cli::PeopleFlags;

use crate::error::PeopleError;

/// Docker's default capability set: people expect `ping` (NET_RAW) and `chown` to work.
const DEFAULT_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability by its kernel number (CAP_CHOWN is 0): "ALL" is those in berth's own
/// bounding set (a container cannot be given more; the kernel may know fewer).
pub(crate) const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

fn usage(flag: &str, value: &str, why: impl std::fmt::Display) -> PeopleError {
    PeopleError::Usage(format!("--{flag} {value}: {why}"))
}

/// A capability name as Docker takes it: any case, with or without `CAP_`.
fn parse_cap(flag: &str, name: &str) -> Result<Capability, PeopleError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    serde_json::from_value(serde_json::Value::String(format!("CAP_{bare}")))
        .map_err(|_| usage(flag, name, "unknown capability"))
}

fn all_caps() -> Result<HashSet<Capability>, PeopleError> {
    let path = Path::new("/proc/self/status");
    let status = std::fs::read_to_string(path).step("read", path)?;
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| PeopleError::Usage("no CapBnd in /proc/self/status".into()))?;
    Ok(CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .filter_map(|(_, n)| parse_cap("cap-add", n).ok())
        .collect())
}

/// The container's capabilities, as Docker computes them: ALL in --cap-add starts from every
/// capability, ALL in --cap-drop from none, otherwise from Docker's defaults; then the named
/// drops go and the named adds come (an add wins over a drop of the same capability).
pub fn capabilities(f: &PeopleFlags) -> Result<HashSet<Capability>, PeopleError> {
    let is_all = |s: &String| s.eq_ignore_ascii_case("ALL");
    if f.privileged || f.cap_add.iter().any(is_all) {
        let mut caps = all_caps()?;
        for d in f.cap_drop.iter().filter(|d| !is_all(d)) {
            caps.remove(&parse_cap("cap-drop", d)?);
        }
        return Ok(caps);
    }
    let mut caps: HashSet<Capability> = if f.cap_drop.iter().any(is_all) {
        HashSet::new()
    } else {
        DEFAULT_CAPS.iter().copied().collect()
    };
    for d in f.cap_drop.iter().filter(|d| !is_all(d)) {
        caps.remove(&parse_cap("cap-drop", d)?);
    }
    for a in &f.cap_add {
        caps.insert(parse_cap("cap-add", a)?);
    }
    Ok(caps)
}

/// Applies every flag but the capabilities (which config.rs sets with the rest of the
/// process) to `spec`.
pub fn apply(spec: &mut Spec, f: &PeopleFlags) -> Result<(), PeopleError> {
    let mut process = spec.process().clone().unwrap_or_default();
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut mounts = spec.mounts().clone().unwrap_or_default();

    let caps: HashSet<Capability> = process
        .capabilities()
        .as_ref()
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default();
    // Docker's default filter, evaluated for the capabilities config.rs gave the process;
    // --privileged runs without one.
    linux.set_seccomp(if f.privileged {
        None
    } else {
        Some(crate::seccomp::docker_default(&caps)?)
    });
    let mut cgroup_rules = Vec::new();
    if f.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        cgroup_rules.push(
            LinuxDeviceCgroup::default()
                .set_allow(true)
                .set_access(Some("rwm".into()))
                .clone(),
        );
    }
    let mut devices = linux.devices().clone().unwrap_or_default();
    for d in &f.device {
        devices.push(device(d)?);
    }
    linux.set_devices((!devices.is_empty()).then_some(devices));

    for opt in &f.security_opt {
        security_opt(opt, &caps, &mut process, &mut linux)?;
    }

    if !f.group_add.is_empty() {
        let mut user = process.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        for g in &f.group_add {
            gids.push(
                g.parse::<u32>()
                    .map_err(|_| usage("group-add", g, "expected a numeric GID"))?,
            );
        }
        user.set_additional_gids(Some(gids));
        process.set_user(user);
    }

    let mut rlimits = process.rlimits().clone().unwrap_or_default();
    for u in &f.ulimit {
        let r = ulimit(u)?;
        rlimits.retain(|o| o.typ() != r.typ());
        rlimits.push(r);
    }
    process.set_rlimits(Some(rlimits));

    if !f.sysctl.is_empty() {
        let mut sysctl = linux.sysctl().clone().unwrap_or_default();
        for kv in &f.sysctl {
            let (k, v) = kv
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| usage("sysctl", kv, "expected KEY=VALUE"))?;
            sysctl.insert(k.to_string(), v.to_string());
        }
        linux.set_sysctl(Some(sysctl));
    }

    for t in &f.tmpfs {
        let m = tmpfs(t)?;
        mounts.retain(|o| o.destination() != m.destination());
        mounts.push(m);
    }
    if let Some(s) = &f.shm_size {
        shm_size(s, &mut mounts)?;
    }

    if !cgroup_rules.is_empty() {
        let mut res = linux.resources().clone().unwrap_or_default();
        let mut rules = res.devices().clone().unwrap_or_default();
        rules.extend(cgroup_rules);
        res.set_devices(Some(rules));
        linux.set_resources(Some(res));
    }
    spec.set_process(Some(process));
    spec.set_linux(Some(linux));
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// `--device HOST[:CTR[:PERMS]]` (or `HOST:PERMS`): the host node's type and numbers,
/// created at CTR. The runtime allows every config device rwm in the device cgroup, so other
/// permissions are refused rather than silently widened.
fn device(spec: &str) -> Result<LinuxDevice, PeopleError> {
    let bad = |why: &str| usage("device", spec, why);
    let is_perms = |s: &str| !s.is_empty() && s.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(bad("expected HOST[:CONTAINER[:rwm]]")),
    };
    if !is_perms(perms) {
        return Err(bad("permissions are letters of rwm"));
    }
    if perms.len() != 3 || !"rwm".chars().all(|c| perms.contains(c)) {
        return Err(bad("only rwm access is supported"));
    }
    if !host.starts_with('/') || !ctr.starts_with('/') {
        return Err(bad("device paths must be absolute"));
    }
    let st = rustix::fs::stat(host).map_err(|e| bad(&format!("stat {host}: {e}")))?;
    let typ = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::CharacterDevice => LinuxDeviceType::C,
        rustix::fs::FileType::BlockDevice => LinuxDeviceType::B,
        _ => return Err(bad(&format!("{host} is not a device node"))),
    };
    Ok(LinuxDevice::default()
        .set_path(PathBuf::from(ctr))
        .set_typ(typ)
        .set_major(i64::from(rustix::fs::major(st.st_rdev)))
        .set_minor(i64::from(rustix::fs::minor(st.st_rdev)))
        .set_file_mode(Some(st.st_mode & 0o7777))
        .set_uid(Some(st.st_uid))
        .set_gid(Some(st.st_gid))
        .clone())
}

/// `--security-opt`: no-new-privileges[=|:true|false], seccomp=unconfined|FILE.
fn security_opt(
    opt: &str,
    caps: &HashSet<Capability>,
    process: &mut oci_spec::runtime::Process,
    linux: &mut oci_spec::runtime::Linux,
) -> Result<(), PeopleError> {
    let (key, value) = match opt.split_once(['=', ':']) {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    match (key, value) {
        ("no-new-privileges", None | Some("true")) => {
            process.set_no_new_privileges(Some(true));
        }
        ("no-new-privileges", Some("false")) => {
            process.set_no_new_privileges(Some(false));
        }
        ("seccomp", Some("unconfined")) => {
            linux.set_seccomp(None);
        }
        ("seccomp", Some(file)) if !file.is_empty() => {
            linux.set_seccomp(Some(crate::seccomp::from_file(Path::new(file), caps)?));
        }
        _ => {
            return Err(usage(
                "security-opt",
                opt,
                "expected no-new-privileges[=true|false], seccomp=unconfined or seccomp=FILE",
            ))
        }
    }
    Ok(())
}

/// `--ulimit NAME=SOFT[:HARD]`; -1 or "unlimited" for no limit.
fn ulimit(spec: &str) -> Result<PosixRlimit, PeopleError> {
    let bad = |why: &str| usage("ulimit", spec, why);
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=SOFT[:HARD]"))?;
    let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(format!(
        "RLIMIT_{}",
        name.to_ascii_uppercase()
    )))
    .map_err(|_| bad("unknown limit name (nofile, nproc, core, memlock, stack...)"))?;
    let num = |s: &str| match s {
        "-1" | "unlimited" => Ok(u64::MAX),
        _ => s.parse::<u64>().map_err(|_| bad("limits are numbers")),
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(values)?, num(values)?),
    };
    if soft > hard {
        return Err(bad("the soft limit is above the hard one"));
    }
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(|e| bad(&e.to_string()))
}

/// `--tmpfs PATH[:OPTS]`: nosuid,nodev,noexec as Docker, then the given options.
fn tmpfs(spec: &str) -> Result<Mount, PeopleError> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if !path.starts_with('/') {
        return Err(usage("tmpfs", spec, "the path must be absolute"));
    }
    let mut options: Vec<String> = ["nosuid", "nodev", "noexec"].map(String::from).into();
    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
    Ok(Mount::default()
        .set_destination(PathBuf::from(path))
        .set_typ(Some("tmpfs".into()))
        .set_source(Some("tmpfs".into()))
        .set_options(Some(options))
        .clone())
}

/// `--shm-size`: the size= option of the /dev/shm mount.
fn shm_size(s: &str, mounts: &mut [Mount]) -> Result<(), PeopleError> {
    let bytes = berth_common::size::parse_bytes(s)
        .filter(|n| *n > 0)
        .ok_or_else(|| usage("shm-size", s, "expected a size such as 64m or 1g"))?;
    let shm = mounts
        .iter_mut()
        .find(|m| m.destination() == Path::new("/dev/shm"))
        .ok_or_else(|| usage("shm-size", s, "the config has no /dev/shm mount"))?;
    let mut opts = shm.options().clone().unwrap_or_default();
    opts.retain(|o| !o.starts_with("size="));
    opts.push(format!("size={bytes}"));
    shm.set_options(Some(opts));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names() {
        assert_eq!(
            parse_cap("cap-add", "net_admin").unwrap(),
            Capability::NetAdmin
        );
        assert_eq!(
            parse_cap("cap-add", "CAP_SYS_ADMIN").unwrap(),
            Capability::SysAdmin
        );
        let e = parse_cap("cap-add", "FLY").unwrap_err().to_string();
        assert!(e.contains("FLY") && e.contains("unknown capability"), "{e}");
        for n in CAP_NAMES {
            parse_cap("cap-add", n).unwrap();
        }
    }

    #[test]
    fn ulimits_and_devices() {
        let r = ulimit("nofile=100:200").unwrap();
        assert_eq!((r.soft(), r.hard()), (100, 200));
        assert_eq!(ulimit("core=-1").unwrap().hard(), u64::MAX);
        assert!(ulimit("nofile=200:100").is_err());
        assert!(ulimit("bogus=1").is_err());
        assert!(device("/dev/null:/dev/x:rx").is_err());
        assert!(device("/etc/passwd").is_err());
        assert_eq!(device("/dev/null:/dev/x").unwrap().minor(), 3);
    }
}
