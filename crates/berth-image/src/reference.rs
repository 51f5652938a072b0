//! Image references (`[registry/]repository[:tag][@digest]`), normalized as Docker does.

use std::fmt;

/// The registry a reference without a host part names.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The longest `registry/repository` Docker accepts.
const NAME_MAX: usize = 255;

/// Errors from parsing an image reference.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid image reference {0:?}: {1}")]
    Invalid(String, &'static str),
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry `host[:port]`, `docker.io` when none is given.
    pub registry: String,
    /// Repository path, `library/NAME` for single-component Docker Hub names.
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest is given.
    pub tag: Option<String>,
    /// `sha256:<hex>` manifest digest when given with `@`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes `s` (`busybox` → `docker.io/library/busybox:latest`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let bad = |why| ReferenceError::Invalid(s.to_string(), why);
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if crate::digest::sha256_hex(d).is_none() {
                    return Err(bad("digest is not sha256:<64 hex>"));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(bad("empty name"));
        }
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad("tag must be [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((host, repo)) if host.contains(['.', ':']) || host == "localhost" => {
                (host.to_string(), repo.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if !registry_ok(&registry) {
            return Err(bad(
                "registry must be host[:port], host a DNS name or [IPv6]",
            ));
        }
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let repo_ok = repository.split('/').all(|c| {
            c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
        if !repo_ok {
            return Err(bad("repository components must be lowercase [a-z0-9._-], starting and ending with [a-z0-9]"));
        }
        // Docker's limit on the normalized name: a longer one can name no image, and the
        // name is echoed whole in progress lines and URLs.
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return Err(bad(
                "the name (registry/repository) is longer than 255 characters",
            ));
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// Short display form: `busybox:latest` for Docker Hub library images.
    pub fn short(&self) -> String {
        let full = self.to_string();
        full.strip_prefix("docker.io/library/")
            .or_else(|| full.strip_prefix("docker.io/"))
            .map(str::to_string)
            .unwrap_or(full)
    }
}

/// `host[:port]` as Docker's reference grammar has it: DNS labels of [A-Za-z0-9-] joined by
/// dots, or a bracketed IPv6 address; a port of 1-5 digits. The registry becomes a URL's
/// authority, so anything else (`@`, spaces, control characters) is refused here.
fn registry_ok(registry: &str) -> bool {
    let (host, port) = match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((addr, "")) => (addr, None),
            Some((addr, port)) => match port.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None => return false,
            },
            None => return false,
        },
        None => match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        },
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let host_ok = if registry.starts_with('[') {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        host.split('.').all(label_ok)
    };
    port_ok && host_ok
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let r = Reference::parse("busybox").expect("parse");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.short(), "busybox:latest");
        let r = Reference::parse("localhost:5000/a/b:v1").expect("parse");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "a/b", Some("v1"))
        );
        let r = Reference::parse("127.0.0.1:5000/x").expect("parse");
        assert_eq!(r.to_string(), "127.0.0.1:5000/x:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("user/img@{d}")).expect("parse");
        assert_eq!(r.to_string(), format!("docker.io/user/img@{d}"));
        assert_eq!(r.manifest_ref(), d);
        assert!(Reference::parse("UPPER").is_err());
        assert!(Reference::parse("a:b/../c").is_err());
        assert!(Reference::parse("x@sha256:zz").is_err());
        // Docker's 255-character limit is on the normalized name.
        let longest = "a".repeat(255 - "docker.io/library/".len());
        assert!(Reference::parse(&longest).is_ok());
        assert!(Reference::parse(&format!("{longest}a")).is_err());
        let r = Reference::parse("[::1]:5000/x").expect("parse");
        assert_eq!(r.registry, "[::1]:5000");
        // Found by the fuzz properties: a host part that is not a host.
        for bad in [
            "\0:/a",
            "a b.c/x",
            "evil.com:80x/y",
            "a.-b/x",
            "[zz]/x",
            "h.c:123456/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
