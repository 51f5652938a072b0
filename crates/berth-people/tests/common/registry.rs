//! Debian's docker-registry on 127.0.0.1 for the people tests (registry_push.rs, ...):
//! filesystem storage in a tempdir, optionally behind htpasswd; killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// What a registry test needs that is missing here, if anything.
pub fn missing() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root".into());
    }
    for (bin, pkg) in [
        ("/usr/bin/docker-registry", "docker-registry"),
        ("/usr/bin/skopeo", "skopeo"),
        ("/usr/bin/htpasswd", "apache2-utils"),
        ("/bin/busybox", "busybox-static"),
    ] {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} missing: apt-get install {pkg}"));
        }
    }
    None
}

pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; with `htpasswd`, only that user (bcrypt, as htpasswd -B writes it).
    pub fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .unwrap();
        let mut auth = String::new();
        if let Some((user, pass)) = htpasswd {
            let file = dir.path().join("htpasswd");
            let ok = Command::new("htpasswd")
                .args(["-Bbc", file.to_str().unwrap(), user, pass])
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(ok.success(), "htpasswd failed");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                file.display()
            );
        }
        let (child, port) = berth_common::test_server::docker_registry(dir.path(), &auth)
            .unwrap_or_else(|e| panic!("{e}"));
        Registry {
            child,
            port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
