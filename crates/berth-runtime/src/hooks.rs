//! OCI hooks: run a hook's program with the container's state JSON on stdin, its args and
//! env, and its timeout.
//!
//! A hook reads the runtime spec's `State` (`oci_spec::runtime::State`), the field set runc
//! sends: ociVersion, id, status, pid (left out once stopped), bundle and annotations (left
//! out when empty). berth's own state.json and `berth state` keep their larger set.

use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{ContainerState, Hook, State};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{point} hook {path}: {reason}")]
    Failed {
        point: &'static str,
        path: String,
        reason: String,
    },
}

/// The state hooks read, for `container` in `status`.
pub fn state(container: &crate::state::State, status: ContainerState) -> State {
    let mut s = State::default();
    s.set_version(container.config.version().clone())
        .set_id(container.id.clone())
        .set_status(status)
        .set_pid((status != ContainerState::Stopped).then_some(container.pid))
        .set_bundle(container.bundle.clone())
        .set_annotations(
            (!container.annotations.is_empty()).then(|| container.annotations.clone()),
        );
    s
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run(point: &'static str, hooks: &[Hook], state: &State) -> Result<(), HookError> {
    let json = encode(point, hooks, state)?;
    for hook in hooks {
        run_one(point, hook, &json)?;
    }
    Ok(())
}

/// Runs every hook, each failure a warning: for poststart and poststop, whose failures the
/// spec says must neither stop the remaining hooks nor the lifecycle.
pub fn run_warning_on_failure(point: &'static str, hooks: &[Hook], state: &State) {
    let json = match encode(point, hooks, state) {
        Ok(json) => json,
        Err(e) => return crate::warn::warn(&e.to_string()),
    };
    for hook in hooks {
        if let Err(e) = run_one(point, hook, &json) {
            crate::warn::warn(&e.to_string());
        }
    }
}

fn encode(point: &'static str, hooks: &[Hook], state: &State) -> Result<Vec<u8>, HookError> {
    serde_json::to_vec(state).map_err(|e| HookError::Failed {
        point,
        path: hooks
            .first()
            .map(|h| h.path().display().to_string())
            .unwrap_or_default(),
        reason: format!("encode the state: {e}"),
    })
}

fn run_one(point: &'static str, hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let fail = |reason: String| HookError::Failed {
        point,
        path: path.clone(),
        reason,
    };
    let mut cmd = Command::new(hook.path());
    // args[0] is the hook's argv[0], as execv.
    if let Some([argv0, rest @ ..]) = hook.args().as_deref() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    // The hook's stderr goes to a memory file, so that when it fails its last line (its own
    // error) becomes part of the one error line, in --log too, as runc puts it in its error.
    // A file rather than a pipe: a hook that leaves a child holding it cannot block us.
    let captured = rustix::fs::memfd_create(c"berth-hook-stderr", rustix::fs::MemfdFlags::CLOEXEC)
        .map(std::fs::File::from)
        .map_err(|e| fail(format!("memfd for its stderr: {e}")))?;
    cmd.stderr(
        captured
            .try_clone()
            .map_err(|e| fail(format!("memfd for its stderr: {e}")))?,
    );
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin closes the pipe early: that is not a failure.
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let exited = exited_by(&child, deadline);
    if !matches!(exited, Ok(true)) {
        // Timed out, or could not be waited for: never leave the hook running.
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail(match exited {
            Err(e) => format!("wait: {e}"),
            _ => format!("timed out after {}s", hook.timeout().unwrap_or(0)),
        }));
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    let said = said(captured);
    let last = said.lines().rev().find(|l| !l.trim().is_empty());
    if status.success() {
        // What a successful hook printed still reaches stderr, as when it was inherited.
        let _ = std::io::stderr().write_all(said.as_bytes());
        return Ok(());
    }
    match last {
        Some(last) => {
            // The earlier lines as they were, the last one in the error.
            let before = &said[..said.rfind(last).unwrap_or(0)];
            let _ = std::io::stderr().write_all(before.as_bytes());
            Err(fail(format!("exited with {status}: {}", last.trim())))
        }
        None => Err(fail(format!("exited with {status}"))),
    }
}

/// What a hook wrote to its stderr file (the first 64 KiB).
fn said(mut file: std::fs::File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = Vec::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(64 * 1024).read_to_end(&mut buf));
    String::from_utf8_lossy(&buf).into_owned()
}

/// Sleeps on the child's pidfd until it exits (true) or `deadline` passes (false). The child
/// is ours and not yet reaped, so its pid is its own.
fn exited_by(child: &Child, deadline: Option<Instant>) -> std::io::Result<bool> {
    let pidfd = crate::sys::pidfd_open(child.id() as i32)?;
    crate::sys::pidfd_wait_exit(pidfd.as_fd(), deadline)
}
