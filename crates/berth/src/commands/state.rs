use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container ID
    pub id: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let state = berth_runtime::container::state_of(&ctx.root, &self.id)?;
        crate::outln!("{}", serde_json::to_string_pretty(&state)?);
        Ok(0)
    }
}
