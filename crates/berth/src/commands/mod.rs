//! One file per subcommand; each turns its flags into a berth-runtime call. The people
//! face's commands ([`PeopleCommand`]) run wherever the executable's
//! [`PeopleFace`](crate::face::PeopleFace) says.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod hook;
mod image;
mod join;
mod kill;
mod list;
mod logs;
mod network;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod switch;
mod update;

use clap::Subcommand;

use crate::face::PeopleFace;
use crate::log::Logger;
use berth_runtime::state::StateRoot;

pub struct Context<'a> {
    pub root: StateRoot,
    /// The image store root; networks live in its networks/ directory.
    pub image_root: std::path::PathBuf,
    #[allow(dead_code)]
    pub log: &'a Logger,
    pub systemd_cgroup: bool,
}

/// What a command returns: the exit code, or an error for one line on stderr and the log.
pub type Outcome = Result<u8, Box<dyn std::error::Error>>;

#[derive(Subcommand, Debug)]
pub enum Command {
    Create(create::Args),
    Start(start::Args),
    State(state::Args),
    Kill(kill::Args),
    Delete(delete::Args),
    Exec(exec::Args),
    Join(join::Args),
    Pause(pause::PauseArgs),
    Resume(pause::ResumeArgs),
    Ps(ps::Args),
    Update(update::Args),
    Events(events::Args),
    Run(run::Args),
    List(list::Args),
    Spec(spec::Args),
    Features(features::Args),
    Image(image::Args),
    Network(network::Args),
    Switch(switch::Args),
    Logs(logs::Args),
    #[command(hide = true)]
    Hook(hook::Args),
}

/// The commands of the people face.
#[derive(Debug)]
pub enum PeopleCommand {
    Image(image::Args),
    Network(network::Args),
    Switch(switch::Args),
    Logs(logs::Args),
    Hook(hook::Args),
    /// `run` in its image form (boxed: its flags dwarf the other variants).
    Run(Box<run::Args>),
}

impl PeopleCommand {
    /// Runs the command in this process (only `berth-people` links this).
    pub fn run(self, ctx: &Context) -> Outcome {
        match self {
            PeopleCommand::Image(a) => a.run(ctx),
            PeopleCommand::Network(a) => a.run(ctx),
            PeopleCommand::Switch(a) => a.run(ctx),
            PeopleCommand::Logs(a) => a.run(ctx),
            PeopleCommand::Hook(a) => a.run(ctx),
            PeopleCommand::Run(a) => (*a).run_image(ctx),
        }
    }
}

impl Command {
    pub fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome {
        // main() already re-executed from a read-only mount before parsing; this backstop
        // (one access(2) call) catches anything its argv scan missed (CVE-2019-5736).
        if matches!(
            self,
            Command::Create(_) | Command::Run(_) | Command::Exec(_) | Command::Join(_)
        ) {
            berth_runtime::exe_guard::ensure_readonly_exe()?;
        }
        match self {
            Command::Create(a) => a.run(ctx),
            Command::Start(a) => a.run(ctx),
            Command::State(a) => a.run(ctx),
            Command::Kill(a) => a.run(ctx),
            Command::Delete(a) => a.run(ctx),
            Command::Exec(a) => a.run(ctx),
            Command::Join(a) => a.run(ctx),
            Command::Pause(a) => a.run(ctx),
            Command::Resume(a) => a.run(ctx),
            Command::Ps(a) => a.run(ctx),
            Command::Update(a) => a.run(ctx),
            Command::Events(a) => a.run(ctx),
            Command::Run(a) if a.image_form() => F::run(PeopleCommand::Run(Box::new(a)), ctx),
            Command::Run(a) => a.run(ctx),
            Command::List(a) => a.run(ctx),
            Command::Spec(a) => a.run(ctx),
            Command::Features(a) => a.run(ctx),
            Command::Image(a) => F::run(PeopleCommand::Image(a), ctx),
            Command::Network(a) => F::run(PeopleCommand::Network(a), ctx),
            Command::Switch(a) => F::run(PeopleCommand::Switch(a), ctx),
            Command::Logs(a) => F::run(PeopleCommand::Logs(a), ctx),
            Command::Hook(a) => F::run(PeopleCommand::Hook(a), ctx),
        }
    }
}
