//! One file per people-face subcommand (their flags are in berth::people_cli); `run IMAGE` is
//! [`crate::run`].

mod commit;
mod container;
mod hook;
mod image;
mod login;
mod logs;
mod network;
mod switch;
mod transfer;

use berth::context::{Context, Outcome};
use berth::people_cli::{ImageRunArgs, PeopleCommand};

use crate::run::ImageRun;

/// Runs a people-face command in this process.
pub fn run(cmd: PeopleCommand, ctx: &Context) -> Outcome {
    match cmd {
        PeopleCommand::Image(a) => image::run(a, ctx),
        PeopleCommand::Network(a) => network::run(a, ctx),
        PeopleCommand::Switch(a) => switch::run(a, ctx),
        PeopleCommand::Logs(a) => logs::run(a, ctx),
        PeopleCommand::Hook(a) => hook::run(a, ctx),
        PeopleCommand::Login(a) => login::login(a, ctx),
        PeopleCommand::Logout(a) => login::logout(a, ctx),
        PeopleCommand::Commit(a) => commit::commit(a, ctx),
        PeopleCommand::Diff(a) => commit::diff(a, ctx),
        PeopleCommand::Container(c) => container::run(c, ctx),
        PeopleCommand::Run(a) => run_image(*a, ctx),
        PeopleCommand::Checkpoint(a) => crate::criu::checkpoint(a, ctx),
        PeopleCommand::Restore(a) => crate::criu::restore(a, ctx),
    }
}

/// `berth run IMAGE [CMD]...`: returns the container's exit code in the foreground.
fn run_image(a: ImageRunArgs, ctx: &Context) -> Outcome {
    let code = crate::run::run(ImageRun {
        ctx,
        flags: a.flags,
        args: a.args,
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        start: true,
    })?;
    Ok(code.clamp(0, 255) as u8)
}
