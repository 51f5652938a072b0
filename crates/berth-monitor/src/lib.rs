//! berth's per-container monitor, as conmon is podman's: the executable `berth-monitor`,
//! installed beside `berth` and `berth-people`, which starts one for each detached kept
//! container (`run -d IMAGE`, `start`). It is small on purpose (it lives as long as its
//! container, one per container): it links neither the runtime library nor the people face,
//! and runs the `berth` and `berth-people` binaries beside it for what they own.
//!
//! Its command line (internal; berth-people's `monitor::spawn` builds it):
//!
//! ```text
//! berth-monitor [--root DIR] [--image-root DIR] [--systemd-cgroup] [--tty] [--interactive]
//!               --bundle DIR ID
//! ```
//!
//! Its life: it waits for EOF on stdin (its spawner has made the record "running", naming it
//! the keeper), leaves the caller's session, becomes a child subreaper, and runs `berth create`
//! (the container's stdio: pipes it holds, or with `--tty` a console socket in the bundle) and
//! `berth start`, so the init, orphaned when `berth create` exits, is reparented to it. It
//! reports "started" by closing its stdout, or writes the error there, one line. Then it holds
//! the container's namespaces (so their teardown comes after the exit is recorded), logs each
//! output line ([`log`]), serves `attach` on [`ATTACH_SOCKET`], and when the init exits
//! records its exit code and OOM kill in the record ([`record`]), lets the namespaces go and
//! runs `berth-people hook teardown`, which deletes the runtime container (networks and overlay mount go, upper dir
//! and bundle stay; everything with `--rm`).

pub mod log;
pub mod record;

/// The monitor's executable, beside `berth-people`.
pub const EXE: &str = "berth-monitor";

/// The socket `attach` connects to, in the bundle of a container with `-t` or `-i`.
pub const ATTACH_SOCKET: &str = "attach.sock";

/// Where the container's init hands the terminal's master over during create (`-t`).
pub const CONSOLE_SOCKET: &str = "console.sock";

/// Set (to "1") in the environment of the monitor's `berth start`: it is runc's `start` of
/// the runtime container the monitor created, whatever state that container is in by then. By
/// its state alone `berth start ID` of a kept container would be the people face's (start it
/// again) once the init is gone, as when `rm -f` kills it between the monitor's create and
/// start; that `start` would wait for the container's keeper, the monitor, which waits for it.
pub const RUNTIME_START_ENV: &str = "BERTH_RUNTIME_START";
