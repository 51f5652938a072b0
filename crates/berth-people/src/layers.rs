//! What `run` builds a root from: an image of the store, or a directory used directly as the
//! read-only lower layer (`--rootfs DIR`, a path IMAGE such as `./images/alpine`, or the
//! course's `images/NAME` when the store has no image of that name).

use std::path::{Path, PathBuf};

use berth::people_cli::PeopleFlags;
use berth_image::{RootSource, Store, StoreError};

use crate::error::PeopleError;

pub enum Root {
    Image(String),
    Directory(PathBuf),
}

impl Root {
    pub fn source(&self) -> RootSource<'_> {
        match self {
            Root::Image(i) => RootSource::Image(i),
            Root::Directory(d) => RootSource::Directory(d),
        }
    }
}

/// Picks the root; takes IMAGE off `args` when it is there.
pub fn pick(
    flags: &PeopleFlags,
    args: &mut Vec<String>,
    store: &Store,
) -> Result<Root, PeopleError> {
    if let Some(d) = &flags.rootfs {
        return Ok(Root::Directory(d.clone()));
    }
    let image = match flags.image.clone() {
        Some(i) => i,
        None if !args.is_empty() => args.remove(0),
        None => {
            return Err(PeopleError::Usage(
                "berth run: no image (give IMAGE [CMD...], --image IMAGE or --rootfs DIR)".into(),
            ))
        }
    };
    // No image reference starts with these: always a directory.
    if ["/", "./", "../"].iter().any(|p| image.starts_with(p)) {
        return Ok(Root::Directory(image.into()));
    }
    if image.contains('/') && Path::new(&image).is_dir() {
        if let Err(StoreError::NotFound(_)) = store.inspect(&image) {
            return Ok(Root::Directory(image.into()));
        }
    }
    Ok(Root::Image(image))
}
