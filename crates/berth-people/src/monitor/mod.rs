//! The per-container monitor (podman's conmon, berth's way): the small executable
//! `berth-monitor` (crates/berth-monitor), started by `run -d IMAGE` and `start` of a kept
//! container, so berth stays daemonless. It creates and starts the container by running
//! `berth`, holds its output (the log, [`log`]) and `attach` socket, records its exit and runs
//! `berth-people hook teardown`, which deletes the runtime container with [`keep_release`].

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use berth::context::Context;
use berth_common::io::Step;
use berth_runtime::state::Creator;

use crate::error::PeopleError;
use crate::record::{bundle_of, Phase, Record};

pub use berth_monitor::{log, ATTACH_SOCKET};

/// Starts the monitor of container `id` (its record and bundle made) and waits until it has
/// started the container; its error, if any, is the error (and the record is as before).
pub fn spawn(ctx: &Context, id: &str) -> Result<(), PeopleError> {
    let bundle = bundle_of(&ctx.image_root, id)?;
    let before = Record::load(&bundle)?;
    // Beside this binary on the host, as berth finds berth-people.
    let exe = berth_runtime::exe_guard::original_exe()
        .step("find own binary", Path::new("/proc/self/exe"))?
        .with_file_name(berth_monitor::EXE);
    let mut child = Command::new(&exe)
        .arg("--root")
        .arg(&ctx.root.path)
        .arg("--image-root")
        .arg(&ctx.image_root)
        .args(ctx.systemd_cgroup.then_some("--systemd-cgroup"))
        .args(before.tty.then_some("--tty"))
        .args(before.interactive.then_some("--interactive"))
        .arg("--bundle")
        .arg(&bundle)
        .args(["--", id])
        .env_remove(berth_runtime::exe_guard::ORIGINAL_EXE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .step("start the monitor (installed beside berth-people)", &exe)?;
    // The record names the monitor its keeper before the monitor may see an exit to record;
    // it waits for EOF on its stdin.
    let pid = child.id() as i32;
    let running = Record {
        status: Phase::Running,
        keeper: Creator::of(pid),
        started_at: Some(berth_common::now_rfc3339()),
        exit_code: None,
        finished_at: None,
        oom_killed: false,
        ..before.clone()
    };
    if let Err(e) = running.save(&bundle) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    drop(child.stdin.take());
    // The monitor closes the pipe once the container runs, and lives on (it is not waited
    // for: this berth exits and the monitor's parent becomes the host's reaper); before that
    // it writes its error there, one line.
    let mut report = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut report)
            .step("read the monitor's report", &exe)?;
    }
    match report.trim() {
        "" => Ok(()),
        msg => {
            before.save(&bundle)?;
            Err(PeopleError::Usage(msg.to_string()))
        }
    }
}

/// The release of a kept container's runtime incarnation: networks and overlay mount go,
/// the upper dir, bundle and record stay.
pub fn keep_release(ctx: &Context) -> impl Fn(&berth_runtime::state::State) -> Result<(), String> {
    let image_root = ctx.image_root.clone();
    move |state| crate::release::keep(&image_root, &state.id).map_err(|e| e.to_string())
}
