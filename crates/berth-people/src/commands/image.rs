//! `berth image ls|inspect|rm|prune|import|pull|df` (push, tag, save, load: transfer.rs): the
//! image store under --image-root.

use berth_image::{ProgressMode, PullOptions, Store};

use berth::context::{Context, Outcome};
use berth::people_cli::{ImageArgs, ImageCommand};

pub fn run(args: ImageArgs, ctx: &Context) -> Outcome {
    let store = Store::open(&ctx.image_root)?;
    match args.command {
        ImageCommand::Ls { quiet, format } => {
            let images = store.list()?;
            if format == "json" {
                berth::outln!("{}", serde_json::to_string_pretty(&images)?);
            } else if quiet {
                for i in images {
                    berth::outln!("{}", i.name);
                }
            } else {
                berth::outln!(
                    "{:<40} {:<14} {:>10} {:>6}  CREATED",
                    "NAME",
                    "ID",
                    "SIZE",
                    "LAYERS"
                );
                for i in images {
                    berth::outln!(
                        "{:<40} {:<14} {:>10} {:>6}  {}",
                        i.name,
                        short_id(&i.id),
                        human(i.size),
                        i.layers,
                        i.created.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        ImageCommand::Inspect { reference } => {
            let d = store.inspect(&reference)?;
            berth::outln!("{}", serde_json::to_string_pretty(&d)?);
        }
        ImageCommand::Rm { force, references } => {
            for r in references {
                let (names, report) = store.remove(&r, force)?;
                for n in names {
                    berth::outln!("untagged {n}");
                }
                if report.bytes_freed > 0 {
                    berth::outln!("freed {}", human(report.bytes_freed));
                }
            }
        }
        ImageCommand::Prune => {
            let r = store.prune()?;
            berth::outln!(
                "removed {} layers, {} blobs, {} stale imports; freed {}",
                r.layers_removed,
                r.blobs_removed,
                r.staging_removed,
                human(r.bytes_freed)
            );
        }
        ImageCommand::Import { change, path, name } => {
            // --change sets the config a flat tar or directory gets (PATH only without it).
            let config = if change.is_empty() {
                None
            } else {
                let mut c = berth_image::import::default_config();
                berth_image::commit::apply_changes(&mut c, &change)?;
                Some(c)
            };
            let d = store.import(&path, &name, config)?;
            berth::outln!("{} {}", d.record.name, d.record.config_digest);
        }
        ImageCommand::Pull {
            insecure,
            authfile,
            platform,
            quiet,
            reference,
        } => {
            let platform = platform
                .map(|p| {
                    berth_image::Platform::parse(&p)
                        .ok_or_else(|| format!("--platform {p}: expected OS/ARCH[/VARIANT]"))
                })
                .transpose()?;
            let opts = PullOptions {
                insecure,
                auth_file: authfile,
                platform,
                progress: if quiet {
                    ProgressMode::Quiet
                } else {
                    ProgressMode::Auto
                },
                ..Default::default()
            };
            let d = store.pull(&reference, &opts)?;
            // Two digests name one image: the manifest's (what NAME@DIGEST pulls) and the
            // config's (the image ID `image ls` shows); each labelled, as Docker does.
            if !quiet {
                berth::outln!("Digest: {}", d.record.manifest_digest);
                berth::outln!("Image ID: {}", d.record.config_digest);
            }
            berth::outln!("{}", d.record.name);
        }
        ImageCommand::Push {
            insecure,
            authfile,
            quiet,
            local,
            remote,
        } => {
            let opts = super::transfer::registry_options(insecure, authfile, quiet);
            return super::transfer::push(&store, &local, remote.as_deref(), &opts);
        }
        ImageCommand::Tag { source, target } => {
            return super::transfer::tag(&store, &source, &target)
        }
        ImageCommand::Save {
            output,
            format,
            references,
        } => return super::transfer::save(&store, output.as_deref(), &format, &references),
        ImageCommand::Load { input } => return super::transfer::load(&store, input.as_deref()),
        ImageCommand::Df => {
            let du = store.disk_usage()?;
            berth::outln!("{:<12} {:>8} {:>12}", "TYPE", "COUNT", "SIZE");
            berth::outln!("{:<12} {:>8} {:>12}", "images", du.images, "-");
            berth::outln!(
                "{:<12} {:>8} {:>12}",
                "layers",
                du.layers,
                human(du.layers_bytes)
            );
            berth::outln!("{:<12} {:>8} {:>12}", "blobs", "-", human(du.blobs_bytes));
            berth::outln!(
                "{:<12} {:>8} {:>12}",
                "containers",
                du.containers,
                human(du.containers_bytes)
            );
            berth::outln!("reclaimable by prune: {}", human(du.reclaimable_bytes));
        }
    }
    Ok(0)
}
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Sizes as people read them (1000-based, as Docker prints them).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}
