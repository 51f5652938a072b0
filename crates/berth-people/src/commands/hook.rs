//! `berth hook …`: helpers berth starts for the containers it makes; not for people to call.
//! `net-setup` is the createRuntime hook of image-form containers (see crate::net);
//! `monitor ID` is a detached container's monitor (crate::monitor); `release ID` is the
//! runtime's release hook as `berth` runs it (see berth::face::Exec).

use std::io::Read;

use berth::context::{Context, Outcome};
use berth::people_cli::{HookArgs, Which};

pub fn run(args: HookArgs, ctx: &Context) -> Outcome {
    match args.which {
        Which::NetSetup => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("read the container state from stdin: {e}"))?;
            let state: oci_spec::runtime::State = serde_json::from_str(&input)
                .map_err(|e| format!("container state on stdin: {e}"))?;
            crate::net::hook_setup(
                &crate::release::network_store(&ctx.image_root),
                &ctx.image_root,
                &state,
            )?;
        }
        Which::Monitor { id } => return Ok(crate::monitor::run(ctx, &id)?),
        Which::Release { with_root, id } => {
            crate::release::cleanup(&ctx.image_root, &id, with_root)?;
        }
    }
    Ok(0)
}
