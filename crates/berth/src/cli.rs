//! The command line: parses runc's flags (and the people face's), calls berth-runtime, and
//! turns errors into one line on stderr, a JSON (or text) line in the `--log` file, and
//! exit status 1.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::context::Context;
use crate::face::{PeopleFace, DEFAULT_IMAGE_ROOT};
use crate::log;
use crate::tree::Tree;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A fast OCI container runtime for Linux",
    long_about = "berth runs OCI bundles with the command line container managers expect of an \
                  OCI runtime, so they can use it as theirs. It also runs containers from images \
                  (berth image, berth run IMAGE CMD...) on networks (berth network, berth switch); \
                  those commands run in berth-people, installed next to berth.",
    // A repeated flag takes its last value, as in runc and crun: clients put their own
    // --root (or --log, --debug…) in front of a user's flags. Lists (-e, --env…) still append.
    args_override_self = true
)]
struct Cli<T: Tree> {
    /// Directory for container state (tmpfs recommended) [default: /run/berth; for a
    /// non-root user $XDG_RUNTIME_DIR/berth]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Also write errors (and with --debug, debug lines) to this file
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of the --log file
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Image store root (images, container roots, networks) for the image and network commands
    #[arg(
        long,
        global = true,
        env = "BERTH_IMAGE_ROOT",
        default_value = DEFAULT_IMAGE_ROOT,
        value_name = "DIR"
    )]
    image_root: PathBuf,
    /// Write each step of create, start, exec and delete with its duration to --log
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd's cgroup driver: cgroupsPath is slice:prefix:name and the container is a
    /// transient scope made over D-Bus (without a running systemd, berth makes the matching
    /// cgroupfs directories itself)
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for command-line compatibility: berth picks rootless mode from the user namespace
    #[arg(long, value_name = "true|false|auto", hide = true)]
    rootless: Option<String>,
    /// The criu binary checkpoint and restore run [default: criu on PATH]
    #[arg(long, value_name = "PATH")]
    criu: Option<PathBuf>,
    #[command(subcommand)]
    command: T,
}

/// The subcommand named on the command line, found without clap: global flags that take a
/// value are skipped with their value.
fn subcommand_of(args: &[std::ffi::OsString]) -> Option<&std::ffi::OsStr> {
    subcommand_at(args).map(|i| args[i].as_os_str())
}

/// Where [`subcommand_of`] found it in `args`.
fn subcommand_at(args: &[std::ffi::OsString]) -> Option<usize> {
    let mut it = args.iter().enumerate().skip(1);
    while let Some((i, a)) = it.next() {
        match a.to_str() {
            Some(
                "--root" | "--image-root" | "--log" | "--log-format" | "--criu" | "--rootless",
            ) => {
                it.next();
            }
            Some(s) if s.starts_with('-') => {}
            _ => return Some(i),
        }
    }
    None
}

/// The command line parsed. A tree may build each command's flags only when clap needs them
/// (`#[command(defer = true)]`, berth-people's tree): a help lists every command with its
/// description, which only the built command has, so a command line that may ask for help
/// builds the whole tree first.
fn parse<T: Tree>(args: &[std::ffi::OsString]) -> Result<Cli<T>, clap::Error> {
    let mut cmd = Cli::<T>::command();
    let help = |a: &std::ffi::OsString| a == "-h" || a == "--help";
    let version = |a: &std::ffi::OsString| a == "-V" || a == "--version";
    // No command: a usage error that lists them, unless the version is all that is asked.
    let bare = subcommand_of(args).is_none() && !args.iter().any(version);
    if args.iter().any(help) || bare || subcommand_of(args).is_some_and(|s| s == "help") {
        cmd.build();
    }
    let matches = cmd.try_get_matches_from_mut(args)?;
    Cli::<T>::from_arg_matches(&matches)
}

/// runc's rule: root keeps state in /run; anyone else in their own runtime dir, which
/// they can write and nobody else can.
fn default_root() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !rustix::process::geteuid().is_root() && !dir.is_empty() => {
            PathBuf::from(dir).join("berth")
        }
        _ => PathBuf::from("/run/berth"),
    }
}

/// The C `main` of either executable, both started without Rust's runtime start-up
/// (`#![no_main]`): that start-up also reads /proc/self/maps to find the main thread's stack
/// and sets up a signal stack and SIGSEGV/SIGBUS handlers for stack-overflow messages, ~20
/// syscalls neither needs; berth_runtime::process_start does the part they rely on. Exits
/// through std::process::exit, which flushes stdout as the runtime does after a Rust `main`.
pub fn c_main<F: PeopleFace>() -> std::ffi::c_int {
    if let Err(e) = berth_runtime::process_start::init() {
        // Before the logger: a stderr that is gone must not turn this into an abort.
        let _ = writeln!(
            std::io::stderr(),
            "berth: start the process (SIGPIPE, fds 0-2): {e}"
        );
        return 1;
    }
    std::process::exit(exit_status(main::<F>()))
}

/// The number an ExitCode stands for (std offers no stable way to read it back).
fn exit_status(code: ExitCode) -> std::ffi::c_int {
    (0..=u8::MAX)
        .find(|n| ExitCode::from(*n) == code)
        .map_or(1, std::ffi::c_int::from)
}

/// The whole program of either executable; `F` decides where people-face commands run.
pub fn main<F: PeopleFace>() -> ExitCode {
    // Commands that put berth-cloned processes into a container first move berth onto a
    // read-only mount of itself (CVE-2019-5736, see berth_runtime::exe_guard): before any
    // parsing, so the process that is replaced does as little as possible. Not `run` in its
    // image form: it clones nothing in this process (berth hands it to berth-people, executed
    // from a read-only mount of its own), which saves an execve.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let guarded = ["create", "run", "exec", "join"];
    let sub = subcommand_of(&args);
    let image_run = sub.is_some_and(|c| c == "run")
        && subcommand_at(&args)
            .is_some_and(|at| crate::commands::run::surely_image_form(&args[at + 1..]));
    if !image_run && sub.is_some_and(|c| guarded.iter().any(|g| c == *g)) {
        if let Err(e) = berth_runtime::exe_guard::ensure_readonly_exe() {
            let _ = writeln!(std::io::stderr(), "berth: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(code) = sub.and_then(|s| F::Tree::before_parse(s, image_run)) {
        return code;
    }
    let cli = match parse::<F::Tree>(&args) {
        Ok(cli) => cli,
        Err(e) => return F::Tree::refused(e, subcommand_of(&args)),
    };
    let logger = log::Logger::new(cli.log.clone(), &cli.log_format, cli.debug);
    // The image root is written into generated configs and hooks: it must not depend on the
    // cwd of whoever reads it later.
    let image_root = match std::path::absolute(&cli.image_root) {
        Ok(p) => p,
        Err(e) => {
            logger.error(&format!("--image-root {}: {e}", cli.image_root.display()));
            return ExitCode::FAILURE;
        }
    };
    if cli.systemd_cgroup {
        if let Err(e) = F::systemd_cgroup() {
            logger.error(&e);
            return ExitCode::FAILURE;
        }
    }
    let warn_log = logger.clone();
    berth_runtime::warn::set_warning_sink(Box::new(move |msg| warn_log.warn(msg)));
    // Only with --debug: without a sink the runtime's steps read no clock.
    if logger.debugging() {
        let debug_log = logger.clone();
        berth_runtime::steps::set_step_sink(Box::new(move |name, took| {
            debug_log.debug(&format!("{name}: {took:?}"))
        }));
    }
    let default_image_root = image_root.clone();
    let release = move |state: &berth_runtime::state::State| F::release(state, &default_image_root);
    let ctx = Context {
        root: berth_runtime::state::StateRoot::new(cli.root.clone().unwrap_or_else(default_root)),
        image_root,
        log: &logger,
        systemd_cgroup: cli.systemd_cgroup,
        criu: cli.criu.clone(),
        release: &release,
    };
    match cli.command.run::<F>(&ctx) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            logger.error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{subcommand_of, Cli};
    use crate::tree::Full;
    use clap::Parser;
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> Cli<Full> {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// runc and crun take the last of a repeated flag; clients prepend their own --root.
    #[test]
    fn repeated_flags_take_the_last_value() {
        let cli = parse(&[
            "berth",
            "--root",
            "/a",
            "--root",
            "/b",
            "--log",
            "/l1",
            "--log",
            "/l2",
            "--log-format",
            "json",
            "--log-format",
            "text",
            "--debug",
            "--debug",
            "--systemd-cgroup",
            "--systemd-cgroup",
            "--image-root",
            "/i1",
            "--image-root",
            "/i2",
            "state",
            "x",
        ]);
        assert_eq!(cli.root, Some(PathBuf::from("/b")));
        assert_eq!(cli.log, Some(PathBuf::from("/l2")));
        assert_eq!(cli.log_format, "text");
        assert_eq!(cli.image_root, PathBuf::from("/i2"));
        assert!(cli.debug && cli.systemd_cgroup);
        // A global flag after the subcommand is the last one too.
        let cli = parse(&["berth", "--root", "/a", "state", "--root", "/c", "x"]);
        assert_eq!(cli.root, Some(PathBuf::from("/c")));
    }

    /// Per-command flags: a repeated single value takes the last, a list keeps every value.
    #[test]
    fn repeated_command_flags_override_or_append() {
        let cli = parse(&[
            "berth", "exec", "--cwd", "/a", "--cwd", "/b", "-t", "-t", "--user", "1", "-u", "2:3",
            "-e", "A=1", "-e", "B=2", "-d", "--detach", "x", "true",
        ]);
        let dbg = format!("{:?}", cli.command);
        for want in [
            "cwd: Some(\"/b\")",
            "tty: true",
            "user: Some(\"2:3\")",
            "env: [\"A=1\", \"B=2\"]",
            "detach: true",
        ] {
            assert!(dbg.contains(want), "{want} not in {dbg}");
        }
        let cli = parse(&[
            "berth",
            "create",
            "--bundle",
            "/x",
            "--bundle",
            "/y",
            "--pid-file",
            "p1",
            "--pid-file",
            "p2",
            "id",
        ]);
        let dbg = format!("{:?}", cli.command);
        assert!(dbg.contains("\"/y\"") && dbg.contains("\"p2\""), "{dbg}");
    }

    fn help_of(args: &[&str]) -> String {
        let v: Vec<std::ffi::OsString> = args.iter().map(|s| s.into()).collect();
        let e = super::parse::<Full>(&v).expect_err("help is clap's error");
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        e.to_string()
    }

    /// berth-people's tree builds a command's flags only when clap needs them: a help still
    /// shows every command's own description, and a verb's help its flags.
    #[test]
    fn the_deferred_tree_helps_as_the_whole_one() {
        let top = help_of(&["berth", "--help"]);
        for line in [
            "image       Manage images",
            "stop        Stop running image-form containers",
            "checkpoint  Checkpoint a running container with CRIU",
            "container   Manage image-form containers",
        ] {
            assert!(top.contains(line), "{line:?} not in\n{top}");
        }
        let stop = help_of(&["berth", "stop", "--help"]);
        assert!(
            stop.starts_with("Stop running image-form containers"),
            "{stop}"
        );
        assert!(stop.contains("--time"), "{stop}");
        let ls = help_of(&["berth", "container", "ls", "-h"]);
        assert!(ls.contains("--all"), "{ls}");
    }

    fn sub(args: &[&str]) -> Option<String> {
        let v: Vec<std::ffi::OsString> = args.iter().map(|s| s.into()).collect();
        subcommand_of(&v).map(|s| s.to_string_lossy().into_owned())
    }

    #[test]
    fn subcommand_is_found_past_global_flags() {
        assert_eq!(sub(&["berth", "create", "x"]).as_deref(), Some("create"));
        assert_eq!(
            sub(&["berth", "--root", "exec", "--log", "f", "--debug", "run", "id"]).as_deref(),
            Some("run")
        );
        assert_eq!(
            sub(&["berth", "--root=/r", "--log-format", "json", "exec", "id"]).as_deref(),
            Some("exec")
        );
        assert_eq!(sub(&["berth", "--version"]), None);
    }
}
