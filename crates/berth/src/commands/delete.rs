use crate::context::{Context, Outcome};

/// Delete a stopped container (with --force, any container)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill a running container first; succeed if it does not exist
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Container ID
    pub id: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        berth_runtime::container::delete(&ctx.root, &self.id, self.force, ctx.release)?;
        Ok(0)
    }
}
