//! Progress output of a pull: bars on a terminal, lines otherwise.

use super::options::ProgressMode;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::{self, IsTerminal};

/// Progress display shared by the layer workers.
pub(super) struct Progress {
    mode: ProgressMode,
    multi: Option<MultiProgress>,
}

impl Progress {
    pub(super) fn new(mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if io::stderr().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Lines,
            m => m,
        };
        let multi = (mode == ProgressMode::Bars).then(MultiProgress::new);
        Progress { mode, multi }
    }

    pub(super) fn line(&self, msg: &str) {
        match (&self.multi, self.mode) {
            (Some(m), _) => {
                let _ = m.println(msg);
            }
            (None, ProgressMode::Lines) => eprintln!("{msg}"),
            _ => {}
        }
    }

    pub(super) fn layer(&self, digest: &str, size: u64) -> LayerProgress {
        let short = digest
            .strip_prefix("sha256:")
            .unwrap_or(digest)
            .chars()
            .take(12)
            .collect::<String>();
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size));
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(short.clone());
            bar
        });
        if self.mode == ProgressMode::Lines {
            eprintln!("{short}: downloading {size} bytes");
        }
        LayerProgress {
            bar,
            short,
            lines: self.mode == ProgressMode::Lines,
        }
    }
}

/// Progress of one layer: a bar, or lines at start, retry and end.
pub(crate) struct LayerProgress {
    bar: Option<ProgressBar>,
    short: String,
    lines: bool,
}

impl LayerProgress {
    pub(super) fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    pub(super) fn note(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None if self.lines => eprintln!("{}: {msg}", self.short),
            None => {}
        }
    }
    pub(super) fn done(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(msg.to_string()),
            None if self.lines => eprintln!("{}: {msg}", self.short),
            None => {}
        }
    }
}
