use std::fmt::Write as _;
use std::io::Write;

use berth_runtime::container::ListEntry;

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format
    #[arg(long, short = 'f', default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only the IDs
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        // One write for the whole list, not one per line.
        let mut out = std::io::BufWriter::new(crate::out::stdout());
        if self.quiet {
            for id in berth_runtime::container::list_ids(&ctx.root) {
                writeln!(out, "{id}")?;
            }
            out.flush()?;
            return Ok(0);
        }
        let entries = berth_runtime::container::list(&ctx.root);
        if self.format == "json" {
            writeln!(out, "{}", serde_json::to_string(&entries)?)?;
        } else {
            // Padded into one reused line (trimmed: an empty owner leaves no trailing blanks),
            // no string per cell.
            const HEAD: [&str; 6] = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
            let pids: Vec<String> = entries.iter().map(|e| e.pid.to_string()).collect();
            let cells = |e: &'_ ListEntry, pid: &'_ str| -> [usize; 6] {
                [
                    e.id.len(),
                    pid.len(),
                    e.status.len(),
                    e.bundle.len(),
                    e.created.len(),
                    e.owner.len(),
                ]
            };
            let mut widths = HEAD.map(str::len);
            for (e, pid) in entries.iter().zip(&pids) {
                for (w, c) in widths.iter_mut().zip(cells(e, pid)) {
                    *w = (*w).max(c);
                }
            }
            let [w0, w1, w2, w3, w4, _] = widths;
            let [h0, h1, h2, h3, h4, h5] = HEAD;
            writeln!(
                out,
                "{h0:<w0$}   {h1:<w1$}   {h2:<w2$}   {h3:<w3$}   {h4:<w4$}   {h5}"
            )?;
            let mut line = String::new();
            for (e, pid) in entries.iter().zip(&pids) {
                line.clear();
                write!(
                    line,
                    "{:<w0$}   {pid:<w1$}   {:<w2$}   {:<w3$}   {:<w4$}   {}",
                    e.id, e.status, e.bundle, e.created, e.owner
                )?;
                writeln!(out, "{}", line.trim_end())?;
            }
        }
        out.flush()?;
        Ok(0)
    }
}
