//! The bottom of berth's crates: facts that the runtime, the image store, the network store
//! and the people face must agree on, written once. No heavy dependencies; unsafe code only
//! in `fdpass`, where descriptors received from the kernel get their owner.

pub mod fdpass;
pub mod fs;
pub mod id;
pub mod io;
pub mod mountinfo;
pub mod size;
mod skip;
pub mod test_random;
pub mod test_server;

/// PATH for a process whose environment names none (runtime `exec`, the init's program
/// lookup, imported images, the people face's default environment).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The current time as RFC 3339, UTC, with nanoseconds (`2026-01-02T03:04:05.123456789Z`),
/// as state files, logs and image configs record it.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}
