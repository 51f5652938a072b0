//! `berth hook …`: helpers berth starts for the containers it makes; not for people to call.
//! `net-setup` is the createRuntime hook of image-form containers (see crate::net);
//! `reap ID` waits for a `run -d --rm` container to exit and deletes it; `release ID` is the
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
        Which::Reap { id } => {
            let state = ctx.root.open(&id)?.load()?;
            // The pidfd pins the process, so checking its identity after opening it
            // cannot be fooled by a recycled pid.
            if let Ok(fd) = berth_runtime::sys::pidfd_open(state.pid) {
                if berth_runtime::state::process_matches(state.pid, state.pid_start_time) {
                    use rustix::event::{poll, PollFd, PollFlags};
                    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
                    while let Err(rustix::io::Errno::INTR) = poll(&mut fds, None) {}
                }
            }
            berth_runtime::container::delete(&ctx.root, &id, true, ctx.release)?;
        }
        Which::Release { with_root, id } => {
            crate::release::cleanup(&ctx.image_root, &id, with_root)?;
        }
    }
    Ok(0)
}
