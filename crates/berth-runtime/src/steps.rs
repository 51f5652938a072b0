//! Step timings for `--debug`: each named step of create, start, exec and delete reports
//! how long it took to a sink the executable registers once (berth's writes them to the
//! --log file as debug lines). Without a sink a step is an inert value: no clock is read.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub type StepSink = Box<dyn Fn(&str, Duration) + Send + Sync>;

static SINK: OnceLock<StepSink> = OnceLock::new();

/// Registers the process-wide sink; only the first registration counts. Returns false if
/// one was already registered.
pub fn set_step_sink(sink: StepSink) -> bool {
    SINK.set(sink).is_ok()
}

/// A running step: reports its name and duration when dropped, whether it succeeded or not
/// (a failed step's line comes just before the error).
#[must_use = "a step is timed until it is dropped"]
pub struct Step(Option<(&'static str, Instant)>);

/// Starts timing `name` ("create: clone the init").
pub fn step(name: &'static str) -> Step {
    Step(SINK.get().map(|_| (name, Instant::now())))
}

/// Runs `f` as the step `name`.
pub fn timed<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let _step = step(name);
    f()
}

impl Drop for Step {
    fn drop(&mut self) {
        if let (Some((name, start)), Some(sink)) = (self.0.take(), SINK.get()) {
            sink(name, start.elapsed());
        }
    }
}
