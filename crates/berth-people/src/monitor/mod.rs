//! The per-container monitor (podman's conmon, berth's way): `berth-people hook monitor ID`,
//! started by `run -d IMAGE` and `start` of a kept container, so berth stays daemonless.
//!
//! It leaves the caller's session (setsid), becomes a child subreaper, creates and starts the
//! container from its bundle (so the init is its child and orphans of the container come to
//! it, not to the host's PID 1), reports "started" (or the error) to the berth that spawned
//! it by closing a pipe, and from then on holds the container's stdout and stderr pipes: each
//! line goes to the log ([`log`]) with its time. When the init exits it reads the OOM-kill
//! counter of the container's memory cgroup, deletes the runtime container (giving back its
//! networks and unmounting the overlay, but keeping the upper dir and bundle; everything with
//! `--rm`) and writes the exit code into the record, then exits.

pub mod log;
mod watch;

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};

use berth::context::Context;
use berth_common::io::Step;
use berth_runtime::container::{self, Config, CreateOptions};

use crate::error::{io_err, PeopleError};
use crate::record::Record;
use watch::Running;

/// Starts the monitor of container `id` (its record and bundle made) and waits until it has
/// started the container; its error, if any, is the error.
pub fn spawn(ctx: &Context, id: &str) -> Result<(), PeopleError> {
    let exe = berth_runtime::exe_guard::original_exe()
        .step("find own binary", Path::new("/proc/self/exe"))?;
    let child = Command::new(&exe)
        .arg("--root")
        .arg(&ctx.root.path)
        .arg("--image-root")
        .arg(&ctx.image_root)
        .args(ctx.systemd_cgroup.then_some("--systemd-cgroup"))
        .args(["hook", "monitor", "--", id])
        .env_remove(berth_runtime::exe_guard::ORIGINAL_EXE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .step("start the monitor", &exe)?;
    // The monitor closes the pipe once the container runs, and lives on (it is not waited
    // for: this berth exits and the monitor's parent becomes the host's reaper); before that
    // it writes its error there, one line.
    let mut report = String::new();
    if let Some(mut out) = child.stdout {
        out.read_to_string(&mut report)
            .step("read the monitor's report", &exe)?;
    }
    match report.trim() {
        "" => Ok(()),
        msg => Err(PeopleError::Usage(msg.to_string())),
    }
}

/// The monitor's life, as `hook monitor ID`. Returns the code to exit with.
pub fn run(ctx: &Context, id: &str) -> Result<u8, PeopleError> {
    // The report channel is stdout as spawned; fds 0-2 become the container's stdio.
    let report = rustix::io::fcntl_dupfd_cloexec(std::io::stdout().as_fd(), 3)
        .map_err(|e| io_err("dup", Path::new("stdout"))(e.into()))?;
    let mut report = std::fs::File::from(report);
    match setup(ctx, id) {
        Ok(running) => {
            drop(report);
            // Create and start ran most of the binary once; the loop runs little of it.
            let _ = crate::sys::release_memory();
            running.watch(ctx, id);
            Ok(0)
        }
        Err(e) => {
            let _ = writeln!(report, "{e}");
            Ok(1)
        }
    }
}

/// The socket `attach` connects to, in the bundle of a container with a terminal.
pub const ATTACH_SOCKET: &str = "attach.sock";
/// Where the container's init hands the terminal's master over during create.
const CONSOLE_SOCKET: &str = "console.sock";

fn setup(ctx: &Context, id: &str) -> Result<Running, PeopleError> {
    // Its own session: the caller's terminal and its signals never reach it.
    let _ = rustix::process::setsid();
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| io_err("become a child subreaper", Path::new("/proc/self"))(e.into()))?;
    let bundle = crate::record::bundle_of(&ctx.image_root, id)?;
    let mut record = Record::load(&bundle)?;
    let log = bundle.join(log::LOG_FILE);
    let (out_r, out_w) = pipe(&log)?;
    let (err_r, err_w) = pipe(&log)?;
    let null = Path::new("/dev/null");
    let devnull = std::fs::File::open(null).step("open", null)?;
    let redirect =
        |what: &'static str, r: rustix::io::Result<()>| r.map_err(|e| io_err(what, null)(e.into()));
    // -i without -t: the container reads a pipe whose write end `attach` clients feed.
    let stdin_pipe = match record.interactive && !record.tty {
        true => Some(pipe(&log)?),
        false => None,
    };
    match &stdin_pipe {
        Some((r, _)) => redirect("stdin from a pipe beside", rustix::stdio::dup2_stdin(r))?,
        None => redirect("stdin from", rustix::stdio::dup2_stdin(&devnull))?,
    }
    redirect(
        "stdout to a pipe beside",
        rustix::stdio::dup2_stdout(&out_w),
    )?;
    redirect(
        "stderr to a pipe beside",
        rustix::stdio::dup2_stderr(&err_w),
    )?;
    drop((out_w, err_w));
    // With -t the init sends the pty master over a socket in the bundle during create.
    let console = bundle.join(CONSOLE_SOCKET);
    let console_listener = if record.tty {
        let _ = std::fs::remove_file(&console);
        Some(UnixListener::bind(&console).step("listen on", &console)?)
    } else {
        None
    };
    let created = container::create(
        &ctx.root,
        &CreateOptions {
            id: id.to_string(),
            bundle: bundle.clone(),
            config: Config::Bundle,
            console_socket: record.tty.then(|| console.clone()),
            systemd_cgroup: ctx.systemd_cgroup,
            ..Default::default()
        },
    );
    // Only the container holds the pipes' write ends from here on: EOF comes with its end.
    redirect("stdin from", rustix::stdio::dup2_stdin(&devnull))?;
    redirect("stdout to", rustix::stdio::dup2_stdout(&devnull))?;
    redirect("stderr to", rustix::stdio::dup2_stderr(&devnull))?;
    let created = created?;
    let master = match console_listener {
        Some(l) => {
            let got = l
                .accept()
                .and_then(|(sock, _)| berth_runtime::init::tty::recv_console(sock.as_fd()))
                .step("receive the terminal on", &console);
            let _ = std::fs::remove_file(&console);
            match got {
                Ok(m) => Some(m),
                Err(e) => {
                    let _ = container::delete(&ctx.root, id, true, &keep_release(ctx));
                    return Err(e.into());
                }
            }
        }
        None => None,
    };
    // Where attached clients' input goes: the terminal, or the stdin pipe.
    let input = match (&master, stdin_pipe) {
        (Some(m), _) => Some(
            rustix::io::fcntl_dupfd_cloexec(m, 0)
                .map_err(|e| io_err("dup the terminal of", &bundle)(e.into()))?,
        ),
        (None, Some((_, w))) => Some(w),
        (None, None) => None,
    };
    let attach = bundle.join(ATTACH_SOCKET);
    let _ = std::fs::remove_file(&attach);
    let attach = match input.is_some() {
        true => Some(UnixListener::bind(&attach).step("listen on", &attach)?),
        false => None,
    };
    let memory = created
        .state
        .cgroup
        .as_ref()
        .and_then(|p| berth_cgroups::MemoryWatch::new(p).ok());
    let (pid, pidfd) = (created.state.pid, created.pidfd);
    drop(created.dir);
    record.keeper = berth_runtime::state::Creator::this_process();
    record.status = crate::record::Phase::Running;
    record.started_at = Some(berth_common::now_rfc3339());
    record.exit_code = None;
    record.finished_at = None;
    record.oom_killed = false;
    let started = record
        .save(&bundle)
        .and_then(|()| Ok(container::start(&ctx.root, id)?));
    if let Err(e) = started {
        let _ = container::delete(&ctx.root, id, true, &keep_release(ctx));
        let _ = record.exited(None, false).save(&bundle);
        return Err(e);
    }
    let mut streams = vec![(out_r, 0), (err_r, 1)];
    if let Some(m) = master {
        streams.insert(0, (m, 0));
    }
    Ok(Running {
        pid,
        pidfd,
        streams,
        input,
        attach,
        memory,
        bundle,
    })
}

fn pipe(log: &Path) -> Result<(OwnedFd, OwnedFd), PeopleError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| io_err("make a pipe for", log)(e.into()))
}

/// The release of a kept container's runtime incarnation: networks and overlay mount go,
/// the upper dir, bundle and record stay.
pub fn keep_release(ctx: &Context) -> impl Fn(&berth_runtime::state::State) -> Result<(), String> {
    let image_root = ctx.image_root.clone();
    move |state| crate::release::keep(&image_root, &state.id).map_err(|e| e.to_string())
}
