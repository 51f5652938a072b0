//! process.scheduler, process.ioPriority and linux.personality.

use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, Process,
};

use crate::init::error::{Ctx, InitError};
use crate::sys;

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
