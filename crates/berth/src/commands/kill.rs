use berth_runtime::container;

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Signal every process in the container, not only its init
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Container ID
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let sig = container::parse_signal(&self.signal)?;
        container::kill(&ctx.root, &self.id, sig, self.all)?;
        Ok(0)
    }
}
