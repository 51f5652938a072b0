//! One file per runtime-face subcommand; each turns its flags into a berth-runtime call. The
//! people face's commands (their flags in [`crate::people_cli`]) run wherever the executable's
//! [`PeopleFace`] says; the two executables' command trees are in [`crate::tree`].

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
pub mod run;
mod spec;
pub mod start;
mod state;
mod update;

use clap::Subcommand;

use crate::container_cli::ContainerCommand;
use crate::context::{Context, Outcome};
use crate::face::PeopleFace;
use crate::people_cli::PeopleCommand;
use run::RunForm;

/// The runtime face's commands, with their real flags, in both executables' trees; `run`'s
/// arguments are each tree's own (`R`: berth parses them only in part, run::RunForm).
// Each command's flags are built only when that command is parsed (`defer`; so are the people
// face's image, network, container and hook subcommands): building all of them was most of a
// process start's heap (bench/README.md, "Session 7: speed"). So a command's about is its
// variant's doc comment, and a struct of flags carries a doc comment (`///`) only where it is
// that command's about: built late, it replaces the variant's.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Runtime<R: RunForm> {
    /// Create a container from a bundle; it waits for `start`
    Create(create::Args),
    /// Start a created container's program; or start a kept, stopped image-form container again
    Start(start::Args),
    /// Print a container's OCI state as JSON
    State(state::Args),
    /// Send a signal to a container's init (default SIGTERM)
    Kill(kill::Args),
    /// Delete a stopped container (with --force, any container)
    Delete(delete::Args),
    /// Run a new process inside a running container
    Exec(exec::Args),
    /// Run a host program inside namespaces of running containers (nsenter by container ID)
    Join(join::Args),
    /// Freeze every process of a running container
    Pause(pause::PauseArgs),
    /// Thaw a paused container
    Resume(pause::ResumeArgs),
    /// Show the processes running in a container (`top` too); without an ID, list containers
    #[command(visible_alias = "top")]
    Ps(ps::Args),
    /// Change a running container's resource limits
    Update(update::Args),
    /// Print container statistics, OOM kills and memory pressure as JSON lines
    Events(events::Args),
    /// Create and start a container; in the foreground, wait and exit with its status
    // Boxed: the image form's flags dwarf every other command's.
    Run(Box<R>),
    /// List containers under the state root
    List(list::Args),
    /// Write a default config.json into the bundle
    Spec(spec::Args),
    /// Print the OCI features document: what this berth supports
    Features(features::Args),
}

/// Whether the container `id` was created with the systemd cgroup driver (its state names
/// a unit); read without the lock, as `state` does.
fn in_systemd_scope(ctx: &Context, id: &str) -> bool {
    ctx.root
        .peek(id)
        .is_ok_and(|(_, s)| s.cgroup.is_some_and(|c| c.systemd_unit.is_some()))
}

impl<R: RunForm> Runtime<R> {
    pub fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome {
        // main() already re-executed from a read-only mount before parsing; this backstop
        // (one access(2) call) catches anything its argv scan missed (CVE-2019-5736). `run`
        // is guarded once its form is known (run.rs).
        if matches!(
            self,
            Runtime::Create(_) | Runtime::Exec(_) | Runtime::Join(_)
        ) {
            berth_runtime::exe_guard::ensure_readonly_exe()?;
        }
        // A container made with the systemd driver keeps using it, with or without the flag
        // (as runc): `update` sets the unit's properties, `delete` stops the unit.
        let managed_by = match &self {
            Runtime::Update(a) => Some(a.id.as_str()),
            Runtime::Delete(a) => Some(a.id.as_str()),
            _ => None,
        };
        if !ctx.systemd_cgroup && managed_by.is_some_and(|id| in_systemd_scope(ctx, id)) {
            F::systemd_cgroup()?;
        }
        match self {
            Runtime::Create(a) => a.run(ctx),
            // runc's start for a runtime container; a kept image-form one is started again.
            Runtime::Start(a) if a.is_kept(ctx) => F::run(
                PeopleCommand::Container(ContainerCommand::Start(a.into_people())),
                ctx,
            ),
            Runtime::Start(a) => a.run(ctx),
            Runtime::State(a) => a.run(ctx),
            Runtime::Kill(a) => a.run(ctx),
            Runtime::Delete(a) => a.run(ctx),
            Runtime::Exec(a) => a.run(ctx),
            Runtime::Join(a) => a.run(ctx),
            Runtime::Pause(a) => a.run(ctx),
            Runtime::Resume(a) => a.run(ctx),
            // runc's ps takes an ID; without one it is the listing.
            Runtime::Ps(a) if a.id.is_none() => {
                F::run(PeopleCommand::Container(ContainerCommand::Ls(a.ls)), ctx)
            }
            Runtime::Ps(a) => a.run(ctx),
            Runtime::Update(a) => a.run(ctx),
            Runtime::Events(a) => a.run(ctx),
            Runtime::Run(a) => a.run::<F>(ctx),
            Runtime::List(a) => a.run(ctx),
            Runtime::Spec(a) => a.run(ctx),
            Runtime::Features(a) => a.run(ctx),
        }
    }
}
