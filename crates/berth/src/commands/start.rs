use crate::context::{Context, Outcome};

/// Start a created container's program
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container ID
    pub id: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        berth_runtime::container::start(&ctx.root, &self.id)?;
        Ok(0)
    }
}
