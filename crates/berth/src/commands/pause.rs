use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct PauseArgs {
    /// Container ID
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// Container ID
    pub id: String,
}

impl PauseArgs {
    pub fn run(self, ctx: &Context) -> Outcome {
        berth_runtime::container::pause(&ctx.root, &self.id)?;
        Ok(0)
    }
}

impl ResumeArgs {
    pub fn run(self, ctx: &Context) -> Outcome {
        berth_runtime::container::resume(&ctx.root, &self.id)?;
        Ok(0)
    }
}
