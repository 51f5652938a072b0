//! `berth`: the runtime face. People-face commands are handed to `berth-people` (see lib.rs).
//!
//! Started without Rust's runtime start-up (`#![no_main]`): most of its work (finding the main
//! thread's stack in /proc/self/maps, a signal stack for stack-overflow messages) is ~20
//! syscalls berth does not need, in every process, twice per create, run and exec (the exe
//! guard re-executes berth). berth::cli::c_main does the part berth relies on.
#![no_main]

use std::ffi::{c_char, c_int};

// The C entry point glibc's start code calls; std reads argv and the environment itself.
#[allow(unsafe_code)] // no_mangle: nothing else in the program defines `main`.
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    berth::cli::c_main::<berth::face::Exec>()
}
