//! For tests that start a server which listens on a TCP port it is given (Debian's
//! docker-registry): a free port cannot be reserved for another process, so between picking
//! one and the server's bind another listener (a proxy of a test running beside it) may take
//! it. The server then fails to bind, and a client that only checks that the port accepts
//! connections talks to the wrong server. [`start`] waits until the child itself holds a
//! listening socket on the port, and picks another port when the child exits first. Unused by
//! the executables (the linker drops it), as `skip!`.

use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};

/// Spawns `spawn(port)` on a free 127.0.0.1 port until the child listens on it (up to five
/// ports, `timeout` each); returns the child and its port.
pub fn start(
    mut spawn: impl FnMut(u16) -> std::io::Result<Child>,
    timeout: Duration,
) -> Result<(Child, u16), String> {
    let mut last = String::new();
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("pick a port: {e}"))?
            .port();
        let mut child = spawn(port).map_err(|e| format!("spawn: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            if listens(child.id(), port) {
                return Ok((child, port));
            }
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("exited with {status} before listening on port {port}");
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not listen on port {port} within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(last)
}

/// Debian's docker-registry (`/usr/bin/docker-registry`) on a free 127.0.0.1 port through
/// [`start`]: filesystem storage in `dir/data`, deletes enabled, errors only in its log;
/// `auth` is a YAML `auth:` section or empty. Its config is `dir/config.yml`.
pub fn docker_registry(dir: &std::path::Path, auth: &str) -> Result<(Child, u16), String> {
    start(
        |port| {
            let config = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.join("data").display()
            );
            let cfg = dir.join("config.yml");
            std::fs::write(&cfg, config)?;
            std::process::Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&cfg)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
        },
        Duration::from_secs(30),
    )
    .map_err(|e| format!("docker-registry: {e}"))
}

/// Whether process `pid` holds a socket listening on 127.0.0.1:`port` (or any address).
fn listens(pid: u32, port: u16) -> bool {
    let Ok(tcp) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    // Lines: "sl local_address rem_address st … uid timeout inode"; addresses are hex
    // "IP:PORT", st 0A is LISTEN.
    let inodes: Vec<String> = tcp
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = f.get(1)?.rsplit_once(':')?.1;
            let inode = f.get(9)?;
            (u16::from_str_radix(local_port, 16).ok()? == port && *f.get(3)? == "0A")
                .then(|| format!("socket:[{inode}]"))
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_child_that_cannot_bind_is_started_again_on_another_port() {
        // The first port offered is already taken by this process's listener: a server
        // given it fails to bind, though the port accepts connections.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut offered = Vec::new();
        let python = std::path::Path::new("/usr/bin/python3");
        if !python.exists() {
            crate::skip!("needs /usr/bin/python3 to play the server");
        }
        let (mut child, port) = start(
            |port| {
                let port = if offered.is_empty() { taken_port } else { port };
                offered.push(port);
                Command::new(python)
                    .args([
                        "-c",
                        "import socket,sys,time; s=socket.socket(); \
                         s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(30)",
                    ])
                    .arg(port.to_string())
                    .stderr(std::process::Stdio::null())
                    .spawn()
            },
            Duration::from_secs(10),
        )
        .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(offered.len(), 2, "{offered:?}");
        assert_ne!(port, taken_port);
        assert!(!listens(std::process::id() + 1_000_000, taken_port));
        assert!(listens(std::process::id(), taken_port));
    }
}
