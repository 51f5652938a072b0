//! `berth-init`: the minimal init `run --init` makes a container's PID 1 (as tini is Docker's).
//! berth-people binds this static binary read-only at `/dev/init` and the container's process
//! becomes `/dev/init -- CMD...`: it starts CMD, forwards the signals it receives to it, reaps
//! every child that ends (orphans reparent to PID 1), and exits with CMD's status (128+N if a
//! signal N killed it). Without it a `sleep` as PID 1 ignores TERM and INT, as in Docker.
//! Its own executable, not a mode of berth-people: what every such container maps and can run
//! is a few hundred KiB that only supervise, not the whole people face.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::process::ExitCode;

use berth_runtime::sys::{self as rt, SigSet, SignalFd};
use rustix::process::{Pid, Signal, WaitOptions};

mod sys;

/// The signals people send to stop, reload or resize a container; every other signal that
/// reaches the init from inside the container is forwarded as well.
const FORWARDED: [Signal; 7] = [
    Signal::TERM,
    Signal::INT,
    Signal::HUP,
    Signal::QUIT,
    Signal::USR1,
    Signal::USR2,
    Signal::WINCH,
];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let cmd = match args.split_first() {
        Some((dashes, cmd)) if dashes == "--" && !cmd.is_empty() => cmd,
        _ => {
            eprintln!("berth init: usage: berth-init -- CMD [ARG]...");
            return ExitCode::from(127);
        }
    };
    match supervise(cmd) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("berth init: {e}");
            ExitCode::from(127)
        }
    }
}

fn supervise(cmd: &[OsString]) -> Result<u8, String> {
    // Everything but KILL and STOP comes through the signalfd, SIGCHLD included. Blocked and
    // handled before the command starts, so a signal sent at any time after the init's start
    // is held pending and forwarded; the command starts with nothing blocked (std's Command
    // keeps the caller's mask, so crate::sys clears it in the child) and, as execve resets
    // caught signals, with default dispositions.
    let mut mask = SigSet::all();
    for s in [Signal::KILL, Signal::STOP] {
        mask.remove(s.as_raw());
    }
    mask.thread_block()
        .map_err(|e| format!("block signals: {e}"))?;
    // Signals from outside the namespace reach PID 1 only if it has a handler for them.
    for sig in FORWARDED {
        rt::catch_signal(sig.as_raw()).map_err(|e| format!("handle signal {sig:?}: {e}"))?;
    }
    let signals = SignalFd::new(&mask).map_err(|e| format!("signalfd: {e}"))?;
    let mut command = std::process::Command::new(&cmd[0]);
    command.args(&cmd[1..]);
    sys::unblock_signals_on_exec(&mut command);
    let child = command
        .spawn()
        .map_err(|e| format!("start {}: {e}", cmd[0].to_string_lossy()))?;
    let pid = Pid::from_child(&child);
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| format!("pidfd_open: {e}"))?;
    loop {
        // Reap all that ended: one SIGCHLD may stand for several exits, and the command may
        // have ended before SIGCHLD was blocked.
        while let Some((reaped, status)) =
            rustix::process::waitpid(None, WaitOptions::NOHANG).map_err(|e| format!("wait: {e}"))?
        {
            if reaped == pid {
                let code = match (status.exit_status(), status.terminating_signal()) {
                    (Some(c), _) => c,
                    (None, Some(sig)) => 128 + sig,
                    (None, None) => 127,
                };
                return Ok(u8::try_from(code & 0xff).unwrap_or(127));
            }
        }
        let signo = signals
            .read_signal()
            .map_err(|e| format!("read signals: {e}"))?;
        if signo != Signal::CHILD.as_raw() {
            // The command may already be gone (and waiting to be reaped): nothing to do then.
            let _ = rt::pidfd_send_signal(pidfd.as_fd(), signo);
        }
    }
}
