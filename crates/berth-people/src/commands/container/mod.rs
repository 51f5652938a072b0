//! The container lifecycle of the people face (`berth container …`, and the top-level `stop`,
//! `restart`, `rm`, `wait`, `inspect`, `ps` without an ID and `start` of a kept container):
//! each verb works on the kept record (crate::record) and, while the container runs, on its
//! runtime incarnation and its monitor (crate::monitor).

mod attach;
mod cp;
mod detach_keys;
mod inspect;
mod lifecycle;
mod ls;

use std::time::Duration;

use berth::container_cli::ContainerCommand;
use berth::context::{Context, Outcome};

use crate::run::ImageRun;

pub fn run(cmd: ContainerCommand, ctx: &Context) -> Outcome {
    match cmd {
        ContainerCommand::Ls(a) => ls::run(&a, ctx),
        ContainerCommand::Create(a) => {
            crate::run::run(ImageRun {
                ctx,
                flags: a.flags,
                args: a.args,
                detach: false,
                pid_file: None,
                console_socket: None,
                start: false,
            })?;
            Ok(0)
        }
        ContainerCommand::Start(a) => {
            let since = berth_common::now_rfc3339();
            lifecycle::start(ctx, &a.id)?;
            if a.attach {
                let input = attach::Input {
                    detach_keys: None,
                    no_stdin: false,
                };
                return attach::run(&a.id, ctx, since, input);
            }
            berth::outln!("{}", a.id);
            Ok(0)
        }
        ContainerCommand::Stop(a) => each(&a.ids, |id| {
            lifecycle::stop(ctx, id, Duration::from_secs(a.time))
        }),
        ContainerCommand::Restart(a) => each(&a.ids, |id| {
            lifecycle::stop(ctx, id, Duration::from_secs(a.time))?;
            lifecycle::start(ctx, id)
        }),
        ContainerCommand::Rm(a) => each(&a.ids, |id| lifecycle::rm(ctx, id, a.force)),
        ContainerCommand::Wait(a) => {
            for id in &a.ids {
                berth::outln!("{}", lifecycle::wait(ctx, id)?);
            }
            Ok(0)
        }
        ContainerCommand::Inspect(a) => inspect::run(&a.ids, ctx),
        ContainerCommand::Logs(a) => super::logs::run(a, ctx),
        ContainerCommand::Cp(a) => cp::run(&a, ctx),
        ContainerCommand::Attach(a) => attach::run(
            &a.id,
            ctx,
            berth_common::now_rfc3339(),
            attach::Input {
                detach_keys: a.detach_keys.as_deref(),
                no_stdin: a.no_stdin,
            },
        ),
    }
}

/// Runs `f` on each ID and prints the ID, as Docker does; stops at the first error.
fn each(ids: &[String], f: impl Fn(&str) -> Result<(), crate::error::PeopleError>) -> Outcome {
    for id in ids {
        f(id)?;
        berth::outln!("{id}");
    }
    Ok(0)
}
