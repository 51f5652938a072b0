//! `berth logs [-f] [-t] [--since T] [--tail N] ID`: what an image-form container started
//! with `run -d` or `start` wrote to its stdout and stderr, as `docker logs` shows it. Its
//! monitor writes the log (`<image root>/containers/ID/output.log`, crate::monitor::log); it
//! stays with the kept container until `rm`.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, SystemTime};

use berth::context::{Context, Outcome};
use berth::people_cli::LogsArgs;
use berth_runtime::state::{status_at, Status};

use crate::monitor::log::{parse, LOG_FILE};
use crate::record::{bundle_of, Record};

pub fn run(args: LogsArgs, ctx: &Context) -> Outcome {
    let bundle = bundle_of(&ctx.image_root, &args.id).map_err(|_| {
        format!(
            "no container {}: a container run with --rm is removed with its log when it \
             exits (run it without --rm to keep it; `berth ps -a` lists the kept ones)",
            args.id
        )
    })?;
    let path = bundle.join(LOG_FILE);
    let mut log = File::open(&path).map_err(|e| match e.kind() {
        // Neither a container nor its bundle: it may have been a --rm one, gone with its log.
        ErrorKind::NotFound if !path.parent().is_some_and(|d| d.exists()) => format!(
            "no container {id}: a container run with --rm is removed with its log when it \
             exits (run it without --rm to keep it; `berth ps -a` lists the kept ones)",
            id = args.id
        ),
        ErrorKind::NotFound => format!(
            "container {} has no log ({}): only containers started with `berth run -d IMAGE` \
             or `berth start` keep their output",
            args.id,
            path.display()
        ),
        _ => format!("open {}: {e}", path.display()),
    })?;
    let since = args.since.as_deref().map(since_time).transpose()?;
    let mut printer = Printer {
        timestamps: args.timestamps,
        since,
        line_start: true,
        carry: Vec::new(),
    };
    let mut data = Vec::new();
    log.read_to_end(&mut data)
        .map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut out = berth::out::stdout();
    printer.print(&mut out, &data, args.tail)?;
    if args.follow {
        // Polled: a log reader is not on anyone's hot path. The open file outlives the
        // bundle, so what a `--rm` container wrote last is still read after it is gone.
        loop {
            let running = running(ctx, &args.id, &bundle);
            std::thread::sleep(Duration::from_millis(100));
            data.clear();
            log.read_to_end(&mut data)
                .map_err(|e| format!("read {}: {e}", path.display()))?;
            printer.print(&mut out, &data, None)?;
            if !running {
                break;
            }
        }
    }
    Ok(0)
}

/// Whether anything may still write to the log: the monitor, or the container itself.
fn running(ctx: &Context, id: &str, bundle: &std::path::Path) -> bool {
    let keeper = Record::load(bundle).is_ok_and(|r| r.keeper_alive());
    keeper
        || ctx
            .root
            .peek(id)
            .is_ok_and(|(dir, s)| status_at(&dir, &s) != Status::Stopped)
}

/// `--since`: an RFC 3339 time, or a duration before now; as the log writes times.
fn since_time(s: &str) -> Result<String, String> {
    let t = match humantime::parse_rfc3339_weak(s) {
        Ok(t) => t,
        Err(_) => {
            let d = humantime::parse_duration(s).map_err(|_| {
                format!("--since {s}: give an RFC 3339 time or a duration (10s, 5m, 2h)")
            })?;
            SystemTime::now() - d
        }
    };
    Ok(humantime::format_rfc3339_nanos(t).to_string())
}

struct Printer {
    timestamps: bool,
    since: Option<String>,
    /// The last entry printed ended its line.
    line_start: bool,
    /// An unfinished log line read so far (the monitor is writing it).
    carry: Vec<u8>,
}

impl Printer {
    /// Prints the entries in `data` (after what was carried over), the last `tail` only.
    fn print(
        &mut self,
        out: &mut impl Write,
        data: &[u8],
        tail: Option<usize>,
    ) -> Result<(), String> {
        self.carry.extend_from_slice(data);
        let end = self
            .carry
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let text: Vec<u8> = self.carry.drain(..end).collect();
        let entries: Vec<_> = text
            .split(|b| *b == b'\n')
            .filter_map(parse)
            .filter(|e| self.since.as_deref().is_none_or(|s| e.time >= s))
            .collect();
        let skip = tail.map_or(0, |n| entries.len().saturating_sub(n));
        let mut buf = Vec::new();
        for e in &entries[skip..] {
            if self.timestamps && self.line_start {
                buf.extend_from_slice(e.time.as_bytes());
                buf.push(b' ');
            }
            buf.extend_from_slice(e.text);
            if e.full {
                buf.push(b'\n');
            }
            self.line_start = e.full;
        }
        out.write_all(&buf)
            .and_then(|()| out.flush())
            .map_err(|e| format!("write: {e}"))
    }
}
