//! The two executables' command trees. `berth`'s ([`Berth`]) has the runtime commands with
//! their flags and takes any other command name as berth-people's, unparsed: clap builds the
//! whole tree at every start, so each command and flag `berth` defines costs every `create`
//! heap and text (bench/README.md, "Session 6: memory"). `berth-people`'s ([`Full`]) defines
//! everything; it parses the command lines `berth` hands over ([`crate::face::hand_over`]), so
//! `--help` and flag errors of a people verb are the full definitions', as they were.
//!
//! `run` is both: `berth` parses runc's flags and runs the runtime form (one ID), and hands
//! anything else over (image-form flags, more arguments, `--help`, a parse error), which
//! berth-people parses with the full definitions ([`crate::commands::run`]).

use std::ffi::OsStr;
use std::process::ExitCode;

use clap::error::ErrorKind;
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

    /// Before clap builds the tree: a command this tree does not parse at all is answered
    /// here (`berth` hands the people face's verbs over: `stop`, `image …`, `logs` …, and a
    /// `run` whose arguments surely make the image form, `image_run`), as building the tree
    /// would be work thrown away (clap's heap and page faults are most of a process start).
    fn before_parse(_subcommand: &OsStr, _image_run: bool) -> Option<ExitCode> {
        None
    }
}

/// `berth-people`'s tree: every command with its real flags. Each command's flags are built
/// only when clap needs them (`defer`: the command given, or a help that shows them): a
/// start builds the names and one command's flags, not ~250 flags it throws away.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Full {
    // Boxed, as the other variants are small.
    #[command(flatten)]
    Runtime(Box<Runtime<run::Args>>),
    /// Checkpoint a running container with CRIU (see `berth checkpoint --help`)
    Checkpoint(RawArgs),
    /// Restore a container from a CRIU checkpoint (see `berth restore --help`)
    Restore(RawArgs),
    Image(ImageArgs),
    Network(NetworkArgs),
    Switch(SwitchArgs),
    Logs(LogsArgs),
    Login(LoginArgs),
    Logout(LogoutArgs),
    Commit(CommitArgs),
    Diff(DiffArgs),
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
    Cp(CpArgs),
    Attach(AttachArgs),
    #[command(hide = true)]
    Hook(HookArgs),
}

/// `berth`'s tree: the runtime commands, and any other name, which is berth-people's.
#[derive(Debug)]
pub enum Berth {
    Runtime(Box<Runtime<run::RuntimeArgs>>),
    People,
}

impl clap::FromArgMatches for Berth {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        match m.subcommand_name() {
            Some(name) if Runtime::<run::RuntimeArgs>::has_subcommand(name) => {
                Ok(Berth::Runtime(Box::new(Runtime::from_arg_matches(m)?)))
            }
            _ => Ok(Berth::People),
        }
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Subcommand for Berth {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        Runtime::<run::RuntimeArgs>::augment_subcommands(cmd).allow_external_subcommands(true)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(_name: &str) -> bool {
        true
    }
}

impl Tree for Berth {
    /// Not a runtime command's name (nor `help`): berth-people's, whatever it is; an
    /// unknown name gets berth-people's "did you mean", as it would after a parse. The image
    /// form of `run` too (berth's parse of runc's flags would only find that out, ~0.2 ms);
    /// where berth-people cannot be executed, the parse answers as it would have (the
    /// runtime commands' help, the same error).
    fn before_parse(subcommand: &OsStr, image_run: bool) -> Option<ExitCode> {
        if image_run {
            let _ = face::hand_over();
            return None;
        }
        let ours = subcommand == "help"
            || subcommand
                .to_str()
                .is_some_and(Runtime::<run::RuntimeArgs>::has_subcommand);
        if ours {
            return None;
        }
        eprintln!("berth: {}", face::hand_over());
        Some(ExitCode::FAILURE)
    }

    fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome {
        match self {
            Berth::Runtime(c) => c.run::<F>(ctx),
            Berth::People => Err(face::hand_over().into()),
        }
    }

    /// A runtime command's flags are the same in both trees: clap answers here, as for
    /// `--version`. Anything else is berth-people's, whose tree is complete: `run`'s other
    /// flags, the top-level help (it lists every command), `help VERB`, an unknown command.
    /// Without berth-people, the help (and the usage error of no command at all) is berth's
    /// own (the runtime commands).
    fn refused(e: clap::Error, subcommand: Option<&OsStr>) -> ExitCode {
        let runtime = |s: &OsStr| {
            s != "run"
                && s.to_str()
                    .is_some_and(Runtime::<run::RuntimeArgs>::has_subcommand)
        };
        if e.kind() == ErrorKind::DisplayVersion || subcommand.is_some_and(runtime) {
            e.exit()
        }
        let failed = face::hand_over();
        if matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                | ErrorKind::MissingSubcommand
        ) {
            e.exit()
        }
        eprintln!("berth: {failed}");
        ExitCode::FAILURE
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
