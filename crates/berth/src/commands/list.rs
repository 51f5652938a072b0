use std::io::Write;

use crate::context::{Context, Outcome};

/// List containers under the state root
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
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
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
            let rows: Vec<[String; 6]> = std::iter::once(
                ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from),
            )
            .chain(entries.into_iter().map(|e| {
                [
                    e.id,
                    e.pid.to_string(),
                    e.status,
                    e.bundle,
                    e.created,
                    e.owner,
                ]
            }))
            .collect();
            let widths: Vec<usize> = (0..6)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for r in rows {
                let line: Vec<String> = r
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                writeln!(out, "{}", line.join("   ").trim_end())?;
            }
        }
        out.flush()?;
        Ok(0)
    }
}
