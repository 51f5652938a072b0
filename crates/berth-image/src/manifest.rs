//! Choosing a platform's manifest from an OCI index or Docker manifest list, and building the
//! manifest and config documents for images berth assembles itself (imports).

use oci_spec::image::{Descriptor, ImageIndex, MediaType};

/// Media types of a manifest list / index (either flavour).
pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// An os/architecture pair to select from a multi-platform image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this berth binary runs on, in GOARCH spelling.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut it = s.split('/');
        let os = it.next().filter(|s| !s.is_empty())?.to_string();
        let architecture = it.next().filter(|s| !s.is_empty())?.to_string();
        Some(Platform {
            os,
            architecture,
            variant: it.next().map(str::to_string),
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn json_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The index entry for `want`: first exact os/arch(/variant) match; entries without a platform
/// (single-image OCI layouts) match anything, but only if nothing matches exactly.
pub(crate) fn select<'a>(index: &'a ImageIndex, want: &Platform) -> Option<&'a Descriptor> {
    let exact = index.manifests().iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            json_str(p.os()) == want.os
                && json_str(p.architecture()) == want.architecture
                && (want.variant.is_none() || p.variant() == &want.variant)
        })
    });
    exact.or_else(|| {
        index.manifests().iter().find(|d| {
            d.platform().is_none()
                && !matches!(d.media_type(), MediaType::Other(t) if t.contains("attestation"))
        })
    })
}

/// RFC 3339 UTC timestamp of now, for `created` in configs berth writes.
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_platform_from_index() {
        let idx: ImageIndex = serde_json::from_str(&format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{a}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
              {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{b}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            a = "a".repeat(64),
            b = "b".repeat(64)
        ))
        .expect("index");
        let amd = select(&idx, &Platform::parse("linux/amd64").expect("p")).expect("amd64");
        assert!(amd.digest().to_string().ends_with(&"b".repeat(64)));
        let arm = select(&idx, &Platform::parse("linux/arm64/v8").expect("p")).expect("arm64");
        assert!(arm.digest().to_string().ends_with(&"a".repeat(64)));
        assert!(select(&idx, &Platform::parse("linux/s390x").expect("p")).is_none());
        assert_eq!(now_rfc3339().len(), 20);
    }
}
