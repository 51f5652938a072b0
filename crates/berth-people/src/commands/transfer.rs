//! `image push|tag|save|load`: images leaving the store for a registry or an archive, and
//! coming back from an archive.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};

use berth::context::Outcome;
use berth_common::io::Step;
use berth_image::{ProgressMode, PullOptions, SaveFormat, Store};

pub fn push(store: &Store, local: &str, remote: Option<&str>, opts: &PullOptions) -> Outcome {
    let digest = store.push(local, remote, opts)?;
    berth::outln!("{digest}");
    Ok(0)
}

pub fn tag(store: &Store, source: &str, target: &str) -> Outcome {
    let r = store.tag(source, target)?;
    berth::outln!("{} {}", r.name, r.config_digest);
    Ok(0)
}

pub fn save(store: &Store, output: Option<&Path>, format: &str, refs: &[String]) -> Outcome {
    let format = match format {
        "oci-archive" => SaveFormat::OciArchive,
        _ => SaveFormat::DockerArchive,
    };
    match output {
        // A device or FIFO (-o /dev/stdout) is written as it is.
        Some(p) if p.exists() && !p.is_file() => {
            let f = File::options().write(true).open(p).step("open", p)?;
            store.save(refs, format, BufWriter::new(f))?;
        }
        Some(p) => {
            // Written beside the target and renamed: a failed save leaves no half archive.
            let tmp = p.with_extension("berth-partial");
            let f = File::create(&tmp).step("create", &tmp)?;
            let res = store.save(refs, format, BufWriter::new(f));
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res?;
            std::fs::rename(&tmp, p).step("rename", &tmp)?;
        }
        None => {
            if io::stdout().is_terminal() {
                return Err(
                    "refusing to write an archive to a terminal: use -o FILE or a pipe".into(),
                );
            }
            store.save(refs, format, BufWriter::new(berth::out::stdout()))?;
        }
    }
    Ok(0)
}

pub fn load(store: &Store, input: Option<&Path>) -> Outcome {
    let names = match input {
        Some(p) => store.load(p)?,
        None => {
            // The archive's kind is told by reading it, then it is read again: stdin is
            // spooled to a file first.
            let spool =
                Spool(std::env::temp_dir().join(format!("berth-load-{}.tar", std::process::id())));
            // create_new: never through a file or symlink someone left at that name.
            let mut f = File::options()
                .write(true)
                .create_new(true)
                .open(&spool.0)
                .step("create", &spool.0)?;
            io::copy(&mut io::stdin().lock(), &mut f).step("read stdin into", &spool.0)?;
            drop(f);
            store.load(&spool.0)?
        }
    };
    for n in names {
        berth::outln!("loaded {n}");
    }
    Ok(0)
}

/// A file under the system's temp dir, removed when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Registry options for push, as pull has them.
pub fn registry_options(insecure: bool, authfile: Option<PathBuf>, quiet: bool) -> PullOptions {
    PullOptions {
        insecure,
        auth_file: authfile,
        progress: if quiet {
            ProgressMode::Quiet
        } else {
            ProgressMode::Auto
        },
        ..Default::default()
    }
}
