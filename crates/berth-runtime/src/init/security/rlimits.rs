//! process.rlimits.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};
use rustix::process::{setrlimit, Resource, Rlimit};

use crate::init::error::{Ctx, InitError};

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::Cpu,
        T::RlimitFsize => Resource::Fsize,
        T::RlimitData => Resource::Data,
        T::RlimitStack => Resource::Stack,
        T::RlimitCore => Resource::Core,
        T::RlimitRss => Resource::Rss,
        T::RlimitNproc => Resource::Nproc,
        T::RlimitNofile => Resource::Nofile,
        T::RlimitMemlock => Resource::Memlock,
        T::RlimitAs => Resource::As,
        T::RlimitLocks => Resource::Locks,
        T::RlimitSigpending => Resource::Sigpending,
        T::RlimitMsgqueue => Resource::Msgqueue,
        T::RlimitNice => Resource::Nice,
        T::RlimitRtprio => Resource::Rtprio,
        T::RlimitRttime => Resource::Rttime,
    }
}

pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), InitError> {
    for r in rlimits {
        // RLIM_INFINITY is rustix's None.
        let limit = |v: u64| Some(v).filter(|v| *v != libc::RLIM_INFINITY);
        let new = Rlimit {
            current: limit(r.soft()),
            maximum: limit(r.hard()),
        };
        setrlimit(resource(r.typ()), new).ctx(|| {
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
