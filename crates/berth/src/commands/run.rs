use std::path::PathBuf;

use berth_runtime::container::{self, RunOptions};

use super::create::CreateFlags;
use crate::context::{Context, Outcome};
use crate::people_cli::{ImageRunArgs, PeopleFlags};

const FORMS: &str = "\
Two forms, told apart by their arguments:
  runtime form (OCI):     berth run [--bundle DIR] [-d] [--pid-file F] [--console-socket S] ID
  image form:             berth run [IMAGE-FORM FLAGS] IMAGE [CMD [ARG]...]
                          berth run --image IMAGE [CMD [ARG]...]

The image form is chosen when any image-form flag is given (--name, --image, --rm, -i, -t, -e,
--env-file, -w, -u, -v, --hostname, -m, --cpus, --pids-limit, --read-only, --net, --ip, -p,
--pid, --ipc, --uts, --cap-add, --cap-drop, --privileged, --device, --security-opt,
--group-add, --ulimit, --sysctl, --tmpfs, --shm-size, --init) or when there are two or more positional arguments; otherwise the single
positional argument is the ID of a runtime-form container, as OCI runtimes take it. So
`berth run busybox` is the bundle form for ID busybox: say `berth run --rm busybox` or
`berth run --image busybox` to run the image's default command. The course's
`container ID IMAGE CMD...` is `berth run --name ID IMAGE CMD...`.

In the image form the config.json is generated from the image and the flags and kept in
<image root>/containers/ID/ with the container's overlay root; every runtime command (exec,
kill, ps, pause, delete...) works on the container, and `delete` unmounts its root and
detaches its networks. In the foreground the container is removed when it exits (as the
runtime form does); with -d it stays until `berth delete` (or, with --rm, until it exits), and berth prints
its ID; its output goes to output.log in its bundle (`berth logs [-f] ID`).";

/// Create and start a container; in the foreground, wait and exit with its status
#[derive(clap::Args, Debug)]
#[command(
    after_help = "runtime form: berth run [--bundle DIR] ... ID; image form: berth run [FLAGS] IMAGE [CMD]... (see --help)",
    after_long_help = FORMS
)]
pub struct Args {
    /// Return once the container has started instead of waiting for it
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Path to the bundle directory, holding config.json (runtime form; default ".")
    #[arg(long, short = 'b', value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub create: CreateFlags,
    #[command(flatten)]
    pub people: PeopleFlags,
    /// ID (runtime form), or IMAGE [CMD [ARG]...] (image form): see --help
    #[arg(trailing_var_arg = true, value_name = "ID | IMAGE [CMD]...")]
    pub args: Vec<String>,
}

impl Args {
    /// The rule in FORMS.
    pub fn image_form(&self) -> bool {
        self.people.any() || self.args.len() >= 2
    }

    /// The image form's flags, for the people face; refuses what only the runtime form takes.
    pub fn into_image_form(self) -> Result<ImageRunArgs, Box<dyn std::error::Error>> {
        if self.bundle.is_some() {
            return Err(
                "--bundle belongs to the runtime form (berth run --bundle DIR ID); \
                        the image form makes its own bundle"
                    .into(),
            );
        }
        if self.create.bundle_only() {
            return Err(
                "--no-pivot, --no-new-keyring and --preserve-fds belong to the runtime form".into(),
            );
        }
        Ok(ImageRunArgs {
            flags: self.people,
            args: self.args,
            detach: self.detach,
            pid_file: self.create.pid_file,
            console_socket: self.create.console_socket,
        })
    }

    /// The runtime form (the OCI runtime's own `run`).
    pub fn run(self, ctx: &Context) -> Outcome {
        let id = match <[String; 1]>::try_from(self.args) {
            Ok([id]) => id,
            Err(_) => {
                return Err("berth run: give a container ID (or IMAGE [CMD...]: see --help)".into())
            }
        };
        let code = container::run(
            &ctx.root,
            &RunOptions {
                create: self.create.options(
                    ctx,
                    id.clone(),
                    self.bundle.unwrap_or_else(|| PathBuf::from(".")),
                ),
                detach: self.detach,
            },
            ctx.release,
        )
        .map_err(|e| no_bundle_hint(e, &id))?;
        Ok(code.clamp(0, 255) as u8)
    }
}

/// A bundle without config.json: most often an image named in runc's form (`berth run
/// alpine`), so the error says how the image form is asked for.
fn no_bundle_hint(e: container::Error, id: &str) -> Box<dyn std::error::Error> {
    match &e {
        container::Error::Spec(berth_runtime::spec::SpecError::Read { path, source })
            if source.kind() == std::io::ErrorKind::NotFound && path.ends_with("config.json") =>
        {
            let dir = path.parent().unwrap_or(path).display();
            format!(
                "no config.json in {dir}: `berth run {id}` is runc's form, which runs the OCI \
                 bundle there; for an image use the image form: `berth run --rm {id}` or \
                 `berth run --image {id} ID`"
            )
            .into()
        }
        _ => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: super::Args,
    }

    fn parse(args: &[&str]) -> super::Args {
        T::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn runc_flags_and_one_id_are_the_runtime_form() {
        let a = parse(&[
            "--bundle",
            "/b",
            "-d",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "ctr",
        ]);
        assert!(!a.image_form());
        assert_eq!(a.args, ["ctr"]);
        assert_eq!(a.bundle.as_deref(), Some(std::path::Path::new("/b")));
        assert!(!parse(&["ctr"]).image_form());
    }

    #[test]
    fn two_positionals_or_an_image_flag_are_the_image_form() {
        let a = parse(&["busybox", "ls", "-l", "--rm"]);
        assert!(a.image_form());
        // Everything after the image is the command, flags included.
        assert_eq!(a.args, ["busybox", "ls", "-l", "--rm"]);
        assert!(!a.people.rm);
        let a = parse(&["--rm", "busybox"]);
        assert!(a.image_form() && a.people.rm);
        let a = parse(&[
            "--name", "c1", "-e", "A=1", "-p", "8080:80", "busybox", "sh",
        ]);
        assert!(a.image_form());
        assert_eq!(a.people.name.as_deref(), Some("c1"));
        let a = parse(&["--image", "busybox"]);
        assert!(a.image_form() && a.args.is_empty());
    }
}
