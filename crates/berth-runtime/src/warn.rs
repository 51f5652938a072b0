//! Warnings: what the runtime reports without failing the operation (a failed poststart or
//! poststop hook, a capability the kernel lacks). They go to stderr, unless the executable
//! registers a sink once at startup (berth's also writes them to the --log file, where
//! containerd and Docker read the runtime's messages).

use std::sync::OnceLock;

pub type WarningSink = Box<dyn Fn(&str) + Send + Sync>;

static SINK: OnceLock<WarningSink> = OnceLock::new();

/// Registers the process-wide sink; only the first registration counts. Returns false if
/// one was already registered.
pub fn set_warning_sink(sink: WarningSink) -> bool {
    SINK.set(sink).is_ok()
}

pub fn warn(msg: &str) {
    match SINK.get() {
        Some(sink) => sink(msg),
        None => eprintln!("berth: warning: {msg}"),
    }
}
