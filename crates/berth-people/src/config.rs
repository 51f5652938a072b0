//! The config.json of an image-form container: `berth spec`'s default config, with the
//! image's command, environment, working directory and user, and the `run` flags on top.

use berth_common::io::Step;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Hook, LinuxCpu, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources,
    Mount, Root, Spec, User,
};

use berth::face::ANN_IMAGE_ROOT;
use berth::people_cli::PeopleFlags;

use crate::error::PeopleError;
use crate::net::{NetMode, NetPlan, ANN_NET};

/// The image a container was made from (informational).
pub const ANN_IMAGE: &str = "dev.berth.image";
/// Where `--init` binds berth-init in the container.
const INIT_PATH: &str = "/dev/init";

/// berth-init, installed beside berth-people (`people` is berth-people's own path on the host).
fn init_exe(people: &Path) -> Result<PathBuf, PeopleError> {
    let exe = people.with_file_name("berth-init");
    if !exe.is_file() {
        return Err(PeopleError::Usage(format!(
            "--init needs berth-init, installed beside berth-people: {} is missing",
            exe.display()
        )));
    }
    Ok(exe)
}

/// Everything the config is made from.
pub struct SpecInput<'a> {
    pub image: &'a str,
    pub image_config: &'a ImageConfiguration,
    pub image_root: &'a Path,
    /// The container's bundle directory (holds hosts and resolv.conf).
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub cmd: &'a [String],
    pub flags: &'a PeopleFlags,
    pub hostname: &'a str,
    pub net: &'a NetMode,
    /// The namespace file for `--net container:ID|ns:PATH`.
    pub netns_path: Option<PathBuf>,
    pub plan: Option<&'a NetPlan>,
    /// `berth` itself, for the network hook.
    pub exe: &'a Path,
}

pub fn build(input: &SpecInput<'_>) -> Result<Spec, PeopleError> {
    let f = input.flags;
    let mut spec = berth_runtime::spec::default_spec(false);
    let img = input.image_config.config().clone().unwrap_or_default();

    spec.set_root(Some(
        Root::default()
            .set_path(input.rootfs.to_path_buf())
            .set_readonly(Some(f.read_only))
            .clone(),
    ));
    spec.set_hostname(Some(input.hostname.to_string()));

    let mut process = spec.process().clone().unwrap_or_default();
    let mut args: Vec<String> = img.entrypoint().clone().unwrap_or_default();
    if input.cmd.is_empty() {
        args.extend(img.cmd().clone().unwrap_or_default());
    } else {
        args.extend(input.cmd.iter().cloned());
    }
    if args.is_empty() {
        return Err(PeopleError::Usage(format!(
            "image {} has no command: give one after the image name",
            input.image
        )));
    }
    if f.init {
        let mut wrapped: Vec<String> = [INIT_PATH, "--"].map(String::from).into();
        wrapped.extend(args);
        args = wrapped;
    }
    process.set_args(Some(args));
    process.set_terminal(Some(f.tty));
    process.set_env(Some(environment(
        img.env().as_deref().unwrap_or_default(),
        f,
    )?));
    let cwd = f
        .workdir
        .clone()
        .or_else(|| img.working_dir().clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(PeopleError::Usage(format!(
            "-w {cwd}: must be an absolute path"
        )));
    }
    process.set_cwd(PathBuf::from(cwd));
    let user = f
        .user
        .clone()
        .or_else(|| img.user().clone().filter(|u| !u.is_empty()));
    if let Some(u) = user {
        process.set_user(resolve_user(input.rootfs, &u)?);
    }
    let caps = crate::security::capabilities(f)?;
    if let Some(mut c) = process.capabilities().clone() {
        c.set_bounding(Some(caps.clone()))
            .set_effective(Some(caps.clone()))
            .set_permitted(Some(caps))
            // As Docker: nothing inheritable or ambient, so an exec'd program gains nothing.
            .set_inheritable(None)
            .set_ambient(None);
        process.set_capabilities(Some(c));
    }
    spec.set_process(Some(process));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let bind = |src: &Path, dst: &str, ro: bool| {
        let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
        if ro {
            opts.push("ro".into());
        }
        Mount::default()
            .set_destination(PathBuf::from(dst))
            .set_typ(Some("bind".into()))
            .set_source(Some(src.to_path_buf()))
            .set_options(Some(opts))
            .clone()
    };
    match input.net {
        NetMode::Host => {
            for p in ["/etc/hosts", "/etc/resolv.conf"] {
                if Path::new(p).exists() {
                    mounts.push(bind(Path::new(p), p, true));
                }
            }
        }
        _ => {
            mounts.push(bind(&input.bundle.join("hosts"), "/etc/hosts", false));
            mounts.push(bind(
                &input.bundle.join("resolv.conf"),
                "/etc/resolv.conf",
                false,
            ));
        }
    }
    if f.init {
        // berth's own small init, read-only (CVE-2019-5736): it is the host's binary.
        mounts.push(bind(&init_exe(input.exe)?, INIT_PATH, true));
    }
    for v in &f.volume {
        let (src, dst, ro) = parse_volume(v)?;
        mounts.push(bind(&src, &dst, ro));
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces: Vec<LinuxNamespace> = linux.namespaces().clone().unwrap_or_default();
    let host = |flag: &Option<String>, name: &str| -> Result<bool, PeopleError> {
        match flag.as_deref() {
            None => Ok(false),
            Some("host") => Ok(true),
            Some(other) => Err(PeopleError::Usage(format!(
                "--{name} {other}: only \"host\" is supported"
            ))),
        }
    };
    let drop_ns = |ns: &mut Vec<LinuxNamespace>, t: LinuxNamespaceType| ns.retain(|n| n.typ() != t);
    if host(&f.pid, "pid")? {
        drop_ns(&mut namespaces, LinuxNamespaceType::Pid);
    }
    if host(&f.ipc, "ipc")? {
        drop_ns(&mut namespaces, LinuxNamespaceType::Ipc);
    }
    if host(&f.uts, "uts")? {
        drop_ns(&mut namespaces, LinuxNamespaceType::Uts);
        spec.set_hostname(None);
    }
    match (input.net, &input.netns_path) {
        (NetMode::Host, _) => drop_ns(&mut namespaces, LinuxNamespaceType::Network),
        (_, Some(path)) => {
            for n in namespaces.iter_mut() {
                if n.typ() == LinuxNamespaceType::Network {
                    n.set_path(Some(path.clone()));
                }
            }
        }
        _ => {}
    }
    linux.set_namespaces(Some(namespaces));
    if let Some(r) = resources(f)? {
        linux.set_resources(Some(r));
    }
    spec.set_linux(Some(linux));

    let mut ann: HashMap<String, String> = spec.annotations().clone().unwrap_or_default();
    ann.insert(
        ANN_IMAGE_ROOT.into(),
        input.image_root.display().to_string(),
    );
    ann.insert(ANN_IMAGE.into(), input.image.into());
    if let Some(plan) = input.plan {
        ann.insert(
            ANN_NET.into(),
            serde_json::to_string(plan).map_err(|e| PeopleError::Usage(e.to_string()))?,
        );
        let hook = Hook::default()
            .set_path(input.exe.to_path_buf())
            .set_args(Some(vec![
                "berth".into(),
                "--image-root".into(),
                input.image_root.display().to_string(),
                "hook".into(),
                "net-setup".into(),
            ]))
            // nft is looked up on PATH; hooks start with an empty environment.
            .set_env(Some(vec![format!("PATH={}", berth_common::DEFAULT_PATH)]))
            .set_timeout(Some(30))
            .clone();
        let mut hooks = spec.hooks().clone().unwrap_or_default();
        hooks.set_create_runtime(Some(vec![hook]));
        spec.set_hooks(Some(hooks));
    }
    spec.set_annotations(Some(ann));
    crate::security::apply(&mut spec, f)?;
    Ok(spec)
}

/// The image's environment, then `--env-file` lines, then `-e` (later wins, as Docker).
fn environment(image_env: &[String], f: &PeopleFlags) -> Result<Vec<String>, PeopleError> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    set(format!("PATH={}", berth_common::DEFAULT_PATH));
    for e in image_env {
        set(e.clone());
    }
    let mut given: Vec<String> = Vec::new();
    for file in &f.env_file {
        let text = std::fs::read_to_string(file).step("read env file", file)?;
        given.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    given.extend(f.env.iter().cloned());
    for e in given {
        if e.starts_with('=') || e.is_empty() {
            return Err(PeopleError::Usage(format!("-e {e:?}: no variable name")));
        }
        if e.contains('=') {
            set(e);
        } else if let Ok(v) = std::env::var(&e) {
            // `-e NAME` passes the caller's value, as Docker.
            set(format!("{e}={v}"));
        }
    }
    if f.tty {
        set("TERM=xterm".into());
    }
    Ok(env)
}

/// `-v HOST:CTR[:ro|rw]`; the host path must exist (no implicit creation).
pub fn parse_volume(v: &str) -> Result<(PathBuf, String, bool), PeopleError> {
    let bad = |why: &str| PeopleError::Usage(format!("-v {v}: {why}"));
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, ro) = match parts.as_slice() {
        [s, d] => (*s, *d, false),
        [s, d, "ro"] => (*s, *d, true),
        [s, d, "rw"] => (*s, *d, false),
        _ => return Err(bad("expected HOST:CONTAINER[:ro|rw]")),
    };
    if !dst.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    let src = std::fs::canonicalize(src).step("bind source", Path::new(src))?;
    Ok((src, dst.to_string(), ro))
}

/// `--memory`, `--cpus`, `--pids-limit`.
fn resources(f: &PeopleFlags) -> Result<Option<LinuxResources>, PeopleError> {
    if f.memory.is_none() && f.cpus.is_none() && f.pids_limit.is_none() {
        return Ok(None);
    }
    let mut r = LinuxResources::default();
    if let Some(m) = &f.memory {
        let bytes = parse_size(m)?;
        r.set_memory(Some(*LinuxMemory::default().set_limit(Some(bytes))));
    }
    if let Some(c) = f.cpus {
        if !(c > 0.0 && c.is_finite()) {
            return Err(PeopleError::Usage(format!("--cpus {c}: must be positive")));
        }
        let period: u64 = 100_000;
        r.set_cpu(Some(
            LinuxCpu::default()
                .set_period(Some(period))
                .set_quota(Some((c * period as f64).round() as i64))
                .clone(),
        ));
    }
    if let Some(p) = f.pids_limit {
        r.set_pids(Some(*LinuxPids::default().set_limit(p)));
    }
    Ok(Some(r))
}

/// `--memory`: a positive size in `berth_common::size`'s grammar (`512k`, `64m`, `1g`, bytes).
pub fn parse_size(s: &str) -> Result<i64, PeopleError> {
    match berth_common::size::parse_bytes(s) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(PeopleError::Usage(format!(
            "--memory {s}: expected a size such as 64m or 1g"
        ))),
    }
}

/// `-u` / the image's User: `uid[:gid]`, or names looked up in the image's /etc/passwd and
/// /etc/group.
fn resolve_user(rootfs: &Path, spec: &str) -> Result<User, PeopleError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_image_file(rootfs, "etc/passwd")?;
    let lookup = |name: &str| -> Option<(u32, u32)> {
        passwd.lines().find_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            (fields.first() == Some(&name) && fields.len() >= 4)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
    };
    let (uid, mut gid) = match u.parse::<u32>() {
        Ok(uid) => (
            uid,
            passwd
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.get(2).and_then(|x| x.parse::<u32>().ok()) == Some(uid))
                        .then(|| f.get(3).and_then(|x| x.parse().ok()))
                        .flatten()
                })
                .unwrap_or(0),
        ),
        Err(_) => lookup(u).ok_or_else(|| {
            PeopleError::Usage(format!("user {u:?} is not in the image's /etc/passwd"))
        })?,
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => read_image_file(rootfs, "etc/group")?
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.first() == Some(&g))
                        .then(|| f.get(2).and_then(|x| x.parse().ok()))
                        .flatten()
                })
                .ok_or_else(|| {
                    PeopleError::Usage(format!("group {g:?} is not in the image's /etc/group"))
                })?,
        };
    }
    Ok(User::default().set_uid(uid).set_gid(gid).clone())
}

/// The most of an image's /etc/passwd or /etc/group that is read.
const IMAGE_FILE_MAX: u64 = 4 << 20;

/// A file of the image as the container would see it: resolved inside the root, so an
/// image's symlink (`/etc/passwd` → the host's `/etc/shadow`) cannot lead to a host file; a
/// regular file only (not `/dev/zero` or a fifo), read up to [`IMAGE_FILE_MAX`]. A missing
/// file reads as empty.
fn read_image_file(rootfs: &Path, path: &str) -> Result<String, PeopleError> {
    use rustix::fs::OFlags;
    use std::io::Read;
    use std::os::fd::AsFd;
    let shown = format!("/{path} of the image");
    let fail = |e: String| PeopleError::Usage(format!("read {shown}: {e}"));
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| fail(format!("open root {}: {e}", rootfs.display())))?;
    // O_NONBLOCK: opening a fifo must not wait for a writer.
    let flags = OFlags::RDONLY | OFlags::NONBLOCK;
    let fd = match berth_runtime::init::rootfs::open_in_root(root.as_fd(), Path::new(path), flags) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(String::new()),
        Err(e) => return Err(fail(e.to_string())),
    };
    let mut file = std::fs::File::from(fd);
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(fail("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(IMAGE_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > IMAGE_FILE_MAX {
        return Err(fail(format!("larger than {IMAGE_FILE_MAX} bytes")));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn volumes() {
        let (src, dst, ro) = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            (src, dst.as_str(), ro),
            (PathBuf::from("/tmp"), "/data", true)
        );
        assert!(parse_volume("/tmp:rel").is_err());
        assert!(parse_volume("/tmp").is_err());
    }
}
