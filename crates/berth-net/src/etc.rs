//! `/etc/hosts` and `/etc/resolv.conf` for a container.
//!
//! Produces file contents; the people face writes them beside the container and the runtime
//! bind-mounts them. Reads the host's resolv.conf, never writes the host's own files.

use berth_common::io::IoError;
use std::fs;
use std::net::IpAddr;
use std::path::Path;

/// Errors of the /etc helpers.
#[derive(Debug, thiserror::Error)]
pub enum EtcError {
    #[error(transparent)]
    Io(#[from] IoError),
}

/// `/etc/hosts`: loopback entries, the container's own address(es) under its hostname, and
/// `extra` (name, address) pairs such as other containers or `host.berth.internal`.
pub fn hosts(hostname: &str, own: &[IpAddr], extra: &[(String, IpAddr)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if own.is_empty() {
        s += &format!("127.0.1.1\t{hostname}\n");
    }
    for ip in own {
        s += &format!("{ip}\t{hostname}\n");
    }
    for (name, ip) in extra {
        s += &format!("{ip}\t{name}\n");
    }
    s
}

/// `/etc/resolv.conf` derived from the host's: the same search/options lines and nameservers,
/// except loopback ones (a stub resolver on the host's 127.0.0.53 is unreachable from a container's
/// own namespace); `fallback` nameservers are used when none remain.
pub fn resolv_conf(host_resolv: &str, fallback: &[IpAddr]) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host_resolv.lines() {
        let t = line.trim();
        let mut words = t.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) {
                    if !ip.is_loopback() {
                        out += &format!("nameserver {ip}\n");
                        servers += 1;
                    }
                }
            }
            Some("search" | "domain" | "options") => {
                out += t;
                out.push('\n');
            }
            _ => {}
        }
    }
    if servers == 0 {
        for ip in fallback {
            out += &format!("nameserver {ip}\n");
        }
    }
    out
}

/// Reads the host's `/etc/resolv.conf` (empty if missing) and derives the container's from it.
pub fn resolv_conf_from_host(fallback: &[IpAddr]) -> Result<String, EtcError> {
    let p = Path::new("/etc/resolv.conf");
    match fs::read_to_string(p) {
        Ok(s) => Ok(resolv_conf(&s, fallback)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(resolv_conf("", fallback)),
        Err(source) => Err(IoError::new("read", p, source).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_own_address_and_extras() {
        let h = hosts(
            "web",
            &["10.87.0.2".parse().unwrap()],
            &[("db".into(), "10.87.0.3".parse().unwrap())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.87.0.2\tweb\n"));
        assert!(h.contains("10.87.0.3\tdb\n"));
        assert!(hosts("solo", &[], &[]).contains("127.0.1.1\tsolo\n"));
    }

    #[test]
    fn resolv_drops_loopback_servers_and_falls_back() {
        let host = "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(host, &[]),
            "nameserver 192.0.2.53\nsearch example.org\noptions ndots:2\n"
        );
        let fb: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", &[fb]),
            "nameserver 198.51.100.1\n"
        );
    }
}
