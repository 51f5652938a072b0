//! What limits the container's program: capabilities (the five sets, in the right order
//! around the uid switch), the uid/gid switch itself, rlimits, no_new_privs and seccomp.
//!
//! Runs in the container init after the root is entered and before execve.

use std::collections::HashSet;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{
    Capabilities, IOPriorityClass, LinuxCapabilities, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, LinuxSeccomp, LinuxSeccompAction,
    LinuxSeccompOperator, PosixRlimit, PosixRlimitType, Process, User,
};

use crate::init::{Ctx, InitError};
use crate::sys;

/// The host kernel's capabilities, read once: names the kernel lacks are dropped from every
/// set (runc warns and drops them too).
fn to_caps(set: &Capabilities, supported: &CapsHashSet) -> CapsHashSet {
    set.iter()
        .filter_map(|c| format!("CAP_{c}").parse::<Cap>().ok())
        .filter(|c| supported.contains(c))
        .collect()
}

/// Capability names in any set of `caps` that this kernel does not know: runc drops them
/// with a warning, and so does berth (`create` prints one line per name).
pub fn unsupported_caps(caps: &LinuxCapabilities, supported: &CapsHashSet) -> Vec<String> {
    let mut out: Vec<String> = [
        caps.bounding(),
        caps.effective(),
        caps.inheritable(),
        caps.permitted(),
        caps.ambient(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter(|c| {
        format!("CAP_{c}")
            .parse::<Cap>()
            .map_or(true, |c| !supported.contains(&c))
    })
    .map(|c| format!("CAP_{c}"))
    .collect();
    out.sort();
    out.dedup();
    out
}

/// Step 1, while still root: shrink the bounding set.
pub fn drop_bounding(caps: Option<&LinuxCapabilities>) -> Result<(), InitError> {
    let Some(caps) = caps else { return Ok(()) };
    let supported = caps::runtime::thread_all_supported();
    let keep = to_caps(
        caps.bounding().as_ref().unwrap_or(&HashSet::new()),
        &supported,
    );
    for cap in supported.iter() {
        if !keep.contains(cap) {
            caps::drop(None, CapSet::Bounding, *cap)
                .ctx(|| format!("drop {cap} from bounding set"))?;
        }
    }
    Ok(())
}

/// Step 2: groups, gid, uid — keeping the permitted set across the switch so step 3 can
/// choose what stays.
pub fn switch_user(user: &User) -> Result<(), InitError> {
    // The kernel reads id 4294967295 ((uid_t)-1) as "leave unchanged": setresuid with it
    // would keep root. Refused, with every id above i32::MAX, as runc does.
    let ids = [user.uid(), user.gid()]
        .into_iter()
        .chain(user.additional_gids().iter().flatten().copied());
    if let Some(bad) = ids.into_iter().find(|id| i32::try_from(*id).is_err()) {
        return Err(InitError(format!(
            "process.user: id {bad} is outside 0-2147483647 (4294967295 would leave the id unchanged)"
        )));
    }
    nix::sys::prctl::set_keepcaps(true).ctx(|| "keep capabilities".into())?;
    // Duplicates removed, first occurrence kept (runc does the same).
    let mut gids: Vec<Gid> = Vec::new();
    for g in user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
    {
        if !gids.contains(&g) {
            gids.push(g);
        }
    }
    // setgroups is refused in a user namespace whose setgroups file says "deny"; an empty
    // list there is what the kernel already has.
    match setgroups(&gids) {
        Ok(()) => {}
        Err(nix::errno::Errno::EPERM) if gids.is_empty() => {}
        Err(nix::errno::Errno::EPERM)
            if std::fs::read_to_string("/proc/self/setgroups")
                .is_ok_and(|s| s.trim() == "deny") =>
        {
            return Err(InitError(format!(
                "process.user.additionalGids {gids:?}: setgroups is denied in this user \
                 namespace (a rootless container mapping a single id cannot have \
                 supplementary groups; map more ids with newgidmap)"
            )))
        }
        Err(e) => return Err(InitError(format!("setgroups {gids:?}: {e}"))),
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).ctx(|| format!("setgid {gid}"))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).ctx(|| format!("setuid {uid}"))?;
    nix::sys::prctl::set_keepcaps(false).ctx(|| "clear keep capabilities".into())?;
    Ok(())
}

/// Step 3: the permitted, inheritable, effective and ambient sets.
pub fn apply_caps(caps: Option<&LinuxCapabilities>) -> Result<(), InitError> {
    let Some(caps) = caps else { return Ok(()) };
    let supported = caps::runtime::thread_all_supported();
    let empty = HashSet::new();
    let set = |s: &Option<Capabilities>| to_caps(s.as_ref().unwrap_or(&empty), &supported);
    // Each capset must keep effective within permitted: inheritable first (while
    // CAP_SETPCAP is still effective), then shrink effective, then permitted.
    caps::set(None, CapSet::Inheritable, &set(caps.inheritable()))
        .ctx(|| "set inheritable capabilities".into())?;
    caps::set(None, CapSet::Effective, &set(caps.effective()))
        .ctx(|| "set effective capabilities".into())?;
    caps::set(None, CapSet::Permitted, &set(caps.permitted()))
        .ctx(|| "set permitted capabilities".into())?;
    caps::clear(None, CapSet::Ambient).ctx(|| "clear ambient capabilities".into())?;
    // The kernel allows an ambient capability only if it is also permitted and
    // inheritable; runc's default spec lists ambient ones without inheritable, and runc
    // skips what cannot be raised. So does berth.
    let inheritable = set(caps.inheritable());
    for cap in set(caps.ambient()).intersection(&inheritable) {
        caps::raise(None, CapSet::Ambient, *cap).ctx(|| format!("raise ambient {cap}"))?;
    }
    Ok(())
}

/// process.scheduler, process.ioPriority and linux.personality, applied while the init is
/// still root (real-time classes need CAP_SYS_NICE / CAP_SYS_ADMIN).
pub fn apply_process_attrs(
    process: &Process,
    personality: Option<&LinuxPersonality>,
) -> Result<(), InitError> {
    if let Some(p) = personality {
        let persona = match p.domain() {
            LinuxPersonalityDomain::PerLinux => 0x0000,
            LinuxPersonalityDomain::PerLinux32 => 0x0008,
        };
        sys::set_personality(persona).ctx(|| format!("set personality {}", p.domain()))?;
    }
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        sys::set_io_priority(class, io.priority() as u32)
            .ctx(|| format!("set io priority {:?} {}", io.class(), io.priority()))?;
    }
    if let Some(s) = process.scheduler() {
        use LinuxSchedulerFlag as F;
        use LinuxSchedulerPolicy as P;
        let policy = match s.policy() {
            P::SchedOther => libc::SCHED_OTHER,
            P::SchedFifo => libc::SCHED_FIFO,
            P::SchedRr => libc::SCHED_RR,
            P::SchedBatch => libc::SCHED_BATCH,
            P::SchedIso => 4,
            P::SchedIdle => libc::SCHED_IDLE,
            P::SchedDeadline => 6,
        };
        let flags = s.flags().iter().flatten().fold(0u64, |acc, f| {
            acc | match f {
                F::SchedResetOnFork => 0x01,
                F::SchedFlagReclaim => 0x02,
                F::SchedFlagDLOverrun => 0x04,
                F::SchedFlagKeepPolicy => 0x08,
                F::SchedFlagKeepParams => 0x10,
                F::SchedFlagUtilClampMin => 0x20,
                F::SchedFlagUtilClampMax => 0x40,
            }
        });
        let attr = sys::SchedAttr {
            policy: policy as u32,
            flags,
            nice: s.nice().unwrap_or(0),
            priority: s.priority().unwrap_or(0) as u32,
            runtime: s.runtime().unwrap_or(0),
            deadline: s.deadline().unwrap_or(0),
            period: s.period().unwrap_or(0),
            ..Default::default()
        };
        sys::sched_setattr(&attr).ctx(|| format!("set scheduler {:?}", s.policy()))?;
    }
    Ok(())
}

fn lsm_enabled(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/lsm")
        .map(|l| l.trim().split(',').any(|m| m == name))
        .unwrap_or(false)
}

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("process.apparmorProfile {0:?} is set but AppArmor is not enabled on this host")]
    AppArmorDisabled(String),
    #[error("process.selinuxLabel {0:?} is set but SELinux is disabled or not supported")]
    SelinuxDisabled(String),
    #[error("process.selinuxLabel {0:?}: berth does not apply SELinux labels yet")]
    SelinuxUnsupported(String),
}

/// What runc does with LSM labels, checked before anything is created: an empty label is
/// ignored; a requested AppArmor profile or SELinux label the host cannot apply is an
/// error (runc fails writing /proc/self/attr/exec). linux.mountLabel is ignored without
/// SELinux, as runc's label package does.
pub fn check_lsm(process: &Process) -> Result<(), LsmError> {
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !lsm_enabled("apparmor") {
            return Err(LsmError::AppArmorDisabled(p.into()));
        }
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        return Err(if lsm_enabled("selinux") {
            LsmError::SelinuxUnsupported(l.into())
        } else {
            LsmError::SelinuxDisabled(l.into())
        });
    }
    Ok(())
}

/// Asks AppArmor to switch to the profile at the next execve (as runc's changeOnExec).
pub fn apply_apparmor(process: &Process) -> Result<(), InitError> {
    let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    else {
        return Ok(());
    };
    let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(attr, format!("exec {profile}"))
        .ctx(|| format!("apply AppArmor profile {profile:?} ({attr})"))
}

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), InitError> {
    for r in rlimits {
        setrlimit(resource(r.typ()), r.soft(), r.hard()).ctx(|| {
            format!(
                "setrlimit {:?} soft {} hard {} (raising a hard limit needs CAP_SYS_RESOURCE)",
                r.typ(),
                r.soft(),
                r.hard()
            )
        })?;
    }
    Ok(())
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, InitError> {
    use LinuxSeccompAction as A;
    Ok(match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32),
        A::ScmpActTrace => ScmpAction::Trace(errno.unwrap_or(libc::EPERM as u32) as u16),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => ScmpAction::Notify,
    })
}

fn compare(arg: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    use LinuxSeccompOperator as O;
    let op = match arg.op() {
        O::ScmpCmpNe => ScmpCompareOp::NotEqual,
        O::ScmpCmpLt => ScmpCompareOp::Less,
        O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        O::ScmpCmpEq => ScmpCompareOp::Equal,
        O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        O::ScmpCmpGt => ScmpCompareOp::Greater,
        O::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
    };
    let datum = match arg.op() {
        O::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
        _ => arg.value(),
    };
    ScmpArgCompare::new(arg.index() as u32, op, datum)
}

/// Whether the profile hands syscalls to a user-space listener (SCMP_ACT_NOTIFY).
pub fn wants_notify(profile: &LinuxSeccomp) -> bool {
    profile.default_action() == LinuxSeccompAction::ScmpActNotify
        || profile
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify)
}

/// The seccomp filter flags `build_seccomp` applies (for `features`).
pub const SECCOMP_FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

/// The architectures this libseccomp can add to a filter (for `features`): each is tried
/// on a scratch filter, so the list is what actually loads here.
pub fn seccomp_archs() -> Vec<String> {
    const CANDIDATES: [&str; 18] = [
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_LOONGARCH64",
    ];
    let Ok(mut filter) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return Vec::new();
    };
    CANDIDATES
        .iter()
        .filter(|name| {
            name.parse::<ScmpArch>().is_ok_and(|arch| {
                filter.is_arch_present(arch).unwrap_or(false) || filter.add_arch(arch).is_ok()
            })
        })
        .map(|s| s.to_string())
        .collect()
}

/// Compiles the config's seccomp profile (not yet loaded). Unknown syscall names are
/// skipped, as runc does: profiles name calls that older or newer kernels lack.
pub fn build_seccomp(profile: &LinuxSeccomp) -> Result<ScmpFilterContext, InitError> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut filter = ScmpFilterContext::new(default).ctx(|| "seccomp init".into())?;
    // libseccomp sets no_new_privs itself on load unless told not to; whether the process
    // gets it is process.noNewPrivileges' call alone (runc does the same).
    filter
        .set_ctl_nnp(false)
        .ctx(|| "seccomp: leave no_new_privs to the config".into())?;
    for arch in profile.architectures().iter().flatten() {
        // oci-spec prints SCMP_ARCH_* names, which libseccomp parses.
        let parsed: ScmpArch = arch
            .to_string()
            .parse()
            .ctx(|| format!("seccomp architecture {arch}"))?;
        // The native architecture is already in a new filter: adding it again is EEXIST.
        if !filter.is_arch_present(parsed).unwrap_or(false) {
            filter
                .add_arch(parsed)
                .ctx(|| format!("seccomp architecture {arch}"))?;
        }
    }
    for flag in profile.flags().iter().flatten() {
        use oci_spec::runtime::LinuxSeccompFilterFlag as F;
        let attr = match flag {
            F::SeccompFilterFlagLog => ScmpFilterAttr::CtlLog,
            F::SeccompFilterFlagTsync => ScmpFilterAttr::CtlTsync,
            F::SeccompFilterFlagSpecAllow => ScmpFilterAttr::CtlSsb,
        };
        filter
            .set_filter_attr(attr, 1)
            .ctx(|| format!("seccomp flag {flag:?}"))?;
    }
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let args: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(compare).collect();
        let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            // Conditions on one argument index are alternatives (OR): one rule each.
            let groups: Vec<Vec<ScmpArgCompare>> = if repeated {
                args.iter().map(|a| vec![*a]).collect()
            } else {
                vec![args.clone()]
            };
            for g in groups {
                filter
                    .add_rule_conditional(act, sc, &g)
                    .ctx(|| format!("seccomp rule for {name}"))?;
            }
        }
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder};

    #[test]
    fn caps_the_kernel_lacks_are_reported_once() {
        let set: Capabilities = [Capability::CheckpointRestore, Capability::Kill]
            .into_iter()
            .collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .permitted(set)
            .effective(Capabilities::new())
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .unwrap();
        let old_kernel: CapsHashSet = [Cap::CAP_KILL].into_iter().collect();
        assert_eq!(
            unsupported_caps(&caps, &old_kernel),
            ["CAP_CHECKPOINT_RESTORE"]
        );
        assert!(unsupported_caps(&caps, &caps::all()).is_empty());
    }
}
