//! Error and debug lines: one line on stderr for people, and the same line in the
//! `--log` file for containerd and Docker, which read runtime errors from there. Every message
//! passes [`one_line`] first: values echoed in it are bounded and control characters escaped,
//! so a hostile value can neither flood the log nor forge a line of its own.

use std::io::Write;
use std::path::PathBuf;

use berth_runtime::text::one_line;

#[derive(Clone)]
pub struct Logger {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

impl Logger {
    pub fn new(file: Option<PathBuf>, format: &str, debug: bool) -> Self {
        Logger {
            file,
            json: format == "json",
            debug,
        }
    }

    pub fn error(&self, msg: &str) {
        self.emit("error", "", msg);
    }

    /// A problem that does not fail the command (the runtime's warnings).
    pub fn warn(&self, msg: &str) {
        self.emit("warning", "warning: ", msg);
    }

    /// A notice of a long-running command (`berth switch`'s members): stderr and the log.
    pub fn info(&self, msg: &str) {
        self.emit("info", "", msg);
    }

    /// One line to the log file, then the same line on stderr: whoever has read it on stderr
    /// (a test, a supervisor about to kill the switch) finds it in the file already.
    fn emit(&self, level: &str, prefix: &str, msg: &str) {
        let msg = one_line(msg);
        self.write(level, &msg);
        // A stderr that is gone (`2>&1 | head -1`, a long-running command that outlived its
        // terminal) must not turn the line into an abort: the log has it, the status says it.
        let _ = writeln!(std::io::stderr(), "berth: {prefix}{msg}");
    }

    /// Whether --debug was given.
    pub fn debugging(&self) -> bool {
        self.debug
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", &one_line(msg));
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let time = berth_common::now_rfc3339();
        let line = if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
