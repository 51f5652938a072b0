//! `berth-monitor`: see the library's documentation (lib.rs) for its command line and life.
//! Not for people to call: berth-people starts it.

mod ns;
mod oom;
mod setup;
mod sys;
mod watch;

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

/// The command line: the global flags passed on to `berth` and `berth-people` as given.
pub struct Args {
    global: Vec<OsString>,
    tty: bool,
    interactive: bool,
    bundle: PathBuf,
    id: OsString,
}

impl Args {
    // By hand, not clap: a few flags of an internal program are not worth clap's text.
    fn parse(mut args: impl Iterator<Item = OsString>) -> Result<Args, String> {
        let (mut global, mut tty, mut interactive) = (Vec::new(), false, false);
        let (mut bundle, mut id) = (None, None);
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or(format!("{} needs a value", arg.to_string_lossy()))
            };
            match arg.to_str().unwrap_or_default() {
                "--root" | "--image-root" => global.extend([arg.clone(), value()?]),
                "--systemd-cgroup" => global.push(arg),
                "--tty" => tty = true,
                "--interactive" => interactive = true,
                "--bundle" => bundle = Some(PathBuf::from(value()?)),
                "--" => {
                    id = args.next();
                    break;
                }
                a if a.starts_with('-') => return Err(format!("unknown flag {a}")),
                _ if id.is_none() => id = Some(arg),
                _ => return Err(format!("unexpected argument {}", arg.to_string_lossy())),
            }
        }
        if args.next().is_some() {
            return Err("more than one container ID".into());
        }
        Ok(Args {
            global,
            tty,
            interactive,
            bundle: bundle.ok_or("--bundle DIR missing")?,
            id: id.ok_or("the container ID is missing")?,
        })
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            // On stdout, the report channel the spawner reads.
            println!(
                "berth-monitor: {e} (usage: berth-monitor [--root DIR] [--image-root DIR] \
                 [--systemd-cgroup] [--tty] [--interactive] --bundle DIR [--] ID)"
            );
            return ExitCode::from(2);
        }
    };
    // The report channel is stdout as spawned; fds 0-2 become /dev/null in setup.
    let Ok(report) = rustix::io::fcntl_dupfd_cloexec(std::io::stdout().as_fd(), 3) else {
        return ExitCode::from(1);
    };
    let mut report = std::fs::File::from(report);
    match setup::setup(&args) {
        Ok(running) => {
            drop(report);
            let _ = sys::release_memory();
            running.watch(&args);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(report, "{e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn flags_are_parsed_and_the_global_ones_kept_in_order() {
        let a = parse(&[
            "--root",
            "/r",
            "--tty",
            "--image-root",
            "/i",
            "--systemd-cgroup",
            "--bundle",
            "/b",
            "c1",
        ])
        .unwrap();
        assert_eq!(
            a.global,
            ["--root", "/r", "--image-root", "/i", "--systemd-cgroup"]
        );
        assert!(a.tty && !a.interactive);
        assert_eq!(a.bundle, PathBuf::from("/b"));
        assert_eq!(a.id, "c1");
        assert!(parse(&["--bundle", "/b"]).is_err());
        assert!(parse(&["--bundle"]).is_err());
        assert!(parse(&["--bundle", "/b", "--what", "c1"]).is_err());
        assert!(parse(&["--bundle", "/b", "c1", "c2"]).is_err());
        assert_eq!(parse(&["--bundle", "/b", "--", "-c"]).unwrap().id, "-c");
    }
}
