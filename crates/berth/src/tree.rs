//! The two executables' command trees. `berth`'s ([`Berth`]) has the runtime commands with
//! their flags and only the names and one-line abouts of the people verbs: clap builds the
//! whole tree at every start, so each flag `berth` defines costs every `create` heap and text
//! (bench/README.md, "Session 6: memory"). `berth-people`'s ([`Full`]) defines everything; it
//! parses the command lines `berth` hands over ([`crate::face`]), so `--help`, flag errors and
//! completions of a people verb are berth-people's, and the same as they were.
//!
//! `run` is both: `berth` parses runc's flags and runs the runtime form (one ID), and hands
//! anything else over (image-form flags, more arguments, `--help`, a parse error), which
//! berth-people parses with the full definitions ([`crate::commands::run`]).

use std::ffi::OsStr;
use std::process::ExitCode;

use clap::Subcommand;

use crate::commands::{run, Runtime};
use crate::container_cli::{
    AttachArgs, ContainerArgs, ContainerCommand, CpArgs, IdsArgs, RmArgs, StopArgs,
};
use crate::context::{Context, Outcome};
use crate::face::{self, PeopleFace};
use crate::people_cli::{
    CommitArgs, DiffArgs, HookArgs, ImageArgs, LoginArgs, LogoutArgs, LogsArgs, NetworkArgs,
    PeopleCommand, RawArgs, SwitchArgs,
};

/// A command tree one executable parses.
pub trait Tree: Subcommand + std::fmt::Debug {
    /// Carries out the parsed command.
    fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome;

    /// A command line that did not parse, or asked for help or the version (`subcommand` as
    /// cli::subcommand_of finds it): clap's answer.
    fn refused(e: clap::Error, _subcommand: Option<&OsStr>) -> ExitCode {
        e.exit()
    }
}

/// The people verbs, once for both trees: `$raw` (the names and docs) makes `berth`'s
/// [`Verb`], `$full` adds the real argument types to the runtime commands in [`Full`].
macro_rules! people_verbs {
    ($($(#[$meta:meta])* $name:ident($args:ty),)*) => {
        /// The people verbs as `berth` knows them: a name and an about; berth-people parses
        /// their arguments.
        #[derive(Subcommand, Debug)]
        pub enum Verb {
            $($(#[$meta])* $name(RawArgs),)*
        }

        /// `berth-people`'s tree: every command with its real flags.
        #[derive(Subcommand, Debug)]
        pub enum Full {
            #[command(flatten)]
            Runtime(Runtime<run::Args>),
            $($(#[$meta])* $name($args),)*
        }
    };
}

people_verbs! {
    /// Checkpoint a running container with CRIU (see `berth checkpoint --help`)
    Checkpoint(RawArgs),
    /// Restore a container from a CRIU checkpoint (see `berth restore --help`)
    Restore(RawArgs),
    /// Manage images (import, pull, push, tag, save, load, list, inspect, remove)
    Image(ImageArgs),
    /// Manage bridge networks and attach containers to them
    Network(NetworkArgs),
    /// Run the tap switch in the foreground (containers join with --net switch:PATH); each
    /// member joining, leaving or refused is one line on stderr and in --log
    Switch(SwitchArgs),
    /// Print the output of an image-form container started with -d or `start`
    Logs(LogsArgs),
    /// Log in to a registry: check the credentials and write them to the auth file
    /// ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
    /// /run/containers/UID/auth.json; ~/.docker/config.json is read too)
    Login(LoginArgs),
    /// Remove a registry's credentials from the auth file
    Logout(LogoutArgs),
    /// Store a container's root (its image's layers plus its changes) as a new image; works
    /// on a running or stopped container
    Commit(CommitArgs),
    /// List what a container added (A), changed (C) and deleted (D), as Docker's diff
    Diff(DiffArgs),
    /// Manage image-form containers: kept after they exit (unless run with --rm)
    Container(ContainerArgs),
    /// Stop running image-form containers: SIGTERM, then SIGKILL after the timeout
    Stop(StopArgs),
    /// Stop, then start image-form containers
    Restart(StopArgs),
    /// Remove kept image-form containers (record, upper layer, logs, runtime state)
    Rm(RmArgs),
    /// Wait until image-form containers exit, then print each one's exit code
    Wait(IdsArgs),
    /// Print image-form containers' records and configs as a JSON array
    Inspect(IdsArgs),
    /// Copy files or directories between a container and the host: `cp SRC ID:DST` or
    /// `cp ID:SRC DST`. Paths in the container are resolved inside its root (its symlinks
    /// never reach a host path); a stopped container's root is mounted for the copy
    Cp(CpArgs),
    /// Attach to a running container started with -t or -i (`run -dit`, `run -di`): its
    /// output here, what you type there (its terminal, or its stdin). Ctrl-P Ctrl-Q detaches
    /// and leaves it running; when it exits, attach exits with its exit code. A container
    /// with neither: its output from now on, followed
    Attach(AttachArgs),
    /// Hooks berth puts into the configs it generates
    #[command(hide = true)]
    Hook(HookArgs),
}

/// `berth`'s tree.
#[derive(Subcommand, Debug)]
pub enum Berth {
    #[command(flatten)]
    Runtime(Runtime<run::RuntimeArgs>),
    #[command(flatten)]
    People(Verb),
}

impl Tree for Berth {
    fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome {
        match self {
            Berth::Runtime(c) => c.run::<F>(ctx),
            Berth::People(_) => Err(face::hand_over().into()),
        }
    }

    /// `run`'s flags and `help`'s answers are berth-people's (its tree is complete); the
    /// rest of berth's tree is the same as berth-people's, so clap answers here.
    fn refused(e: clap::Error, subcommand: Option<&OsStr>) -> ExitCode {
        if subcommand.is_some_and(|s| s == "run" || s == "help") {
            eprintln!("berth: {}", face::hand_over());
            return ExitCode::FAILURE;
        }
        e.exit()
    }
}

impl Tree for Full {
    fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome {
        let people = match self {
            Full::Runtime(c) => return c.run::<F>(ctx),
            Full::Checkpoint(a) => PeopleCommand::Checkpoint(a),
            Full::Restore(a) => PeopleCommand::Restore(a),
            Full::Image(a) => PeopleCommand::Image(a),
            Full::Network(a) => PeopleCommand::Network(a),
            Full::Switch(a) => PeopleCommand::Switch(a),
            Full::Logs(a) => PeopleCommand::Logs(a),
            Full::Login(a) => PeopleCommand::Login(a),
            Full::Logout(a) => PeopleCommand::Logout(a),
            Full::Commit(a) => PeopleCommand::Commit(a),
            Full::Diff(a) => PeopleCommand::Diff(a),
            Full::Hook(a) => PeopleCommand::Hook(a),
            Full::Container(a) => PeopleCommand::Container(a.command),
            Full::Stop(a) => PeopleCommand::Container(ContainerCommand::Stop(a)),
            Full::Restart(a) => PeopleCommand::Container(ContainerCommand::Restart(a)),
            Full::Rm(a) => PeopleCommand::Container(ContainerCommand::Rm(a)),
            Full::Wait(a) => PeopleCommand::Container(ContainerCommand::Wait(a)),
            Full::Inspect(a) => PeopleCommand::Container(ContainerCommand::Inspect(a)),
            Full::Cp(a) => PeopleCommand::Container(ContainerCommand::Cp(a)),
            Full::Attach(a) => PeopleCommand::Container(ContainerCommand::Attach(a)),
        };
        F::run(people, ctx)
    }
}
