use berth_runtime::state::{status_at, Status};

use crate::container_cli::{has_record, StartArgs};
use crate::context::{Context, Outcome};

/// In the environment of a monitor's `berth start`: runc's `start`, never the people face's.
pub const RUNTIME_START_ENV: &str = "BERTH_RUNTIME_START";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A kept image-form container: attach to it (its terminal, or its output) until it exits
    #[arg(long, short = 'a')]
    pub attach: bool,
    /// Container ID
    pub id: String,
}

impl Args {
    /// The form rule: an ID with a kept record (`berth run IMAGE`, `container create`) is
    /// the people face's, even while the runtime state of its last run is still being torn
    /// down; any other is runc's `start`. It costs runc's start one stat. Except the start a
    /// monitor runs (which runs `berth create` and `berth start`): runc's `start`, marked by
    /// [`RUNTIME_START_ENV`] (berth-monitor's, which berth does not link; a berth-people
    /// test keeps the two equal), and a kept container whose runtime container is created.
    pub fn is_kept(&self, ctx: &Context) -> bool {
        std::env::var_os(RUNTIME_START_ENV).is_none()
            && has_record(&ctx.image_root, &self.id)
            && !ctx
                .root
                .peek(&self.id)
                .is_ok_and(|(dir, state)| status_at(&dir, &state) == Status::Created)
    }

    pub fn into_people(self) -> StartArgs {
        StartArgs {
            attach: self.attach,
            id: self.id,
        }
    }

    pub fn run(self, ctx: &Context) -> Outcome {
        if self.attach {
            return Err(
                "start -a is for kept image-form containers; runc's start has no -a".into(),
            );
        }
        berth_runtime::container::start(&ctx.root, &self.id)?;
        Ok(0)
    }
}
