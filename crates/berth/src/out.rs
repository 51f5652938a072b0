//! berth's standard output, for both executables. A reader that goes away before berth is
//! done (`berth ps | head -1`, `berth image ls | grep -q x`) ends berth as it ends any Unix
//! tool, and runc: killed by SIGPIPE, without a word. std's `print!` panics there instead
//! (berth ignores SIGPIPE, so that its sockets and pipes report EPIPE as an error:
//! berth_runtime::process_start), and a panic aborts.
//!
//! Every write to stdout goes through [`outln!`](crate::outln), [`out!`](crate::out) or
//! [`stdout`].

use std::io::{self, Write};

/// Writes a line to stdout: `outln!("{id}")`, as `println!`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout: `out!("{text}")`, as `print!`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// What [`outln!`](crate::outln) and [`out!`](crate::out) call.
pub fn write(args: std::fmt::Arguments<'_>) {
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        failed(e)
    }
}

/// Locked stdout for many writes (wrap it in a `BufWriter` for one write in the end): a
/// reader gone ends berth as above; any other error is returned.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

pub struct Stdout(io::StdoutLock<'static>);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(reader_gone)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(reader_gone)
    }
}

/// Passes any error on but EPIPE, which ends berth.
fn reader_gone(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        killed_by_sigpipe()
    }
    e
}

/// A failed write with no caller to hand the error to: one line on stderr and exit 1, or the
/// end of a reader gone.
fn failed(e: io::Error) -> ! {
    let e = reader_gone(e);
    let _ = writeln!(io::stderr(), "berth: write to stdout: {e}");
    std::process::exit(1)
}

/// SIGPIPE's default action, which berth had set aside: the process ends as killed by it.
/// Exit status 141 (128 + SIGPIPE, what a shell shows) if the signal is blocked.
fn killed_by_sigpipe() -> ! {
    use rustix::process::{getpid, kill_process, Signal};
    let _ = berth_runtime::sys::default_signal_action(Signal::PIPE.as_raw());
    let _ = kill_process(getpid(), Signal::PIPE);
    std::process::exit(128 + Signal::PIPE.as_raw())
}
