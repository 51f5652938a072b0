//! `berth hook …`: helpers berth starts for the containers it makes; not for people to call.
//! `net-setup` is the createRuntime hook of image-form containers (see crate::net);
//! `teardown ID` ends a kept container's runtime incarnation after its exit (its monitor,
//! berth-monitor, runs it; crate::monitor); `release ID` is the
//! runtime's release hook as `berth` runs it (see berth::face::Exec).

use std::io::Read;

use berth::context::{Context, Outcome};
use berth::people_cli::{HookArgs, Which};
use berth_runtime::container;

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
        Which::Teardown { rm: false, id } => {
            container::delete(&ctx.root, &id, true, &crate::monitor::keep_release(ctx))?;
        }
        Which::Teardown { rm: true, id } => {
            // The files go even if the runtime container is gone already.
            let deleted = container::delete(&ctx.root, &id, true, ctx.release);
            crate::release::cleanup(&ctx.image_root, &id, true)?;
            deleted?;
        }
        Which::Release { with_root, id } => {
            crate::release::cleanup(&ctx.image_root, &id, with_root)?;
        }
    }
    Ok(0)
}
