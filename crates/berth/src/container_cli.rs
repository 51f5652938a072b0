//! The command line of the people face's container lifecycle (`berth container …` and its
//! top-level forms `stop`, `restart`, `rm`, `wait`, `inspect`, `ps` without an ID, `start` of
//! a kept container). Only clap definitions and the form rules: berth-people carries them out.

use std::path::Path;

use clap::Subcommand;

use crate::people_cli::{LogsArgs, PeopleFlags};

/// The record berth-people keeps for an image-form container, in its bundle
/// (`<image root>/containers/ID/`): its presence makes `start ID` the people face's.
pub const RECORD_FILE: &str = "container.json";

/// Whether `id` names a kept image-form container (one stat).
pub fn has_record(image_root: &Path, id: &str) -> bool {
    berth_common::id::is_valid(id)
        && image_root
            .join("containers")
            .join(id)
            .join(RECORD_FILE)
            .exists()
}

/// Manage image-form containers: kept after they exit (unless run with --rm)
#[derive(clap::Args, Debug)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub command: ContainerCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)] // built when used: commands/mod.rs says why
pub enum ContainerCommand {
    /// List containers: kept image-form ones and the runtime's (image "-")
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Make an image-form container from IMAGE without starting it (`start` starts it)
    Create(Box<CreateImageArgs>),
    /// Start a kept, stopped container again: the same files, under a new monitor
    Start(StartArgs),
    /// Stop running containers: SIGTERM, then SIGKILL after the timeout
    Stop(StopArgs),
    /// Stop, then start containers
    Restart(StopArgs),
    /// Remove kept containers: record, upper layer, logs, runtime state
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Wait until containers exit, then print each one's exit code
    Wait(IdsArgs),
    /// Print containers' records and configs as a JSON array
    Inspect(IdsArgs),
    /// Print a container's output (as `berth logs`)
    Logs(LogsArgs),
    /// Copy files between a container and the host (as `berth cp`)
    Cp(CpArgs),
    /// Attach to a running container's terminal (as `berth attach`)
    Attach(AttachArgs),
}

/// Attach to a running container started with -t or -i (`run -dit`, `run -di`): its output
/// here, what you type there (its terminal, or its stdin). Ctrl-P Ctrl-Q (or --detach-keys)
/// detaches and leaves it running; when it exits, attach exits with its exit code. A
/// container with neither: its output from now on, followed.
#[derive(clap::Args, Debug)]
pub struct AttachArgs {
    /// The key sequence that detaches, as Docker writes it: comma-separated keys, each a
    /// single character or ctrl-<c> (c: a-z, @, [, \, ], ^, _) [default: ctrl-p,ctrl-q]
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Do not pass this terminal's input to the container (its output only)
    #[arg(long)]
    pub no_stdin: bool,
    /// Container ID
    pub id: String,
}

/// Copy files or directories between a container and the host: `cp SRC ID:DST` or
/// `cp ID:SRC DST`. Paths in the container are resolved inside its root (its symlinks never
/// reach a host path); a stopped container's root is mounted for the copy.
#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// A host path, or ID:PATH in a container
    pub src: String,
    /// A host path, or ID:PATH in a container (an existing directory receives SRC by name)
    pub dst: String,
}

// List containers
#[derive(clap::Args, Debug, Default)]
pub struct LsArgs {
    /// Show stopped containers too (default: running ones)
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Print only IDs
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

// `container create`: the image form's flags, without -d.
#[derive(clap::Args, Debug)]
pub struct CreateImageArgs {
    #[command(flatten)]
    pub flags: PeopleFlags,
    /// IMAGE [CMD [ARG]...] (or only CMD with --image)
    #[arg(trailing_var_arg = true, value_name = "IMAGE [CMD]...")]
    pub args: Vec<String>,
}

// Start a kept container
#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Attach: its terminal (started with -t), or follow its output; exit with its exit code
    #[arg(long, short = 'a')]
    pub attach: bool,
    /// Container ID
    pub id: String,
}

// The flags of `stop` and `restart`. Not a doc comment: it would replace each command's own
// description in berth-people's deferred tree (tree::Full).
#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(long = "time", short = 't', default_value_t = 10, value_name = "SECS")]
    pub time: u64,
    /// Container IDs
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

// The flags of `rm`. Not a doc comment: it would replace each command's own
// description in berth-people's deferred tree (tree::Full).
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Kill a running container first
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Container IDs
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

// The IDs of `wait` and `inspect`. Not a doc comment: it would replace each command's own
// description in berth-people's deferred tree (tree::Full).
#[derive(clap::Args, Debug)]
pub struct IdsArgs {
    /// Container IDs
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}
