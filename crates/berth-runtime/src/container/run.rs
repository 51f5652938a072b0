//! `run`: create and start in one step. In the foreground berth stays as the container's
//! parent: it forwards signals, relays the terminal when it owns one, exits with the
//! container's status, and deletes the container afterwards.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{waitpid, Pid, WaitOptions};
use rustix::termios;

use super::create::create_with_console;
use super::delete::destroy;
use super::release::Release;
use super::start::start_locked;
use super::{io, CreateOptions, Error, Result};
use crate::init::tty;
use crate::state::StateRoot;
use crate::sys::{self, SigSet, SignalFd};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub create: CreateOptions,
    pub detach: bool,
}

/// Returns the exit code berth should exit with.
pub fn run(root: &StateRoot, opts: &RunOptions, release: &Release) -> Result<i32> {
    let (ours, theirs) = own_console(opts.detach, opts.create.console_socket.is_some())?;
    let created = create_with_console(root, &opts.create, theirs)?;
    let terminal = created
        .state
        .config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let master = match (&ours, terminal) {
        (Some(sock), true) => match tty::recv_console(sock.as_fd()) {
            Ok(fd) => Some(fd),
            Err(e) => {
                let _ = destroy(created.dir, &created.state, release);
                return Err(io("receive the container's terminal")(e));
            }
        },
        _ => None,
    };
    // Signals are ours to forward from before the container starts: one arriving between
    // start and the relay must reach the container, not kill berth.
    let signals = if opts.detach {
        None
    } else {
        match forwarded_signals() {
            Ok(sfd) => Some(sfd),
            Err(e) => {
                let _ = destroy(created.dir, &created.state, release);
                return Err(e);
            }
        }
    };
    if let Err(e) = start_locked(&created.dir, &created.state) {
        let _ = destroy(created.dir, &created.state, release);
        return Err(e);
    }
    if opts.detach {
        return Ok(0);
    }
    let known = created.state;
    let pidfd = created.pidfd;
    // Other commands (kill, state, exec) must reach the container while it runs.
    drop(created.dir);

    let signals = signals.expect("set up unless detached");
    let code = supervise(known.pid, &pidfd, master, signals)?;
    // Deleted meanwhile (`delete --force`), maybe made again under the same ID: only the
    // container this run made (its init, by pid and start time) is this run's to delete.
    if let Ok(dir) = root.open(&known.id) {
        let (pid, start_time) = (known.pid, known.pid_start_time);
        if let Ok(state) = dir.reload(known) {
            if (state.pid, state.pid_start_time) == (pid, start_time) {
                destroy(dir, &state, release)?;
            }
        }
    }
    Ok(code)
}

/// Blocks every signal berth forwards and returns a signalfd that receives them.
pub(crate) fn forwarded_signals() -> Result<SignalFd> {
    let mut mask = SigSet::all();
    // SIGPIPE stays ignored, not forwarded: berth's own write to a hook that already exited
    // (a poststart hook that does not read its state) must not kill the container.
    for s in [libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, libc::SIGPIPE] {
        mask.remove(s);
    }
    mask.thread_block().map_err(super::errno("block signals"))?;
    SignalFd::new(&mask).map_err(super::errno("signalfd"))
}

/// Forwards signals (and the terminal) until the process exits; returns its exit code.
pub(crate) fn supervise(
    pid: i32,
    pidfd: &OwnedFd,
    master: Option<OwnedFd>,
    sfd: SignalFd,
) -> Result<i32> {
    // The descriptor, not std's `Stdin`: that one's first use allocates the 8 KiB buffer of a
    // reader nothing here reads through (a malloc consolidation in every foreground run).
    let stdin = rustix::stdio::stdin();
    let raw = master.as_ref().and_then(|_| RawMode::enter(stdin.as_fd()));
    if let (Some(m), Some(_)) = (&master, &raw) {
        if let Ok((rows, cols)) = sys::get_winsize(stdin.as_fd()) {
            let _ = sys::set_winsize(m.as_fd(), rows, cols);
        }
    }
    let mut stdin_open = master.is_some();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = vec![
            PollFd::from_borrowed_fd(pidfd.as_fd(), PollFlags::IN),
            PollFd::from_borrowed_fd(sfd.as_fd(), PollFlags::IN),
        ];
        if let Some(m) = &master {
            fds.push(PollFd::from_borrowed_fd(m.as_fd(), PollFlags::IN));
            if stdin_open {
                fds.push(PollFd::from_borrowed_fd(stdin.as_fd(), PollFlags::IN));
            }
        }
        match poll(&mut fds, None) {
            Err(Errno::INTR) => continue,
            r => r.map_err(super::errno("poll"))?,
        };
        let ready = |i: usize, fds: &[PollFd]| fds.get(i).is_some_and(|f| !f.revents().is_empty());
        let (exited, sig_ready, master_ready, stdin_ready) = (
            ready(0, &fds),
            ready(1, &fds),
            ready(2, &fds),
            ready(3, &fds),
        );
        drop(fds);
        if sig_ready {
            if let Ok(signo) = sfd.read_signal() {
                if signo == libc::SIGWINCH {
                    if let Some(m) = &master {
                        if let Ok((rows, cols)) = sys::get_winsize(stdin.as_fd()) {
                            let _ = sys::set_winsize(m.as_fd(), rows, cols);
                        }
                    }
                } else {
                    let _ = sys::pidfd_send_signal(pidfd.as_fd(), signo);
                }
            }
        }
        if master_ready {
            if let Some(m) = &master {
                if !copy(m.as_fd(), std::io::stdout().as_fd(), &mut buf) && exited {
                    break;
                }
            }
        }
        if stdin_ready {
            if let Some(m) = &master {
                stdin_open = copy(stdin.as_fd(), m.as_fd(), &mut buf);
            }
        }
        if exited && !(master_ready && master.is_some()) {
            break;
        }
    }
    drop(raw);
    let status = waitpid(Pid::from_raw(pid), WaitOptions::empty())
        .map_err(super::errno("wait for the container"))?
        .map(|(_, status)| status);
    match status {
        Some(s) if s.exit_status().is_some() => Ok(s.exit_status().unwrap_or_default()),
        Some(s) if s.terminating_signal().is_some() => {
            Ok(128 + s.terminating_signal().unwrap_or_default())
        }
        other => Err(Error::Unexpected(format!("wait status {other:?}"))),
    }
}

/// In the foreground without a console socket, berth itself takes the terminal: a
/// socketpair stands in for the console socket. Returns (our end, the init's end).
pub(crate) fn own_console(
    detach: bool,
    has_socket: bool,
) -> Result<(Option<UnixStream>, Option<OwnedFd>)> {
    if detach || has_socket {
        return Ok((None, None));
    }
    let (a, b) = UnixStream::pair().map_err(io("console socket pair"))?;
    Ok((Some(a), Some(OwnedFd::from(b))))
}

/// Copies one read's worth; false at EOF or error.
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>, buf: &mut [u8]) -> bool {
    match rustix::io::read(from, &mut *buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match rustix::io::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(Errno::INTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

/// The caller's terminal in raw mode for the relay; restored on drop, on every exit path.
struct RawMode {
    fd: i32,
    saved: termios::Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, termios::OptionalActions::Now, &raw).ok()?;
        Some(RawMode {
            fd: fd.as_raw_fd(),
            saved,
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY-free: stdin outlives this guard; borrow it again by number.
        let fd = std::io::stdin();
        debug_assert_eq!(fd.as_raw_fd(), self.fd);
        let _ = termios::tcsetattr(fd.as_fd(), termios::OptionalActions::Now, &self.saved);
    }
}
