//! The part of Rust's start-up that berth needs, for an executable that starts without it.
//!
//! `berth` has no Rust runtime start-up (`#![no_main]`, crates/berth/src/main.rs): the
//! runtime's also reads /proc/self/maps to find the main thread's stack and sets up a
//! signal stack and SIGSEGV/SIGBUS handlers for stack-overflow messages — ~20 syscalls and
//! ~0.06 ms of CPU in every berth process, twice per create, run and exec (the exe guard's
//! re-exec). What berth relies on is kept, here: SIGPIPE ignored and fds 0–2 open.

use std::os::fd::IntoRawFd;

use rustix::fs::{Mode, OFlags};

use crate::sys;

/// Ignores SIGPIPE (berth's writes to a peer that went away fail with EPIPE and are reported;
/// children get the default back: `std::process::Command` and the init reset it), and opens
/// /dev/null on any of fds 0–2 that is closed, so that no file berth opens later becomes its
/// stdin, stdout or stderr.
pub fn init() -> std::io::Result<()> {
    sys::ignore_signal(libc::SIGPIPE)?;
    for closed in sys::closed_std_fds()? {
        if closed {
            // open(2) returns the lowest free number: this one, the lower ones being open.
            let null = rustix::fs::open("/dev/null", OFlags::RDWR, Mode::empty())?;
            // Kept open for the life of the process, as the stdio it stands for.
            let _ = null.into_raw_fd();
        }
    }
    Ok(())
}
