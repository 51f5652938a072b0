//! From the spawner's go to a running container: `berth create` and `berth start` as
//! children, the container's stdio held, its terminal received, the attach socket made.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_common::fdpass::recv_fds;
use berth_common::io::{IoError, Step};
use berth_monitor::{ATTACH_SOCKET, CONSOLE_SOCKET};

use crate::oom::OomCounter;
use crate::watch::Running;
use crate::Args;

/// Where `berth create` writes the init's pid, in the bundle.
const PID_FILE: &str = "init.pid";

/// The `berth` and `berth-people` executables beside this one.
#[derive(Clone)]
pub struct Binaries {
    pub berth: PathBuf,
    pub people: PathBuf,
}

impl Binaries {
    fn beside_me() -> Result<Binaries, IoError> {
        let me = Path::new("/proc/self/exe");
        let exe = std::fs::read_link(me).step("find own binary", me)?;
        Ok(Binaries {
            berth: exe.with_file_name("berth"),
            people: exe.with_file_name("berth-people"),
        })
    }

    /// `berth-people [global flags] hook teardown [--rm] -- ID`: deletes the runtime
    /// container (networks and overlay mount go; with `--rm` everything). Nobody is told of
    /// a failure: the monitor is detached, and `start` and `rm` settle what is left.
    pub fn teardown(&self, args: &Args, rm: bool) {
        let _ = Command::new(&self.people)
            .args(&args.global)
            .args(["hook", "teardown"])
            .args(rm.then_some("--rm"))
            .arg("--")
            .arg(&args.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

pub fn setup(args: &Args) -> Result<Running, String> {
    // The spawner closes stdin once the record names this process its keeper; a spawner
    // killed before that closes it too, and the container stays as its record says: created.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    if !berth_monitor::record::names_keeper(&args.bundle, std::process::id()) {
        return Err(
            "the record does not name this monitor the keeper (its spawner ended \
                    first): the container is left created"
                .into(),
        );
    }
    let null = Path::new("/dev/null");
    let devnull = std::fs::File::open(null).step("open", null).map_err(line)?;
    rustix::stdio::dup2_stdin(&devnull).map_err(|e| format!("stdin from /dev/null: {e}"))?;
    rustix::stdio::dup2_stdout(&devnull).map_err(|e| format!("stdout to /dev/null: {e}"))?;
    // Its own session: the caller's terminal and its signals never reach it. A subreaper, so
    // the init comes to it when `berth create` exits (and orphans of the container after).
    let _ = rustix::process::setsid();
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| format!("become a child subreaper: {e}"))?;
    let bins = Binaries::beside_me().map_err(line)?;
    let bundle = &args.bundle;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // -i without -t: the container reads a pipe whose write end `attach` clients feed.
    let (stdin_r, stdin_w) = match args.interactive && !args.tty {
        true => pipe().map(|(r, w)| (Some(r), Some(w)))?,
        false => (None, None),
    };
    // With -t the init sends the pty master over a socket in the bundle during create.
    let console = bundle.join(CONSOLE_SOCKET);
    let console_listener = if args.tty {
        let _ = std::fs::remove_file(&console);
        Some(
            UnixListener::bind(&console)
                .step("listen on", &console)
                .map_err(line)?,
        )
    } else {
        None
    };
    let pid_file = bundle.join(PID_FILE);
    let mut create = Command::new(&bins.berth);
    create
        .args(&args.global)
        .arg("create")
        .arg("--bundle")
        .arg(bundle)
        .arg("--pid-file")
        .arg(&pid_file);
    if args.tty {
        create.arg("--console-socket").arg(&console);
    }
    create.arg(&args.id).stdout(out_w).stderr(err_w);
    match stdin_r {
        Some(r) => create.stdin(r),
        None => create.stdin(Stdio::null()),
    };
    let created = create.status().step("run", &bins.berth);
    // Only the container holds the pipes' write ends from here on: EOF comes with its end.
    drop(create);
    if !created.map_err(line)?.success() {
        let _ = std::fs::remove_file(&console);
        return Err(berth_error(&err_r, "berth create"));
    }
    let started = start(args, &bins, console_listener, &pid_file);
    let _ = std::fs::remove_file(&console);
    let _ = std::fs::remove_file(&pid_file);
    // From here the container runs: a failure must not leave it running without its monitor.
    let held = started.and_then(|(pid, master)| {
        let streams = Streams {
            out: out_r,
            err: err_r,
            stdin: stdin_w,
            master,
        };
        hold(args, bins.clone(), pid, streams)
    });
    held.inspect_err(|_| bins.teardown(args, false))
}

/// The container's ends of its output, input and terminal.
struct Streams {
    out: OwnedFd,
    err: OwnedFd,
    stdin: Option<OwnedFd>,
    master: Option<OwnedFd>,
}

/// The started container, held: its init's pidfd and namespaces, its streams, the attach
/// socket.
fn hold(args: &Args, bins: Binaries, pid: i32, s: Streams) -> Result<Running, String> {
    let (out_r, err_r, stdin_w, master) = (s.out, s.err, s.stdin, s.master);
    let bundle = &args.bundle;
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).ok_or("no init pid")?,
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| format!("pidfd_open {pid}: {e}"))?;
    // Where attached clients' input goes: the terminal, or the stdin pipe.
    let input = match &master {
        Some(m) => Some(
            rustix::io::fcntl_dupfd_cloexec(m, 0).map_err(|e| format!("dup the terminal: {e}"))?,
        ),
        None => stdin_w,
    };
    let attach = bundle.join(ATTACH_SOCKET);
    let _ = std::fs::remove_file(&attach);
    let attach = match input.is_some() {
        true => Some(
            UnixListener::bind(&attach)
                .step("listen on", &attach)
                .map_err(line)?,
        ),
        false => None,
    };
    let mut streams = vec![(out_r, 0), (err_r, 1)];
    if let Some(m) = master {
        streams.insert(0, (m, 0));
    }
    Ok(Running {
        pid,
        namespaces: crate::ns::Held::of(pid),
        pidfd,
        streams,
        input,
        attach,
        oom: OomCounter::of(pid),
        bins,
        log: berth_monitor::log::Writer::open(&bundle.join(berth_monitor::log::LOG_FILE)).ok(),
    })
}

/// After a successful create: the init's pid, its terminal (with `-t`), then `berth start`.
fn start(
    args: &Args,
    bins: &Binaries,
    console: Option<UnixListener>,
    pid_file: &Path,
) -> Result<(i32, Option<OwnedFd>), String> {
    let pid = std::fs::read_to_string(pid_file)
        .step("read", pid_file)
        .map_err(line)?
        .trim()
        .parse::<i32>()
        .map_err(|e| format!("parse {}: {e}", pid_file.display()))?;
    // The init connected during create: accept does not wait.
    let master = match console {
        Some(l) => {
            let (sock, _) = l
                .accept()
                .map_err(|e| format!("accept the terminal: {e}"))?;
            let (_, mut fds) = recv_fds(sock.as_fd(), &mut [0u8; 64])
                .map_err(|e| format!("receive the terminal: {e}"))?;
            Some(fds.pop().ok_or("no terminal received")?)
        }
        None => None,
    };
    let (err_r, err_w) = pipe()?;
    let status = Command::new(&bins.berth)
        .args(&args.global)
        .arg("start")
        .arg(&args.id)
        .env(berth_monitor::RUNTIME_START_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_w)
        .status()
        .step("run", &bins.berth)
        .map_err(line)?;
    if !status.success() {
        return Err(berth_error(&err_r, "berth start"));
    }
    Ok((pid, master))
}

/// The error `berth` printed (its last "berth: ..." line) into `r`, whose writers are gone
/// or done; without one, that `what` failed.
fn berth_error(r: &OwnedFd, what: &str) -> String {
    let _ = rustix::fs::fcntl_setfl(r, rustix::fs::OFlags::NONBLOCK);
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = rustix::io::read(r, &mut buf) {
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("berth: "))
        .map_or_else(|| format!("{what} failed"), str::to_string)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// An I/O step's error as the one line the spawner shows.
fn line(e: IoError) -> String {
    e.to_string()
}
