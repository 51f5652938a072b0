//! `berth hook net-setup`: the createRuntime hook image-form containers carry (see
//! people::net); not for people to call.

use std::io::Read;

use super::{Context, Outcome};

/// Hooks berth puts into the configs it generates
#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(value_parser = ["net-setup"])]
    pub which: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| format!("read the container state from stdin: {e}"))?;
        let state: serde_json::Value =
            serde_json::from_str(&input).map_err(|e| format!("container state on stdin: {e}"))?;
        crate::people::net::hook_setup(&crate::people::network_store(&ctx.image_root), &state)?;
        Ok(0)
    }
}
