//! `berth`: the runtime face. People-face commands are handed to `berth-people` (see lib.rs).
//!
//! Started without Rust's runtime start-up (`#![no_main]`): most of its work (finding the main
//! thread's stack in /proc/self/maps, a signal stack for stack-overflow messages) is ~20
//! syscalls berth does not need, in every process, twice per create, run and exec (the exe
//! guard re-executes berth). berth_runtime::process_start does the part berth relies on.
#![no_main]

use std::ffi::{c_char, c_int};
use std::process::ExitCode;

// The C entry point glibc's start code calls; std reads argv and the environment itself.
#[allow(unsafe_code)] // no_mangle: nothing else in the program defines `main`.
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    if let Err(e) = berth_runtime::process_start::init() {
        eprintln!("berth: start the process (SIGPIPE, fds 0-2): {e}");
        return 1;
    }
    let code = berth::cli::main::<berth::face::Exec>();
    // std::process::exit flushes stdout, as the runtime does after a Rust `main`.
    std::process::exit(status(code))
}

/// The number an ExitCode stands for (std offers no stable way to read it back).
fn status(code: ExitCode) -> c_int {
    (0..=u8::MAX)
        .find(|n| ExitCode::from(*n) == code)
        .map_or(1, c_int::from)
}
