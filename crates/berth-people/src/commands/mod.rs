//! One file per people-face subcommand (their flags are in berth::people_cli); `run IMAGE` is
//! [`crate::run`].

mod hook;
mod image;
mod logs;
mod network;
mod switch;

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
        PeopleCommand::Run(a) => run_image(*a, ctx),
        PeopleCommand::Checkpoint(a) => crate::criu::checkpoint(a, ctx),
        PeopleCommand::Restore(a) => crate::criu::restore(a, ctx),
    }
}

/// `berth run IMAGE [CMD]...`: returns the container's exit code in the foreground.
fn run_image(a: ImageRunArgs, ctx: &Context) -> Outcome {
    let code = crate::run::run(ImageRun {
        state_root: &ctx.root,
        image_root: &ctx.image_root,
        flags: a.flags,
        args: a.args,
        detach: a.detach,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        systemd_cgroup: ctx.systemd_cgroup,
        release: ctx.release,
    })?;
    Ok(code.clamp(0, 255) as u8)
}
