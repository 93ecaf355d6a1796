//! `plan`, `apply` and `export`: the folder of environment files against the server.

use std::path::Path;

use serde_json::json;

use super::{message, Failure};
use crate::api::Api;
use crate::apply::{apply as apply_folder, ApplyError};
use crate::export::export as export_folder;
use crate::folder::{self, Format};
use crate::output::Out;
use crate::plan::{plan as plan_folder, Plan, SecretPolicy};

/// `plan DIR`: prints the plan; 2 when it changes anything.
pub fn plan(
    api: &mut Api,
    out: Out,
    dir: &Path,
    plan_file: Option<&Path>,
    policy: SecretPolicy,
) -> Result<u8, Failure> {
    let desired = folder::read(dir).map_err(Failure::Usage)?;
    let plan = plan_folder(api, &desired, policy)?;
    if let Some(path) = plan_file {
        let text = serde_json::to_string_pretty(&plan).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
            .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if out.is_json() {
        out.json(
            &json!({ "changes": plan.changes_anything(), "notes": plan.notes(), "plan": plan }),
        )?;
    } else {
        show_plan(out, &plan)?;
    }
    Ok(match plan.changes_anything() {
        true => 2,
        false => 0,
    })
}

fn show_plan(out: Out, plan: &Plan) -> Result<(), Failure> {
    let lines = plan.lines();
    if lines.is_empty() {
        out.line("no change: the server holds what the folder says")?;
        return Ok(());
    }
    for (mark, line) in &lines {
        out.line(&out.marked(*mark, line))?;
    }
    for note in plan.notes() {
        out.line(&format!("note: {note}"))?;
    }
    out.line(&format!("{} change(s)", lines.len()))?;
    Ok(())
}

/// `apply DIR`.
pub fn apply(
    api: &mut Api,
    out: Out,
    dir: &Path,
    plan_file: Option<&Path>,
    text: &str,
    policy: SecretPolicy,
) -> Result<u8, Failure> {
    let desired = folder::read(dir).map_err(Failure::Usage)?;
    let saved: Option<Plan> = match plan_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
            Some(serde_json::from_str(&text).map_err(|e| {
                Failure::Usage(format!("{} is not a plan file: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let message = message("message", text)?;
    let applied = match apply_folder(api, dir, &desired, saved.as_ref(), &message, policy) {
        Ok(applied) => applied,
        // A program reading the output learns what was done before the failure too.
        Err(ApplyError::Failed { done, error }) if out.is_json() => {
            out.json(&json!({ "applied": done, "error": error.to_string() }))?;
            return Err(ApplyError::Failed { done, error }.into());
        }
        Err(error) => return Err(error.into()),
    };
    match out.is_json() {
        true => out.json(&json!({ "applied": applied }))?,
        false if applied.is_empty() => out.line("no change: nothing to apply")?,
        false => {
            for done in &applied {
                out.line(&done.to_string())?;
            }
        }
    }
    Ok(0)
}

/// `export DIR`.
pub fn export(
    api: &mut Api,
    out: Out,
    dir: &Path,
    format: Format,
    overwrite: bool,
) -> Result<u8, Failure> {
    let files = export_folder(api, dir, format, overwrite)?;
    match out.is_json() {
        true => out.json(&json!({ "files": files }))?,
        false => {
            for file in &files {
                out.line(&format!("wrote {}", file.display()))?;
            }
        }
    }
    Ok(0)
}
