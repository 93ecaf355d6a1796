//! Reading one profile of the API: where it lives and its latest published version.

use switchyard_proto::versions::{ProfileVersion, VersionSummary};
use switchyard_proto::Profile;

use crate::api::{segment, Api, ApiError};

/// `/environments/{environment}/profiles/{target}`, each segment escaped.
pub fn base(environment: &str, target: &str) -> String {
    format!(
        "/environments/{}/profiles/{}",
        segment(environment),
        segment(target)
    )
}

/// The latest published version's number and settings: `(0, empty)` before the first.
///
/// # Errors
/// The server's.
pub fn latest(api: &mut Api, environment: &str, target: &str) -> Result<(u64, Profile), ApiError> {
    let base = base(environment, target);
    let versions: Vec<VersionSummary> = api.get(&format!("{base}/versions"))?;
    match versions.iter().map(|v| v.version).max() {
        None => Ok((0, Profile::default())),
        Some(latest) => {
            let version: ProfileVersion = api.get(&format!("{base}/versions/{latest}"))?;
            Ok((latest, version.profile))
        }
    }
}
