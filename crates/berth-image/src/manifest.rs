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
    }
}
