use std::path::PathBuf;

use berth_runtime::container::{self, RunOptions};

use super::create::CreateFlags;
use crate::context::{Context, Outcome};
use crate::face::PeopleFace;
use crate::people_cli::{ImageRunArgs, PeopleCommand, PeopleFlags};

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

// `run`'s runc flags, which both forms take.
#[derive(clap::Args, Debug)]
pub struct RunFlags {
    /// Return once the container has started instead of waiting for it
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Path to the bundle directory, holding config.json (runtime form; default ".")
    #[arg(long, short = 'b', value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub create: CreateFlags,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "runtime form: berth run [--bundle DIR] ... ID; image form: berth run [FLAGS] IMAGE [CMD]... (see --help)",
    after_long_help = FORMS
)]
pub struct Args {
    #[command(flatten)]
    pub runtime: RunFlags,
    #[command(flatten)]
    pub people: PeopleFlags,
    /// ID (runtime form), or IMAGE [CMD [ARG]...] (image form): see --help
    #[arg(trailing_var_arg = true, value_name = "ID | IMAGE [CMD]...")]
    pub args: Vec<String>,
}

// `run` as `berth` parses it: runc's flags and one ID are the runtime form, which it runs;
// anything else (an image-form flag, more arguments, --help) is berth-people's, which parses
// the whole command line again with `Args`. No help flag: `--help` is handed over too.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RuntimeArgs {
    #[command(flatten)]
    pub runtime: RunFlags,
    /// The ID; from the first flag berth does not know, everything else as given
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// runc's `run` flags (`RunFlags`) that take a value, and those that take none; the unit test
/// holds both lists to the definitions.
const VALUE_FLAGS: &[&str] = &[
    "--bundle",
    "-b",
    "--pid-file",
    "--console-socket",
    "--preserve-fds",
];
const BARE_FLAGS: &[&str] = &["--detach", "-d", "--no-pivot", "--no-new-keyring"];

/// Whether `run`'s arguments (those after `run`) surely choose the image form: a flag runc's
/// `run` does not take, or a second word, found without building clap's tree. main() then
/// leaves the exe guard to the parse's outcome (the image form is berth-people's, which starts
/// guarded); otherwise it guards before the parse as for `create`. A wrong answer costs time,
/// never the guard: the runtime form guards itself after the parse too ([`RunFlags::run`]).
pub fn surely_image_form(args: &[std::ffi::OsString]) -> bool {
    let mut words = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(a) = a.to_str() else { return false };
        if a == "--" {
            return words + it.len() >= 2;
        }
        if VALUE_FLAGS.contains(&a) {
            it.next();
        } else if BARE_FLAGS.contains(&a)
            || VALUE_FLAGS
                .iter()
                .any(|f| f.starts_with("--") && a.starts_with(f) && a[f.len()..].starts_with('='))
        {
        } else if a.starts_with('-') {
            return true;
        } else {
            words += 1;
            if words >= 2 {
                return true;
            }
        }
    }
    false
}

impl RuntimeArgs {
    /// The runtime form's ID, when that is what the arguments are: exactly what [`Args`]
    /// parses as the runtime form, since everything else lands in `args`.
    pub fn runtime_form(&self) -> Option<&str> {
        match self.args.as_slice() {
            [id] if !id.starts_with('-') => Some(id),
            _ => None,
        }
    }
}

/// `run`'s arguments as one executable's tree parses them (crate::tree).
pub trait RunForm: clap::Args + std::fmt::Debug {
    fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome;
}

impl RunForm for RuntimeArgs {
    fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome {
        match self.runtime_form() {
            Some(id) => {
                let id = id.to_string();
                self.runtime.run(ctx, id)
            }
            None => Err(crate::face::hand_over().into()),
        }
    }
}

impl RunForm for Args {
    fn run<F: PeopleFace>(self, ctx: &Context) -> Outcome {
        if self.image_form() {
            return F::run(PeopleCommand::Run(Box::new(self.into_image_form()?)), ctx);
        }
        match <[String; 1]>::try_from(self.args) {
            Ok([id]) => self.runtime.run(ctx, id),
            Err(_) => Err("berth run: give a container ID (or IMAGE [CMD...]: see --help)".into()),
        }
    }
}

impl Args {
    /// The rule in FORMS.
    pub fn image_form(&self) -> bool {
        self.people.any() || self.args.len() >= 2
    }

    /// The image form's flags, for the people face; refuses what only the runtime form takes.
    pub fn into_image_form(self) -> Result<ImageRunArgs, Box<dyn std::error::Error>> {
        if self.runtime.bundle.is_some() {
            return Err(
                "--bundle belongs to the runtime form (berth run --bundle DIR ID); \
                        the image form makes its own bundle"
                    .into(),
            );
        }
        if self.runtime.create.bundle_only() {
            return Err(
                "--no-pivot, --no-new-keyring and --preserve-fds belong to the runtime form".into(),
            );
        }
        Ok(ImageRunArgs {
            flags: self.people,
            args: self.args,
            detach: self.runtime.detach,
            pid_file: self.runtime.create.pid_file,
            console_socket: self.runtime.create.console_socket,
        })
    }
}

impl RunFlags {
    /// The runtime form of container `id`.
    pub fn run(self, ctx: &Context, id: String) -> Outcome {
        // The runtime form clones the container's init from this process: from a read-only
        // mount of berth only (CVE-2019-5736; re-executes unless the binary is already so).
        berth_runtime::exe_guard::ensure_readonly_exe()?;
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
        assert_eq!(
            a.runtime.bundle.as_deref(),
            Some(std::path::Path::new("/b"))
        );
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

    /// The flag lists of `surely_image_form` are `RunFlags`' flags, each on the right list;
    /// and the common image forms are recognized.
    #[test]
    fn the_guess_without_clap_knows_runcs_run_flags() {
        use clap::CommandFactory;
        let cmd = Lean::command();
        let mut named = 0;
        for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
            let list = if arg.get_action().takes_values() {
                super::VALUE_FLAGS
            } else {
                super::BARE_FLAGS
            };
            let long = arg.get_long().map(|l| format!("--{l}"));
            let short = arg.get_short().map(|s| format!("-{s}"));
            for name in long.iter().chain(short.iter()) {
                assert!(list.contains(&name.as_str()), "{name}");
                named += 1;
            }
        }
        assert_eq!(named, super::VALUE_FLAGS.len() + super::BARE_FLAGS.len());
        let guess = |args: &[&str]| {
            let os: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            super::surely_image_form(&os)
        };
        assert!(guess(&["--rm", "--net", "none", "busybox", "true"]));
        assert!(guess(&["busybox", "true"]));
        assert!(!guess(&["--bundle", "/b", "-d", "ctr"]));
        assert!(!guess(&["--pid-file=/p", "ctr"]));
    }

    #[derive(Parser)]
    struct Lean {
        #[command(flatten)]
        a: super::RuntimeArgs,
    }

    /// `berth` runs the runtime form itself only where berth-people's full parse would:
    /// everything else is handed over (a parse error of the lean form is handed over too).
    #[test]
    fn the_lean_parse_runs_exactly_the_runtime_form() {
        let cases: &[&[&str]] = &[
            &["ctr"],
            &["-d", "--bundle", "/b", "--pid-file", "/p", "ctr"],
            &[
                "--console-socket",
                "/s",
                "--preserve-fds",
                "2",
                "--no-pivot",
                "ctr",
            ],
            &["--", "ctr"],
            &["busybox", "sh"],
            &["--rm", "busybox"],
            &["-d", "--rm", "busybox"],
            &["--name", "c1", "busybox"],
            &["--name=c1", "busybox"],
            &["-e", "A=1", "busybox"],
            &["-it", "busybox"],
            &["-dit", "busybox"],
            &["-t", "ctr"],
            &["--image", "busybox"],
            &["ctr", "-d"],
            &["--help"],
            &["-h"],
            &[],
        ];
        for args in cases {
            let argv = || std::iter::once("run").chain(args.iter().copied());
            let full = T::try_parse_from(argv()).map(|t| t.a);
            let lean = Lean::try_parse_from(argv()).map(|t| t.a);
            // main()'s guess without clap never takes the runtime form for the image form.
            let os: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            if super::surely_image_form(&os) {
                assert!(
                    lean.as_ref().ok().and_then(|a| a.runtime_form()).is_none(),
                    "{args:?}"
                );
            }
            let full_runtime = full
                .as_ref()
                .is_ok_and(|a| !a.image_form() && a.args.len() == 1);
            let lean_runtime = lean.as_ref().ok().and_then(|a| a.runtime_form());
            assert_eq!(full_runtime, lean_runtime.is_some(), "{args:?}");
            if let (Ok(full), Some(id)) = (&full, lean_runtime) {
                assert_eq!(full.args, [id], "{args:?}");
            }
        }
    }
}
