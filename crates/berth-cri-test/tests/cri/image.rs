//! The one image the tests use, as pod sandbox ("pause") and as container image: busybox from
//! scripts/make-rootfs.sh in an OCI image layout archive, imported with `ctr images import`.
//! No registry is involved.

use std::fs;
use std::path::Path;

use serde_json::json;

use crate::util::run;

/// Moves `file` into `blobs/sha256/<digest>` of the layout at `oci`; returns ("sha256:…", size).
fn put_blob(oci: &Path, file: &Path) -> Result<(String, u64), String> {
    let sum = run("sha256sum", &[&file.to_string_lossy()])?;
    let hex = sum
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let size = fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    fs::rename(file, oci.join("blobs/sha256").join(&hex))
        .map_err(|e| format!("blob {hex}: {e}"))?;
    Ok((format!("sha256:{hex}"), size))
}

fn put_json(
    oci: &Path,
    scratch: &Path,
    value: &serde_json::Value,
) -> Result<(String, u64), String> {
    fs::write(scratch, value.to_string()).map_err(|e| format!("{}: {e}", scratch.display()))?;
    put_blob(oci, scratch)
}

/// Builds the image under `work` and returns the path of its archive. The image's default
/// process sleeps until killed, which is all a sandbox ("pause") container must do.
pub(crate) fn build_archive(work: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    // BERTH_CRI_REPO: the repository, when the test binary runs away from its build tree
    // (e.g. copied into a guest).
    let repo = std::env::var_os("BERTH_CRI_REPO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let rootfs = work.join("rootfs");
    run(
        &repo.join("scripts/make-rootfs.sh").to_string_lossy(),
        &[&rootfs.to_string_lossy()],
    )
    .map_err(|e| format!("build the image's root filesystem: {e}"))?;

    let oci = work.join("oci");
    fs::create_dir_all(oci.join("blobs/sha256")).map_err(|e| format!("{}: {e}", oci.display()))?;
    let layer = work.join("layer.tar");
    run(
        "tar",
        &[
            "--numeric-owner",
            "--sort=name",
            "--exclude=./.berth-rootfs",
            "-C",
            &rootfs.to_string_lossy(),
            "-cf",
            &layer.to_string_lossy(),
            ".",
        ],
    )?;
    let (layer_digest, layer_size) = put_blob(&oci, &layer)?;
    let scratch = work.join("blob.json");
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": ["/bin/sleep"], "Cmd": ["2147483647"], "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}
    });
    let (config_digest, config_size) = put_json(&oci, &scratch, &config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}]
    });
    let (manifest_digest, manifest_size) = put_json(&oci, &scratch, &manifest)?;
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": "test"}
        }]
    });
    fs::write(oci.join("index.json"), index.to_string()).map_err(|e| format!("index.json: {e}"))?;
    fs::write(oci.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(|e| format!("oci-layout: {e}"))?;
    let archive = work.join("image.tar");
    run(
        "tar",
        &[
            "-C",
            &oci.to_string_lossy(),
            "-cf",
            &archive.to_string_lossy(),
            ".",
        ],
    )?;
    fs::remove_dir_all(&rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    fs::remove_dir_all(&oci).map_err(|e| format!("{}: {e}", oci.display()))?;
    Ok(archive)
}
