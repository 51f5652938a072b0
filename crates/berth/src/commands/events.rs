use std::time::Duration;

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one stats event and exit
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events (e.g. 5s, 500ms)
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Container ID
    pub id: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        berth_runtime::container::events(
            &ctx.root,
            &self.id,
            self.stats,
            self.interval,
            &mut |e| {
                if let Ok(line) = serde_json::to_string(e) {
                    crate::outln!("{line}");
                }
            },
        )?;
        Ok(0)
    }
}
