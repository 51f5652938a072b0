//! One file per runtime-face subcommand; each turns its flags into a berth-runtime call. The
//! people face's commands (their flags in [`crate::people_cli`]) run wherever the executable's
//! [`PeopleFace`] says.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod join;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use clap::Subcommand;

use crate::container_cli::{
    AttachArgs, ContainerArgs, ContainerCommand, CpArgs, IdsArgs, RmArgs, StopArgs,
};
use crate::context::{Context, Outcome};
use crate::face::PeopleFace;
use crate::people_cli::{
    CommitArgs, DiffArgs, HookArgs, ImageArgs, LoginArgs, LogoutArgs, LogsArgs, NetworkArgs,
    PeopleCommand, RawArgs, SwitchArgs,
};

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
    #[command(visible_alias = "top")]
    Ps(ps::Args),
    Update(update::Args),
    Events(events::Args),
    // Boxed: the image form's flags dwarf every other command's.
    Run(Box<run::Args>),
    List(list::Args),
    Spec(spec::Args),
    Features(features::Args),
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

/// Whether the container `id` was created with the systemd cgroup driver (its state names
/// a unit); read without the lock, as `state` does.
fn in_systemd_scope(ctx: &Context, id: &str) -> bool {
    ctx.root
        .peek(id)
        .is_ok_and(|(_, s)| s.cgroup.is_some_and(|c| c.systemd_unit.is_some()))
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
        // A container made with the systemd driver keeps using it, with or without the flag
        // (as runc): `update` sets the unit's properties, `delete` stops the unit.
        let managed_by = match &self {
            Command::Update(a) => Some(a.id.as_str()),
            Command::Delete(a) => Some(a.id.as_str()),
            _ => None,
        };
        if !ctx.systemd_cgroup && managed_by.is_some_and(|id| in_systemd_scope(ctx, id)) {
            F::systemd_cgroup()?;
        }
        match self {
            Command::Create(a) => a.run(ctx),
            // runc's start for a runtime container; a kept image-form one is started again.
            Command::Start(a) if a.is_kept(ctx) => F::run(
                PeopleCommand::Container(ContainerCommand::Start(a.into_people())),
                ctx,
            ),
            Command::Start(a) => a.run(ctx),
            Command::State(a) => a.run(ctx),
            Command::Kill(a) => a.run(ctx),
            Command::Delete(a) => a.run(ctx),
            Command::Exec(a) => a.run(ctx),
            Command::Join(a) => a.run(ctx),
            Command::Pause(a) => a.run(ctx),
            Command::Resume(a) => a.run(ctx),
            // runc's ps takes an ID; without one it is the listing.
            Command::Ps(a) if a.id.is_none() => {
                F::run(PeopleCommand::Container(ContainerCommand::Ls(a.ls)), ctx)
            }
            Command::Ps(a) => a.run(ctx),
            Command::Update(a) => a.run(ctx),
            Command::Events(a) => a.run(ctx),
            Command::Run(a) if a.image_form() => {
                F::run(PeopleCommand::Run(Box::new((*a).into_image_form()?)), ctx)
            }
            Command::Run(a) => (*a).run(ctx),
            Command::List(a) => a.run(ctx),
            Command::Spec(a) => a.run(ctx),
            Command::Features(a) => a.run(ctx),
            Command::Checkpoint(a) => F::run(PeopleCommand::Checkpoint(a), ctx),
            Command::Restore(a) => F::run(PeopleCommand::Restore(a), ctx),
            Command::Image(a) => F::run(PeopleCommand::Image(a), ctx),
            Command::Network(a) => F::run(PeopleCommand::Network(a), ctx),
            Command::Switch(a) => F::run(PeopleCommand::Switch(a), ctx),
            Command::Logs(a) => F::run(PeopleCommand::Logs(a), ctx),
            Command::Hook(a) => F::run(PeopleCommand::Hook(a), ctx),
            Command::Login(a) => F::run(PeopleCommand::Login(a), ctx),
            Command::Logout(a) => F::run(PeopleCommand::Logout(a), ctx),
            Command::Commit(a) => F::run(PeopleCommand::Commit(a), ctx),
            Command::Diff(a) => F::run(PeopleCommand::Diff(a), ctx),
            Command::Container(a) => F::run(PeopleCommand::Container(a.command), ctx),
            Command::Stop(a) => F::run(PeopleCommand::Container(ContainerCommand::Stop(a)), ctx),
            Command::Restart(a) => {
                F::run(PeopleCommand::Container(ContainerCommand::Restart(a)), ctx)
            }
            Command::Rm(a) => F::run(PeopleCommand::Container(ContainerCommand::Rm(a)), ctx),
            Command::Wait(a) => F::run(PeopleCommand::Container(ContainerCommand::Wait(a)), ctx),
            Command::Inspect(a) => {
                F::run(PeopleCommand::Container(ContainerCommand::Inspect(a)), ctx)
            }
            Command::Cp(a) => F::run(PeopleCommand::Container(ContainerCommand::Cp(a)), ctx),
            Command::Attach(a) => {
                F::run(PeopleCommand::Container(ContainerCommand::Attach(a)), ctx)
            }
        }
    }
}
