//! The init's one unsafe call: a `pre_exec` hook.
#![allow(unsafe_code)]

/// Makes `cmd`'s process start with no signal blocked, whatever its parent blocks: the init
/// blocks every signal before it starts the command, so that none sent in between is lost, and
/// the command must not inherit that mask (std's Command keeps it).
pub fn unblock_signals_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and exec; it only sets the signal mask
    // (pthread_sigmask is async-signal-safe) and allocates nothing.
    unsafe {
        cmd.pre_exec(|| berth_runtime::sys::SigSet::empty().thread_set_mask());
    }
}
