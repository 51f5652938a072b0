//! Registry credentials and authentication challenges.
//!
//! Owns finding a user/password for a registry in the usual auth files (containers' auth.json
//! and Docker's config.json; credential helpers are not run) and parsing `WWW-Authenticate`.

use base64::Engine as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Errors reading an auth file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("read or write auth file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse auth file {path}: {why}")]
    Parse { path: PathBuf, why: String },
}

/// A user name and password (or identity token as password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The file `login` writes and `logout` edits, as podman picks it: `$REGISTRY_AUTH_FILE`,
/// else `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/<uid>/auth.json`.
pub fn login_file() -> PathBuf {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return PathBuf::from(p);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(p) => Path::new(&p).join("containers/auth.json"),
        None => PathBuf::from(format!(
            "/run/containers/{}/auth.json",
            rustix::process::geteuid().as_raw()
        )),
    }
}

/// Auth files consulted when none is given, in containers-auth.json(5) order: the login
/// file, then the user's containers and Docker files.
pub fn default_auth_files() -> Vec<PathBuf> {
    let mut out = vec![login_file()];
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(h) = &home {
        out.push(h.join(".config/containers/auth.json"));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => out.push(Path::new(&d).join("config.json")),
        None => {
            if let Some(h) = &home {
                out.push(h.join(".docker/config.json"));
            }
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `https://index.docker.io/v1/` → `index.docker.io`; Docker Hub's aliases → `docker.io`.
fn normalize_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        h => h.to_string(),
    }
}

/// Credentials for `registry` (as in a reference, e.g. `docker.io`, `localhost:5000`) from the
/// first of `files` that has them. Missing files are skipped; unreadable or malformed ones are
/// errors, so a typo does not silently turn into an anonymous pull.
pub fn lookup(registry: &str, files: &[PathBuf]) -> Result<Option<Credentials>, AuthError> {
    let want = normalize_key(registry);
    for path in files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(AuthError::Read {
                    path: path.clone(),
                    source,
                })
            }
        };
        let file: AuthFile = serde_json::from_slice(&bytes).map_err(|e| AuthError::Parse {
            path: path.clone(),
            why: e.to_string(),
        })?;
        for (key, entry) in &file.auths {
            if normalize_key(key) != want {
                continue;
            }
            if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
                return Ok(Some(Credentials {
                    username: u.clone(),
                    password: p.clone(),
                }));
            }
            let Some(auth) = &entry.auth else { continue };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| AuthError::Parse {
                    path: path.clone(),
                    why: format!("auths.{key}.auth: {e}"),
                })?;
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            let (u, p) = decoded.split_once(':').ok_or_else(|| AuthError::Parse {
                path: path.clone(),
                why: format!("auths.{key}.auth is not base64(user:password)"),
            })?;
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
    }
    Ok(None)
}

/// Records `creds` for `registry` in the auth file `path` (created 0600 with its directory),
/// keeping every other entry and key of the file.
pub fn store(path: &Path, registry: &str, creds: Option<&Credentials>) -> Result<(), AuthError> {
    let mut doc: serde_json::Value = match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| AuthError::Parse {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(source) => {
            return Err(AuthError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let not_object = || AuthError::Parse {
        path: path.to_path_buf(),
        why: "not a JSON object with an \"auths\" object".into(),
    };
    let auths = doc
        .as_object_mut()
        .ok_or_else(not_object)?
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(not_object)?;
    // Entries naming the same registry another way (a URL) go too.
    let want = normalize_key(registry);
    auths.retain(|k, _| normalize_key(k) != want);
    if let Some(c) = creds {
        let raw = format!("{}:{}", c.username, c.password);
        let auth = base64::engine::general_purpose::STANDARD.encode(raw);
        auths.insert(registry.to_string(), serde_json::json!({ "auth": auth }));
    }
    let write = |source| AuthError::Read {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| AuthError::Parse {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    berth_common::fs::write_atomic(
        path,
        &bytes,
        Some(0o600),
        berth_common::fs::Durability::PowerLoss,
    )
    .map_err(|e| write(e.into()))
}

/// Whether the auth file `path` holds an entry for `registry`.
pub fn has_entry(path: &Path, registry: &str) -> Result<bool, AuthError> {
    Ok(lookup(registry, &[path.to_path_buf()])?.is_some())
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer` or `basic` (lowercased).
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// Parses `Bearer realm="…",service="…",scope="repository:x:pull,push"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        s = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_bearer_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .expect("parse");
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull,push");
        let b = parse_challenge(r#"Basic realm="Registry Realm""#).expect("basic");
        assert_eq!(b.scheme, "basic");
    }

    #[test]
    fn finds_credentials_in_docker_and_containers_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let docker = dir.path().join("config.json");
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(&docker, format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{b64}"}},"localhost:5000":{{"auth":"{b64}"}}}}}}"#))
            .expect("write");
        let containers = dir.path().join("auth.json");
        std::fs::write(
            &containers,
            r#"{"auths":{"127.0.0.1:5001":{"username":"bob","password":"pw"}}}"#,
        )
        .expect("write");
        let files = vec![containers.clone(), dir.path().join("missing.json"), docker];
        let hub = lookup("docker.io", &files).expect("lookup").expect("found");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("alice", "s3cret")
        );
        assert_eq!(
            lookup("127.0.0.1:5001", &files)
                .expect("lookup")
                .expect("found")
                .username,
            "bob"
        );
        assert!(lookup("quay.io", &files).expect("lookup").is_none());
        assert!(!format!("{hub:?}").contains("s3cret"));
        std::fs::write(&containers, "{not json").expect("write");
        assert!(lookup("quay.io", &files).is_err());
    }
}
