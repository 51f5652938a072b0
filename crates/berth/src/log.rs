//! Error and debug lines: one line on stderr for people, and the same line in the
//! `--log` file for containerd and Docker, which read runtime errors from there.

use std::io::Write;
use std::path::PathBuf;

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
        eprintln!("berth: {msg}");
        self.write("error", msg);
    }

    /// A problem that does not fail the command (the runtime's warnings).
    pub fn warn(&self, msg: &str) {
        eprintln!("berth: warning: {msg}");
        self.write("warning", msg);
    }

    #[allow(dead_code)]
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
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
