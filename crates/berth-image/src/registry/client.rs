//! One registry repository over HTTP: authorization challenges, manifests, small blobs.

use super::error::PullError;
use super::options::PullOptions;
use crate::auth::{self, Credentials};
use crate::digest::sha256_digest;
use crate::reference::Reference;
use oci_spec::image::Descriptor;
use std::sync::Mutex;
use std::time::Duration;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";
/// The largest manifest, index, config or token document read into memory (pull or import).
pub(crate) const MAX_DOCUMENT: u64 = 8 << 20;

/// One registry repository, with the authorization it has earned so far.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    registry: String,
    repository: String,
    creds: Option<Credentials>,
    authorization: Mutex<Option<String>>,
}

/// The error of a request that got no HTTP answer. A TLS failure against a registry that
/// speaks plain HTTP says what to do.
pub(super) fn http_err(request: &str) -> impl FnOnce(ureq::Error) -> PullError + '_ {
    move |e| {
        let tls = match &e {
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
            ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
            _ => false,
        };
        let hint = if tls && request.contains(" https://") {
            " (if the registry speaks plain HTTP, use --insecure)".to_string()
        } else {
            String::new()
        };
        PullError::Http {
            request: request.to_string(),
            source: Box::new(e),
            hint,
        }
    }
}

/// Docker's rule: a registry on the loopback (`localhost`, 127.0.0.0/8, `::1`) may speak
/// plain HTTP without --insecure.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    pub(crate) fn new(reference: &Reference, opts: &PullOptions) -> Result<Client, PullError> {
        let host = if reference.registry == crate::reference::DEFAULT_REGISTRY {
            "registry-1.docker.io".to_string()
        } else {
            reference.registry.clone()
        };
        let scheme = if opts.insecure { "http" } else { "https" };
        let base = format!("{scheme}://{host}");
        let files = match &opts.auth_file {
            Some(f) => vec![f.clone()],
            None => auth::default_auth_files(),
        };
        let creds = auth::lookup(&reference.registry, &files)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let base = if !opts.insecure && is_loopback(&host) {
            // HTTPS first, plain HTTP when the loopback registry does not speak TLS (Docker).
            let probe = format!("{base}/v2/");
            match agent.get(&probe).call() {
                Err(_) => format!("http://{host}"),
                Ok(_) => base,
            }
        } else {
            base
        };
        Ok(Client {
            agent,
            base,
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            creds,
            authorization: Mutex::new(None),
        })
    }

    /// The authorization earned so far.
    pub(super) fn auth_header(&self) -> Option<String> {
        self.authorization.lock().map(|g| g.clone()).unwrap_or(None)
    }

    /// Uses `creds` instead of what the auth files hold (`login`).
    pub(super) fn set_credentials(&mut self, creds: Credentials) {
        self.creds = Some(creds);
    }

    pub(super) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// GET with the current authorization; on 401 answers the challenge once and retries.
    pub(super) fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        range_from: u64,
    ) -> Result<ureq::http::Response<ureq::Body>, PullError> {
        let url = self.url(path);
        self.authorized(&format!("GET {url}"), |auth| {
            let mut req = self.agent.get(&url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if range_from > 0 {
                req = req.header("Range", format!("bytes={range_from}-"));
            }
            if let Some(h) = auth {
                req = req.header("Authorization", h);
            }
            req.call()
        })
    }

    /// `<base>/v2/<repository>/<path>`.
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, path)
    }

    /// The registry's base URL (`scheme://host`), for absolute paths it returns.
    pub(super) fn base(&self) -> &str {
        &self.base
    }

    /// Makes a request through `send` with the current authorization (passed to it); on 401
    /// answers the challenge once and sends again. `request` (`METHOD URL`) names it in errors.
    pub(super) fn authorized(
        &self,
        request: &str,
        mut send: impl FnMut(Option<String>) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, PullError> {
        for round in 0..2 {
            let resp = send(self.auth_header()).map_err(http_err(request))?;
            if resp.status().as_u16() != 401 {
                return check_status(request, resp);
            }
            if round == 1 {
                break;
            }
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(auth::parse_challenge)
                .ok_or_else(|| PullError::Unauthorized {
                    registry: self.registry.clone(),
                    why: "401 without a WWW-Authenticate challenge".into(),
                })?;
            let header = self.answer(&challenge)?;
            if let Ok(mut g) = self.authorization.lock() {
                *g = Some(header);
            }
        }
        Err(PullError::Unauthorized {
            registry: self.registry.clone(),
            why: format!("{request}: credentials rejected"),
        })
    }

    fn answer(&self, challenge: &auth::Challenge) -> Result<String, PullError> {
        match challenge.scheme.as_str() {
            "basic" => self
                .creds
                .as_ref()
                .map(Credentials::basic_header)
                .ok_or_else(|| PullError::Unauthorized {
                    registry: self.registry.clone(),
                    why:
                        "registry wants Basic auth and no credentials were found in the auth files"
                            .into(),
                }),
            "bearer" => {
                let realm =
                    challenge
                        .params
                        .get("realm")
                        .ok_or_else(|| PullError::Unauthorized {
                            registry: self.registry.clone(),
                            why: "Bearer challenge without realm".into(),
                        })?;
                let scope = challenge
                    .params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let mut req = self.agent.get(realm).query("scope", &scope);
                if let Some(service) = challenge.params.get("service") {
                    req = req.query("service", service);
                }
                if let Some(c) = &self.creds {
                    req = req.header("Authorization", c.basic_header());
                }
                let what = format!("GET {realm}");
                let resp = req.call().map_err(http_err(&what))?;
                let mut resp = check_status(&what, resp)?;
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_DOCUMENT)
                    .read_to_vec()
                    .map_err(http_err(&what))?;
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Token = serde_json::from_slice(&body).map_err(|e| PullError::Document {
                    what: format!("token from {realm}"),
                    why: e.to_string(),
                })?;
                let token = t
                    .token
                    .or(t.access_token)
                    .ok_or_else(|| PullError::Unauthorized {
                        registry: self.registry.clone(),
                        why: format!("token endpoint {realm} returned no token"),
                    })?;
                Ok(format!("Bearer {token}"))
            }
            other => Err(PullError::Unauthorized {
                registry: self.registry.clone(),
                why: format!("unsupported auth scheme {other:?}"),
            }),
        }
    }

    /// Fetches a manifest or index, returning (bytes, digest of the bytes, mediaType).
    pub(super) fn manifest(&self, reference: &str) -> Result<(Vec<u8>, String, String), PullError> {
        let mut resp = self.get(&format!("manifests/{reference}"), Some(MANIFEST_ACCEPT), 0)?;
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let url = format!("GET {}", self.url(&format!("manifests/{reference}")));
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT)
            .read_to_vec()
            .map_err(http_err(&url))?;
        let digest = sha256_digest(&bytes);
        if reference.starts_with("sha256:") && digest != reference {
            return Err(PullError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: reference.into(),
                actual: digest,
            });
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            schema_version: Option<u32>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| PullError::Document {
            what: format!("manifest {reference}"),
            why: e.to_string(),
        })?;
        if probe.schema_version == Some(1) {
            return Err(PullError::Document {
                what: format!("manifest {reference}"),
                why: "Docker schema 1 manifests are not supported".into(),
            });
        }
        let media_type = match probe.media_type {
            Some(m) => m,
            None if probe.manifests.is_some() => "application/vnd.oci.image.index.v1+json".into(),
            None if !content_type.is_empty() => content_type,
            None => "application/vnd.oci.image.manifest.v1+json".into(),
        };
        Ok((bytes, digest, media_type))
    }

    /// Fetches a small blob (a config) into memory, verified.
    pub(super) fn small_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, PullError> {
        let digest = desc.digest().to_string();
        let url = format!("GET {}", self.url(&format!("blobs/{digest}")));
        let mut resp = self.get(&format!("blobs/{digest}"), None, 0)?;
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT)
            .read_to_vec()
            .map_err(http_err(&url))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(PullError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest,
                actual,
            });
        }
        Ok(bytes)
    }
}

pub(super) fn check_status(
    request: &str,
    mut resp: ureq::http::Response<ureq::Body>,
) -> Result<ureq::http::Response<ureq::Body>, PullError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    // Registries explain errors in a small JSON body; show its start.
    let detail = resp
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .map(|s| format!(": {}", s.trim().chars().take(300).collect::<String>()))
        .unwrap_or_default();
    Err(PullError::Status {
        request: request.to_string(),
        status,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn dockers_loopback_rule() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.9.8.7",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "registry.example",
            "10.0.0.1:5000",
            "[::ffff:127.0.0.1]:5000",
            "localhost.example:5000",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
