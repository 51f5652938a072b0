//! `start`, `stop`, `rm` and `wait` of kept containers.

use std::time::{Duration, Instant};

use berth::context::Context;
use berth_runtime::container;
use berth_runtime::state::{status_at, State, Status};
use berth_runtime::sys::{pidfd_open, pidfd_send_signal, pidfd_wait_exit};
use rustix::fd::AsFd;

use crate::error::PeopleError;
use crate::monitor::{self, keep_release};
use crate::record::{bundle_of, Phase, Record};

/// The runtime incarnation of `id`, unless there is none or it has stopped.
pub(super) fn live(ctx: &Context, id: &str) -> Option<State> {
    let (dir, state) = ctx.root.peek(id).ok()?;
    (status_at(&dir, &state) != Status::Stopped).then_some(state)
}

fn io(what: &str, id: &str) -> impl FnOnce(std::io::Error) -> PeopleError {
    let msg = format!("{what} of container {id}");
    move |e| PeopleError::Usage(format!("{msg}: {e}"))
}

/// Sleeps until the process `pid` (whose start time is `start_time`) exits.
fn wait_exit(pid: i32, start_time: u64, deadline: Option<Instant>) -> bool {
    // The pidfd pins the process: checked after opening it, a recycled pid cannot fool it.
    match pidfd_open(pid) {
        Ok(fd) if berth_runtime::state::process_matches(pid, start_time) => {
            pidfd_wait_exit(fd.as_fd(), deadline).unwrap_or(true)
        }
        _ => true,
    }
}

/// `start` of a kept container that is not running: the same upper dir, mounted again, and
/// a new monitor that creates and starts the runtime container from the bundle.
pub fn start(ctx: &Context, id: &str) -> Result<(), PeopleError> {
    let bundle = bundle_of(&ctx.image_root, id)?;
    if live(ctx, id).is_some() {
        return Err(PeopleError::Usage(format!("container {id} is running")));
    }
    // What a monitor that was killed left: the runtime state of a stopped container.
    settle(ctx, id, &bundle)?;
    let rec = Record::load(&bundle)?;
    berth_image::Store::open(&ctx.image_root)?.remount_container_root(
        id,
        berth_image::OverlayOptions {
            readonly: rec.read_only,
            volatile: false,
        },
    )?;
    monitor::spawn(ctx, id)
}

/// SIGTERM to the init, SIGKILL to every process after `timeout`; returns once the exit is
/// recorded. An init that appears while this waits (a monitor still making the container, its
/// `run -d` killed) is stopped the same way, by the same deadline.
pub fn stop(ctx: &Context, id: &str, timeout: Duration) -> Result<(), PeopleError> {
    let bundle = bundle_of(&ctx.image_root, id)?;
    let deadline = Instant::now() + timeout;
    let mut stopped = false;
    // The keeper records the exit right after the init's end, before its teardown: within
    // about a millisecond, so the record is read every 0.2 ms for 2 ms, then less and less
    // often (an inotify watch would wake at once, but closing its descriptor waits out an
    // SRCU grace period in the kernel: 5-15 ms, more than the whole wait).
    let mut rounds: u32 = 0;
    loop {
        // Looked for until one is stopped: a container has one init, and its keeper does not
        // start it again.
        if !stopped {
            if let Some(state) = live(ctx, id).filter(|s| s.pid > 0) {
                stop_init(id, &state, deadline)?;
                stopped = true;
            }
        }
        match Record::load(&bundle) {
            Err(_) => return Ok(()),
            Ok(r) if r.status == Phase::Exited => return Ok(()),
            Ok(r) if r.keeper_alive() => std::thread::sleep(
                Duration::from_micros(200) * 2u32.pow(rounds.saturating_sub(10).min(6)),
            ),
            Ok(_) => return settle(ctx, id, &bundle),
        }
        rounds += 1;
    }
}

/// SIGTERM to the init, SIGKILL at `deadline`; returns once it has ended.
fn stop_init(id: &str, state: &State, deadline: Instant) -> Result<(), PeopleError> {
    if let Ok(fd) = pidfd_open(state.pid) {
        if berth_runtime::state::process_matches(state.pid, state.pid_start_time) {
            let _ = pidfd_send_signal(fd.as_fd(), libc::SIGTERM);
            let ended = wait_until(fd.as_fd(), deadline).map_err(io("wait for the init", id))?;
            if !ended {
                // The init's death ends its pid namespace; what shares the host's is
                // killed with the cgroup when the monitor deletes the container.
                let _ = pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
                pidfd_wait_exit(fd.as_fd(), None).map_err(io("wait for the init", id))?;
            }
        }
    }
    Ok(())
}

/// Sleeps on `pidfd` until its process exits (true) or `deadline` (false), waking within
/// about 50 µs of the deadline: the kernel lets a poll(2) timeout run late by 0.1% of its
/// length (1 ms of a 1 s `stop`), so the last 10 ms are a wait of their own.
fn wait_until(pidfd: rustix::fd::BorrowedFd<'_>, deadline: Instant) -> std::io::Result<bool> {
    let last = Duration::from_millis(10);
    if let Some(early) = deadline.checked_sub(last).filter(|e| *e > Instant::now()) {
        if pidfd_wait_exit(pidfd, Some(early))? {
            return Ok(true);
        }
    }
    pidfd_wait_exit(pidfd, Some(deadline))
}

/// After the init's exit: waits until its keeper has recorded it; when the keeper is gone
/// (killed), does its work: deletes the runtime container, keeping the files, and records an
/// unknown exit code.
fn settle(ctx: &Context, id: &str, bundle: &std::path::Path) -> Result<(), PeopleError> {
    let Ok(rec) = Record::load(bundle) else {
        return Ok(()); // a --rm container, gone with its exit
    };
    if let Some(k) = rec.keeper {
        wait_exit(k.pid, k.start_time, None);
    }
    let Ok(rec) = Record::load(bundle) else {
        return Ok(());
    };
    if rec.status == Phase::Running && live(ctx, id).is_none() {
        container::delete(&ctx.root, id, true, &keep_release(ctx))?;
        rec.exited(None, false).save(bundle)?;
    }
    Ok(())
}

/// Removes a kept container: record, upper, log, and its runtime state; `force` kills a
/// running one first.
pub fn rm(ctx: &Context, id: &str, force: bool) -> Result<(), PeopleError> {
    let dir = berth_image::Store::open(&ctx.image_root)?.container_dir(id)?;
    if !dir.exists() && ctx.root.peek(id).is_err() {
        return Err(PeopleError::Usage(format!(
            "no such container: {id} (berth ps -a lists them)"
        )));
    }
    if live(ctx, id).is_some() && !force {
        return Err(PeopleError::Usage(format!(
            "container {id} is running: `berth stop {id}` first, or `berth rm -f {id}`"
        )));
    }
    if let Some(state) = live(ctx, id) {
        kill_and_settle(ctx, id, &state)?;
    }
    // The runtime's delete kills what runs and gives back cgroup, networks and root.
    container::delete(&ctx.root, id, true, ctx.release)?;
    crate::release::cleanup(&ctx.image_root, id, true)
}

/// SIGKILL to a running container's init, then its keeper is let finish (the exit recorded,
/// the teardown done): its monitor holds the container's namespaces, and with them its root's
/// mounts, until the exit is recorded (berth-monitor's ns.rs); the root must not be removed
/// under them. A keeper may still be making the container (a `run -d` killed before its
/// monitor was done, then `rm -f`): an init it records later is killed as soon as it appears.
fn kill_and_settle(ctx: &Context, id: &str, state: &State) -> Result<(), PeopleError> {
    kill_and_wait(id, state)?;
    let Ok(bundle) = bundle_of(&ctx.image_root, id) else {
        return Ok(()); // a runtime-face container: no keeper
    };
    loop {
        let Ok(rec) = Record::load(&bundle) else {
            return Ok(());
        };
        let Some(k) = rec.keeper.filter(|k| k.alive()) else {
            break;
        };
        if wait_exit(k.pid, k.start_time, Some(Instant::now() + KEEPER_SLICE)) {
            break;
        }
        if let Some(state) = live(ctx, id) {
            kill_and_wait(id, &state)?;
        }
    }
    settle(ctx, id, &bundle)
}

/// How long `rm -f` waits for a keeper before it looks again for an init to kill.
const KEEPER_SLICE: Duration = Duration::from_millis(50);

/// SIGKILL to the container's init, if it has one (a container being created may not yet),
/// and the wait for its end.
fn kill_and_wait(id: &str, state: &State) -> Result<(), PeopleError> {
    if let Ok(fd) = pidfd_open(state.pid) {
        if berth_runtime::state::process_matches(state.pid, state.pid_start_time) {
            let _ = pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
            pidfd_wait_exit(fd.as_fd(), None).map_err(io("wait for the init", id))?;
        }
    }
    Ok(())
}

/// Waits until the container has exited and returns its exit code.
pub fn wait(ctx: &Context, id: &str) -> Result<i32, PeopleError> {
    loop {
        let bundle = bundle_of(&ctx.image_root, id)?;
        let rec = Record::load(&bundle)?;
        match rec.status {
            Phase::Exited => {
                return rec.exit_code.ok_or_else(|| {
                    PeopleError::Usage(format!(
                        "the exit code of {id} is unknown: its monitor ended before it"
                    ))
                })
            }
            Phase::Running => {
                if let Some(state) = live(ctx, id) {
                    wait_exit(state.pid, state.pid_start_time, None);
                }
                settle(ctx, id, &bundle)?;
            }
            // Not started yet: whoever starts it makes it running.
            Phase::Created => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
