//! Hostile or interrupted image imports, through `berth image import` as root: a sparse tar
//! stays sparse on disk, an import that cannot fit in the store is refused and leaves
//! nothing, and the staging dir of an import killed mid-way is removed by the next command.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::BERTH;
const GIB: u64 = 1 << 30;

fn skip_reason() -> Option<&'static str> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root (an import keeps file owners; tmpfs mounts)");
    }
    if Command::new("tar").arg("--version").output().is_err() {
        return Some("needs GNU tar");
    }
    None
}

macro_rules! require {
    () => {
        if let Some(why) = skip_reason() {
            berth_common::skip!("{why}");
        }
    };
}

fn berth(image_root: &Path, args: &[&str]) -> Output {
    Command::new(&*BERTH)
        .arg("--image-root")
        .arg(image_root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn gnu_tar(args: &[&str], dir: &Path) {
    let o = Command::new("tar")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "tar {args:?}: {}", text(&o.stderr));
}

/// Entries of `dir` (none when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Nothing of a failed or killed import is left in the store.
fn assert_no_import_left(image_root: &Path) {
    for sub in ["tmp", "layers", "l", "blobs/sha256"] {
        assert_eq!(
            names(&image_root.join(sub)),
            Vec::<String>::new(),
            "left in {sub}"
        );
    }
}

#[test]
fn gnu_sparse_tar_is_imported_sparse() {
    require!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    let big = File::create(src.join("big")).unwrap();
    big.set_len(8 * GIB).unwrap();
    big.write_all_at(b"start", 0).unwrap();
    big.write_all_at(b"middle", 5 * GIB).unwrap();
    drop(big);
    gnu_tar(&["--sparse", "-cf", "../sparse.tar", "."], &src);
    let tar = dir.path().join("sparse.tar");
    let tar_len = fs::metadata(&tar).unwrap().len();
    assert!(
        tar_len < 64 * 1024,
        "GNU tar wrote a sparse tar: {tar_len} bytes"
    );

    let images = dir.path().join("images");
    let o = berth(
        &images,
        &["image", "import", tar.to_str().unwrap(), "sparse:1"],
    );
    assert!(o.status.success(), "import: {}", text(&o.stderr));
    let layers = names(&images.join("layers"));
    assert_eq!(layers.len(), 1, "{layers:?}");
    let file = images.join("layers").join(&layers[0]).join("diff/big");
    let md = fs::metadata(&file).unwrap();
    assert_eq!(md.len(), 8 * GIB, "apparent size kept");
    assert!(
        md.blocks() * 512 < 1 << 20,
        "{} bytes allocated for an 8 GiB sparse file",
        md.blocks() * 512
    );
    let f = File::open(&file).unwrap();
    let mut buf = [7u8; 10];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"start\0\0\0\0\0");
    f.read_exact_at(&mut buf, 5 * GIB - 4).unwrap();
    assert_eq!(&buf, b"\0\0\0\0middle");
    f.read_exact_at(&mut buf, 8 * GIB - 10).unwrap();
    assert_eq!(buf, [0u8; 10]);
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(at).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "berth-test"])
            .arg(at)
            .output()
            .unwrap();
        assert!(o.status.success(), "mount tmpfs: {}", text(&o.stderr));
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn import_larger_than_the_store_is_refused_and_leaves_nothing() {
    require!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("small"), b"fits").unwrap();
    fs::write(src.join("zeros"), vec![0u8; 32 << 20]).unwrap();
    // Compressed, the 32 MiB of zeros are a few KB: only its data size tells it cannot fit.
    gnu_tar(&["-czf", "../big.tar.gz", "."], &src);
    fs::remove_dir_all(&src).unwrap();
    let images = dir.path().join("images");
    let _mnt = Tmpfs::mount(&images, "8m");

    let o = berth(
        &images,
        &[
            "image",
            "import",
            dir.path().join("big.tar.gz").to_str().unwrap(),
            "big:1",
        ],
    );
    assert!(
        !o.status.success(),
        "an import of 32 MiB into 8 MiB succeeded"
    );
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("zeros") && err.contains("do not fit"), "{err}");
    assert_no_import_left(&images);
    let st = rustix::fs::statvfs(&images).unwrap();
    let used = (st.f_blocks - st.f_bfree) * st.f_frsize;
    assert!(used < 1 << 20, "{used} bytes still used on the store");
}

#[test]
fn a_killed_import_is_cleaned_by_the_next_command() {
    require!();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("bin")).unwrap();
    gnu_tar(&["-cf", "../rootfs.tar", "bin"], &src);
    let fifo = dir.path().join("fifo");
    let fifo_mode = rustix::fs::Mode::from_bits_truncate(0o600);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        fifo_mode,
        0,
    )
    .unwrap();
    let images = dir.path().join("images");
    let mut child = Command::new(&*BERTH)
        .arg("--image-root")
        .arg(&images)
        .args(["image", "import", fifo.to_str().unwrap(), "killed:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The import reads the fifo once to tell its kind, then makes its staging dir and opens
    // the fifo again, where it waits for a writer that never comes.
    fs::write(&fifo, fs::read(dir.path().join("rootfs.tar")).unwrap()).unwrap();
    let tmp = images.join("tmp");
    let deadline = Instant::now() + Duration::from_secs(60);
    let staged = loop {
        if let Some(n) = names(&tmp)
            .into_iter()
            .find(|n| tmp.join(n).join(".lock").exists())
        {
            break tmp.join(n);
        }
        assert!(
            Instant::now() < deadline,
            "no staging dir appeared: {:?}",
            child.try_wait()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(staged.exists(), "the killed import left its staging dir");

    let o = berth(&images, &["image", "ls", "-q"]);
    assert!(o.status.success(), "image ls: {}", text(&o.stderr));
    assert!(
        !staged.exists(),
        "staging dir of the killed import is still there"
    );
    assert_no_import_left(&images);
}
