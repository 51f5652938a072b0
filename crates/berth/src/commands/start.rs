use crate::container_cli::{has_record, StartArgs};
use crate::context::{Context, Outcome};

/// Start a created container's program; or start a kept, stopped image-form container again
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container ID
    pub id: String,
}

impl Args {
    /// The form rule: an ID the runtime knows is runc's `start`; otherwise one with a kept
    /// record (`berth run IMAGE`, `container create`) is the people face's.
    pub fn is_kept(&self, ctx: &Context) -> bool {
        ctx.root.peek(&self.id).is_err() && has_record(&ctx.image_root, &self.id)
    }

    pub fn into_people(self) -> StartArgs {
        StartArgs { id: self.id }
    }

    pub fn run(self, ctx: &Context) -> Outcome {
        berth_runtime::container::start(&ctx.root, &self.id)?;
        Ok(0)
    }
}
