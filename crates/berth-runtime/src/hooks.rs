//! OCI hooks: run a hook's program with the container's state JSON on stdin, its args and
//! env, and its timeout.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{point} hook {path}: {reason}")]
    Failed {
        point: &'static str,
        path: String,
        reason: String,
    },
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run(point: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for hook in hooks {
        run_one(point, hook, state_json)?;
    }
    Ok(())
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
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin closes the pipe early: that is not a failure.
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    // The child is ours and not yet reaped, so its pid cannot be reused under the pidfd.
    let pidfd = crate::sys::pidfd_open(child.id() as i32).ok();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| fail(e.to_string()))? {
            if status.success() {
                return Ok(());
            }
            return Err(fail(format!("exited with {status}")));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        // Woken by the exit itself (a hook is on the start path: no sleep-poll latency);
        // without pidfds (kernel < 5.3), a short sleep.
        match &pidfd {
            Some(fd) => {
                let left = deadline.map_or(Duration::from_secs(1), |d| {
                    d.saturating_duration_since(Instant::now())
                });
                crate::container::wait_exit(fd, left);
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}
