//! `berth ps [-a] [-q]` / `container ls`: Docker's listing, of kept image-form containers and
//! of the runtime's own (image "-").

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use berth::container_cli::LsArgs;
use berth::context::{Context, Outcome};
use berth_runtime::state::{status_at, Status};

use crate::record::{self, Phase, Record};

struct Row {
    image: String,
    command: String,
    created: String,
    status: String,
    up: bool,
    ports: String,
}

pub fn run(a: &LsArgs, ctx: &Context) -> Outcome {
    let now = SystemTime::now();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let (records, bare) = record::all(&ctx.image_root);
    for rec in records {
        let (status, up) = status_of(&rec, ctx, now);
        rows.insert(
            rec.id.clone(),
            Row {
                image: rec.image,
                command: rec.command.join(" "),
                created: ago(&rec.created, now),
                status,
                up,
                ports: rec.ports.join(", "),
            },
        );
    }
    for id in ctx.root.ids() {
        if rows.contains_key(&id) {
            continue;
        }
        let Ok((dir, state)) = ctx.root.peek(&id) else {
            continue;
        };
        let st = status_at(&dir, &state);
        let command = state
            .config
            .process()
            .as_ref()
            .and_then(|p| p.args().clone())
            .unwrap_or_default()
            .join(" ");
        let status = match st {
            Status::Running => format!("Up {}", since(&state.created, now)),
            Status::Paused => format!("Up {} (Paused)", since(&state.created, now)),
            other => capitalized(other.as_str()),
        };
        rows.insert(
            id,
            Row {
                image: "-".into(),
                command,
                created: ago(&state.created, now),
                status,
                up: matches!(st, Status::Running | Status::Paused),
                ports: String::new(),
            },
        );
    }
    // A root without a record or a runtime container is a killed run's, if its maker is gone
    // too: the listing is where such a root, under a name nobody typed, is noticed.
    for id in bare.iter().filter(|id| !rows.contains_key(*id)) {
        if let Err(e) = crate::release::reclaim_abandoned(ctx, id) {
            eprintln!("berth: warning: give back the root a killed command left for {id}: {e}");
        }
    }
    // So is what a killed command left in the trash (a released root, maybe still mounted: a
    // run killed before it forked the root's remover), as at every store command's start. A
    // store that was never made is not made here.
    if ctx.image_root.join("trash").is_dir() {
        if let Err(e) = berth_image::Store::existing(&ctx.image_root).clean_stale_staging_if_idle()
        {
            eprintln!("berth: warning: sweep what killed commands left in the image store: {e}");
        }
    }
    let shown: Vec<(&String, &Row)> = rows.iter().filter(|(_, r)| a.all || r.up).collect();
    let mut out = String::new();
    if a.quiet {
        for (id, _) in &shown {
            out.push_str(id);
            out.push('\n');
        }
        berth::out!("{out}");
        return Ok(0);
    }
    let head = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
    ];
    let lines: Vec<[String; 6]> = shown
        .iter()
        .map(|(id, r)| {
            [
                id.to_string(),
                r.image.clone(),
                format!("\"{}\"", cut(&r.command, 20)),
                r.created.clone(),
                r.status.clone(),
                r.ports.clone(),
            ]
        })
        .collect();
    // Each column as wide as its widest cell, three spaces apart, as Docker's table.
    let mut width = head.map(|h| h.chars().count());
    for l in &lines {
        for (w, cell) in width.iter_mut().zip(l) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut push = |cells: &[&str]| {
        let mut line = String::new();
        for (k, (cell, w)) in cells.iter().zip(width).enumerate() {
            line.push_str(cell);
            if k + 1 < cells.len() {
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push(&head);
    for l in &lines {
        push(&l.each_ref().map(String::as_str));
    }
    berth::out!("{out}");
    Ok(0)
}

/// A kept container's STATUS column, and whether it is up.
fn status_of(rec: &Record, ctx: &Context, now: SystemTime) -> (String, bool) {
    let runtime = ctx
        .root
        .peek(&rec.id)
        .ok()
        .map(|(dir, state)| status_at(&dir, &state));
    let started = rec.started_at.as_deref().unwrap_or(&rec.created);
    match (rec.status, runtime) {
        (_, Some(Status::Running)) => (format!("Up {}", since(started, now)), true),
        (_, Some(Status::Paused)) => (format!("Up {} (Paused)", since(started, now)), true),
        (Phase::Exited, _) => {
            let code = rec
                .exit_code
                .map_or_else(|| "unknown".to_string(), |c| c.to_string());
            let oom = if rec.oom_killed { " (OOM killed)" } else { "" };
            let when = rec.finished_at.as_deref().unwrap_or(started);
            (format!("Exited ({code}){oom} {}", ago(when, now)), false)
        }
        (Phase::Created, _) => ("Created".into(), false),
        // Running by the record, but neither the runtime nor a keeper says so: the monitor was
        // killed before the program ended (`start`, `rm` and `wait` settle it).
        (Phase::Running, _) if !rec.keeper_alive() => ("Exited (unknown)".into(), false),
        // A foreground run writes its record before the runtime makes the container: until
        // the program runs, it is not up (a `kill` would find no container).
        (Phase::Running, None | Some(Status::Creating | Status::Created)) => {
            ("Created".into(), false)
        }
        (Phase::Running, _) => (format!("Up {}", since(started, now)), true),
    }
}

fn elapsed(rfc3339: &str, now: SystemTime) -> Duration {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or_default()
}

/// "3 minutes", as Docker words a duration.
fn since(rfc3339: &str, now: SystemTime) -> String {
    human(elapsed(rfc3339, now))
}

fn ago(rfc3339: &str, now: SystemTime) -> String {
    format!("{} ago", since(rfc3339, now))
}

pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match s {
        0 => "Less than a second".into(),
        1..=59 => plural(s, "second"),
        60..=119 => "About a minute".into(),
        120..=3599 => plural(s / 60, "minute"),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => plural(s / 3600, "hour"),
        172_800..=1_209_599 => plural(s / 86400, "day"),
        _ => plural(s / 604_800, "week"),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    s.chars().take(n - 1).collect::<String>() + "…"
}

#[cfg(test)]
mod tests {
    use super::human;
    use std::time::Duration;

    #[test]
    fn durations_read_as_dockers() {
        let h = |s| human(Duration::from_secs(s));
        assert_eq!(h(0), "Less than a second");
        assert_eq!(h(1), "1 second");
        assert_eq!(h(2), "2 seconds");
        assert_eq!(h(90), "About a minute");
        assert_eq!(h(180), "3 minutes");
        assert_eq!(h(7200), "2 hours");
        assert_eq!(h(3 * 86400), "3 days");
    }
}
