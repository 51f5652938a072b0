//! `commit CONTAINER IMAGE`: a container's upper dir becomes a new layer on top of its image's
//! (a `--rootfs DIR` root: DIR itself becomes the first layer), with the config changes of
//! `--change`; `diff CONTAINER` lists what the upper holds.

mod changes;
mod upper;

pub use changes::{apply_changes, ChangeError};

use crate::import::{commit_with_manifest, unpack_directory, ChanWriter, ImportError};
use crate::reference::Reference;
use crate::store::{ImageDetails, Store, StoreError};
use crate::unpack::ChanReader;
use oci_spec::image::Config;
use std::io::{self, BufWriter};
use std::sync::mpsc;

impl Store {
    /// `commit CONTAINER IMAGE`: stores the container's root as image `name`.
    pub fn commit_container(
        &self,
        container_id: &str,
        name: &str,
        changes: &[String],
    ) -> Result<ImageDetails, ImportError> {
        let reference = Reference::parse(name)?;
        let cl = self.container_layers(container_id)?;
        let staging = self.staging()?;
        let mut config: serde_json::Value = if cl.config_digest.is_empty() {
            serde_json::json!({
                "architecture": crate::manifest::Platform::host().architecture,
                "os": "linux",
                "config": crate::import::default_config(),
                "rootfs": {"type": "layers", "diff_ids": []},
            })
        } else {
            serde_json::from_slice(&self.read_blob(&cl.config_digest)?).map_err(|source| {
                StoreError::Config {
                    digest: cl.config_digest.clone(),
                    source,
                }
            })?
        };
        let mut layers = Vec::new();
        for diff_id in &cl.layers {
            // The tar length, for the manifest; push recomputes it when it is unknown (0).
            layers.push((diff_id.clone(), self.check_layer_tar(diff_id).unwrap_or(0)));
        }
        if let Some(dir) = &cl.directory {
            let base = unpack_directory(&staging, dir)?;
            layers.push((base.diff_id, base.tar_size));
        }
        let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(16);
        let upper_dir = cl.upper.clone();
        let skip = self.mount_points(container_id);
        let producer = std::thread::spawn(move || {
            let w = BufWriter::with_capacity(256 * 1024, ChanWriter(tx.clone()));
            if let Err(e) = upper::write_layer(&upper_dir, &skip, w) {
                let _ = tx.send(Err(e));
            }
        });
        let top = staging.unpack(ChanReader::new(rx));
        let _ = producer.join();
        let top = top?;
        layers.push((top.diff_id, top.tar_size));

        let mut runtime: Config =
            serde_json::from_value(config["config"].take()).unwrap_or_default();
        apply_changes(&mut runtime, changes).map_err(|e| ImportError::Format {
            path: container_id.into(),
            what: e.to_string(),
        })?;
        let now = berth_common::now_rfc3339();
        config["config"] = serde_json::to_value(&runtime).unwrap_or_default();
        config["created"] = now.clone().into();
        config["rootfs"] = serde_json::json!({
            "type": "layers",
            "diff_ids": layers.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
        });
        let entry = serde_json::json!({"created": now, "created_by": format!("berth commit {container_id}")});
        match config["history"].as_array_mut() {
            Some(h) => h.push(entry),
            None => config["history"] = serde_json::json!([entry]),
        }
        let bytes = serde_json::to_vec(&config).map_err(|e| ImportError::Format {
            path: "config".into(),
            what: e.to_string(),
        })?;
        commit_with_manifest(&staging, &reference, &bytes, &layers)?;
        Ok(self.inspect(&reference.to_string())?)
    }

    /// `diff CONTAINER`: `A|C|D /path` for what the container added, changed or deleted.
    pub fn container_diff(&self, container_id: &str) -> Result<Vec<String>, StoreError> {
        let cl = self.container_layers(container_id)?;
        let skip = self.mount_points(container_id);
        Ok(upper::diff(&cl.upper, &cl.lowers, &skip)
            .map_err(|e| berth_common::io::IoError::new("read upper dir", &cl.upper, e))?)
    }

    /// The mount destinations of the container's config.json (in its bundle), relative.
    fn mount_points(&self, container_id: &str) -> upper::MountPoints {
        let config = self
            .container_dir(container_id)
            .ok()
            .and_then(|d| std::fs::read(d.join("config.json")).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let mounts = config
            .as_ref()
            .and_then(|c| c["mounts"].as_array())
            .cloned()
            .unwrap_or_default();
        mounts
            .iter()
            .filter_map(|m| m["destination"].as_str())
            .map(|d| std::path::PathBuf::from(d.trim_start_matches('/')))
            .collect()
    }
}
