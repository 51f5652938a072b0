use berth_runtime::container::{self, RunOptions};

use super::create::CreateArgs;
use super::{Context, Outcome};

/// Create and start a container; in the foreground, wait and exit with its status
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Return once the container has started instead of waiting for it
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[command(flatten)]
    pub common: CreateArgs,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let code = container::run(
            &ctx.root,
            &RunOptions {
                create: self.common.options(ctx),
                detach: self.detach,
            },
        )?;
        Ok(code.clamp(0, 255) as u8)
    }
}
