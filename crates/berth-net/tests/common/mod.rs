//! Helpers for the root-only network tests: namespaces made with iproute2, traffic between them.
#![allow(dead_code)] // each test binary uses a different subset

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use berth_net::netlink::in_netns;

/// Why the test cannot run here, if it cannot.
pub fn skip_reason() -> Option<&'static str> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("needs iproute2 (`ip`)");
    }
    if Command::new("ping").arg("-V").output().is_err() {
        return Some("needs ping (iputils-ping)");
    }
    None
}

#[macro_export]
macro_rules! require_root {
    () => {
        if let Some(why) = common::skip_reason() {
            berth_common::skip!("{why}");
        }
    };
}

pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command")
}

pub fn sh_ok(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Ns {
    pub name: String,
}

impl Ns {
    pub fn new(name: &str) -> Self {
        let name = format!("{name}-{}", std::process::id());
        let _ = sh(&["ip", "netns", "del", &name]);
        sh_ok(&["ip", "netns", "add", &name]);
        Ns { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    pub fn file(&self) -> File {
        File::open(self.path()).expect("open netns")
    }

    pub fn ping(&self, ip: &str) -> bool {
        (0..3).any(|_| {
            sh(&["ip", "netns", "exec", &self.name, "ping", "-c1", "-W1", ip])
                .status
                .success()
        })
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// A TCP echo server inside this namespace; serves connections until the process ends.
    pub fn echo_server(&self, addr: &str) -> SocketAddr {
        let addr: SocketAddr = addr.parse().unwrap();
        let f = self.file();
        let l = in_netns(f.as_fd(), move || TcpListener::bind(addr))
            .unwrap()
            .unwrap();
        let local = l.local_addr().unwrap();
        std::thread::spawn(move || serve_echo(l));
        local
    }

    /// Opens a TCP connection from inside this namespace.
    pub fn connect(&self, to: SocketAddr) -> std::io::Result<TcpStream> {
        let f = self.file();
        in_netns(f.as_fd(), move || {
            TcpStream::connect_timeout(&to, Duration::from_secs(3))
        })
        .unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

pub fn serve_echo(l: TcpListener) {
    for s in l.incoming().flatten() {
        std::thread::spawn(move || {
            let mut s = s;
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

/// Sends `msg` and expects it back.
pub fn echo_roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Written from another thread while this one reads: a message larger than both sides'
    // socket buffers would otherwise leave writer and echo server blocked on each other.
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let out = msg.to_vec();
    let writer = std::thread::spawn(move || w.write_all(&out));
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(back, msg);
}

/// Names of links in the host namespace.
pub fn host_links() -> String {
    String::from_utf8_lossy(&sh(&["ip", "-o", "link"]).stdout).into_owned()
}
