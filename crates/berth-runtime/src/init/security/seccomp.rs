//! The config's seccomp profile compiled with libseccomp into a BPF program (by the parent,
//! before the clone, or taken from the cache: container/seccomp_cache.rs), loaded by the init
//! with seccomp(2) at the point no_new_privs decides; and what `berth features` reports of it.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use crate::init::error::{Ctx, InitError};

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

/// A profile compiled to the BPF program libseccomp would load, with the seccomp(2) flags
/// its load would pass. Loading it is one syscall: no libseccomp work in the init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledFilter {
    /// `struct sock_filter` instructions, 8 bytes each, in the machine's byte order.
    pub bpf: Vec<u8>,
    /// SECCOMP_FILTER_FLAG_* bits.
    pub flags: u32,
}

impl CompiledFilter {
    /// Whether the load makes a notify fd (SECCOMP_FILTER_FLAG_NEW_LISTENER).
    pub fn notifies(&self) -> bool {
        self.flags & crate::sys::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }

    /// Loads the filter into this thread (one-thread processes: the init, exec's child);
    /// the notify fd when the profile has SCMP_ACT_NOTIFY rules.
    pub fn load(&self) -> std::io::Result<Option<std::os::fd::OwnedFd>> {
        crate::sys::seccomp_set_mode_filter(self.flags, &self.bpf)
    }
}

/// Compiles the profile to BPF with libseccomp, as its load would (same program, same flags).
pub fn compile(profile: &LinuxSeccomp) -> Result<CompiledFilter, InitError> {
    use crate::sys::{
        SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
    };
    let filter = build_seccomp(profile)?;
    // libseccomp 2.5 exports only to a descriptor: a memfd, read back.
    let mem = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .ctx(|| "seccomp: memfd for the BPF program".into())?;
    filter
        .export_bpf(&mem)
        .ctx(|| "seccomp: export the BPF program".into())?;
    let mut file = std::fs::File::from(mem);
    let mut bpf = Vec::new();
    use std::io::{Read, Seek};
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bpf))
        .ctx(|| "seccomp: read the BPF program".into())?;
    let mut flags = 0;
    for flag in profile.flags().iter().flatten() {
        use oci_spec::runtime::LinuxSeccompFilterFlag as F;
        flags |= match flag {
            F::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            F::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            F::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        };
    }
    if wants_notify(profile) {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // The kernel refuses TSYNC with a listener unless told to report a failed sync as
        // ESRCH (libseccomp does the same).
        if flags & SECCOMP_FILTER_FLAG_TSYNC != 0 {
            flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    Ok(CompiledFilter { bpf, flags })
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
    // A binary tree of syscall numbers instead of libseccomp's default list: the same
    // verdicts, but a syscall passes ~10 comparisons instead of up to a few hundred. The
    // kernel runs the program once per syscall number and architecture while it loads it
    // (its allow cache): Docker's profile, 960 instructions, loaded in 0.6-0.9 ms as a list.
    filter
        .set_ctl_optimize(2)
        .ctx(|| "seccomp: binary tree optimization".into())?;
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
