//! `attach ID` (and `start -a`): this terminal to a running container's, through its
//! monitor's socket (`<bundle>/attach.sock`): the container's output here, stdin there.
//! The detach keys (Ctrl-P Ctrl-Q unless `--detach-keys` says otherwise, as Docker) detach and
//! leave it running; when it exits, attach exits with its exit code. `--no-stdin`: its output
//! only. A container without a terminal: its output from `since` on, followed.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use berth::context::{Context, Outcome};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::termios;

use super::detach_keys::{self, Matcher};
use crate::monitor::ATTACH_SOCKET;
use crate::record::bundle_of;

/// How attach treats this terminal's input.
pub struct Input<'a> {
    /// `--detach-keys` (Docker's syntax; its default when None).
    pub detach_keys: Option<&'a str>,
    /// `--no-stdin`: nothing typed goes to the container.
    pub no_stdin: bool,
}

pub fn run(id: &str, ctx: &Context, since: String, input: Input<'_>) -> Outcome {
    let mut keys = Matcher::new(detach_keys::parse(
        input.detach_keys.unwrap_or(detach_keys::DEFAULT),
    )?);
    let bundle = bundle_of(&ctx.image_root, id)?;
    let rec = crate::record::Record::load(&bundle)?;
    if !rec.tty && !rec.interactive {
        // No terminal to attach to: its output, followed until it exits (`start -a`).
        super::super::logs::run(
            berth::people_cli::LogsArgs {
                follow: true,
                timestamps: false,
                since: Some(since),
                tail: None,
                id: id.to_string(),
            },
            ctx,
        )?;
        let code = super::lifecycle::wait(ctx, id)?;
        return Ok(code.clamp(0, 255) as u8);
    }
    let sock = bundle.join(ATTACH_SOCKET);
    let mut conn = UnixStream::connect(&sock).map_err(|e| {
        format!("attach {id}: {e} (is it running? `berth start -a {id}` starts and attaches)")
    })?;
    let stdin = std::io::stdin();
    // Keys go to a terminal as typed; to a plain stdin, lines as the caller's terminal makes them.
    let raw = (rec.tty && !input.no_stdin)
        .then(|| RawMode::enter(stdin.as_fd()))
        .flatten();
    let mut out = berth::out::stdout();
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdin_open = !input.no_stdin;
    let detached = loop {
        let mut fds = vec![PollFd::new(&conn, PollFlags::IN)];
        if stdin_open {
            fds.push(PollFd::from_borrowed_fd(stdin.as_fd(), PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Err(Errno::INTR) => continue,
            r => r.map_err(|e| format!("poll: {e}"))?,
        };
        let (from_ctr, from_user) = (
            !fds[0].revents().is_empty(),
            fds.get(1).is_some_and(|f| !f.revents().is_empty()),
        );
        drop(fds);
        if from_ctr {
            match rustix::io::read(&conn, &mut buf) {
                Ok(0) | Err(_) => break false,
                Ok(n) => {
                    let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                }
            }
        }
        if from_user {
            match rustix::io::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let fed = keys.feed(&buf[..n]);
                    if fed.detach {
                        let _ = conn.write_all(&fed.forward);
                        break true;
                    }
                    conn.write_all(&fed.forward)
                        .map_err(|e| format!("write to {}: {e}", sock.display()))?;
                }
            }
        }
    };
    drop(raw);
    if detached {
        return Ok(0);
    }
    let code = super::lifecycle::wait(ctx, id)?;
    Ok(code.clamp(0, 255) as u8)
}

/// The caller's terminal in raw mode while attached (keys go to the container as typed);
/// restored on drop. Nothing to do when stdin is not a terminal.
struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: termios::Termios,
}

impl<'a> RawMode<'a> {
    fn enter(fd: BorrowedFd<'a>) -> Option<RawMode<'a>> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, termios::OptionalActions::Now, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, termios::OptionalActions::Now, &self.saved);
    }
}
