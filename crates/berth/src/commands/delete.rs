use berth_runtime::state::StateError;

use crate::container_cli::has_record;
use crate::context::{Context, Outcome};

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
        match berth_runtime::container::delete(&ctx.root, &self.id, self.force, ctx.release) {
            // An exited image-form container has no runtime container left, only its record.
            Err(berth_runtime::Error::State(StateError::NotFound(_)))
                if has_record(&ctx.image_root, &self.id) =>
            {
                Err(format!(
                    "container {id} has exited and is kept: `berth rm {id}` removes it",
                    id = self.id
                )
                .into())
            }
            r => {
                r?;
                Ok(0)
            }
        }
    }
}
