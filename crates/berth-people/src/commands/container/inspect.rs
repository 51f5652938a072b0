//! `inspect ID...`: each kept container's record, its runtime status and its config.json, as
//! one JSON array.

use berth::context::{Context, Outcome};
use berth_runtime::state::status_at;

use crate::error::PeopleError;
use crate::record::{bundle_of, Record};

pub fn run(ids: &[String], ctx: &Context) -> Outcome {
    let mut all = Vec::new();
    for id in ids {
        let bundle = bundle_of(&ctx.image_root, id)?;
        let rec = Record::load(&bundle)?;
        let mut v = serde_json::to_value(&rec)?;
        let runtime = ctx
            .root
            .peek(id)
            .ok()
            .map(|(dir, state)| status_at(&dir, &state).to_string());
        v["runtimeStatus"] = runtime.into();
        v["bundle"] = bundle.display().to_string().into();
        let cfg = bundle.join("config.json");
        let text = std::fs::read(&cfg)
            .map_err(|e| PeopleError::Usage(format!("read {}: {e}", cfg.display())))?;
        v["config"] = serde_json::from_slice(&text)?;
        all.push(v);
    }
    berth::outln!("{}", serde_json::to_string_pretty(&all)?);
    Ok(0)
}
