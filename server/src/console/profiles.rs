//! A profile's versions, and the difference between any two side by side.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use switchyard_proto::profile::SettingChange;
use switchyard_proto::{EnvironmentName, VersionSummary};

use super::page::{render, Console, Frame, Moment, PageError};
use crate::domain::profiles::ProfileTarget;
use crate::http::capability::ReadEnvironment;
use crate::http::error::ApiError;

/// The profile a console path names: `baseline` or a machine role.
pub fn target(text: &str) -> Result<ProfileTarget, ApiError> {
    ApiError::parameter("target", ProfileTarget::parse(text))
}

/// The query string of `request` read as `T`; a mistake is the API's 400 naming the query.
pub fn query<T: DeserializeOwned>(request: &HttpRequest) -> Result<T, PageError> {
    web::Query::<T>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|error| {
            PageError::Api(ApiError::InvalidParameter {
                name: "query".into(),
                problem: error.to_string(),
            })
        })
}

/// One version as listed.
struct VersionRow {
    summary: VersionSummary,
    published: Moment,
}

/// `/environments/{environment}/profiles/{target}`.
#[derive(Template)]
#[template(path = "console/versions.html")]
struct VersionsPage {
    frame: Frame,
    environment: EnvironmentName,
    target: String,
    /// Newest first.
    versions: Vec<VersionRow>,
    draft_revision: u64,
    based_on_version: u64,
    /// Whether the viewer may edit, publish and roll back.
    operates: bool,
    /// The newest version (0: none).
    latest: u64,
}

/// `GET /environments/{environment}/profiles/{target}`.
pub async fn versions(
    Console(reader): Console<ReadEnvironment>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let target = target(&path.1)?;
    let profiles = reader.profiles();
    let versions: Vec<VersionRow> = profiles
        .versions(&target)
        .await?
        .into_iter()
        .rev()
        .map(|summary| VersionRow {
            published: Moment::of(summary.published_at),
            summary,
        })
        .collect();
    let draft = profiles.draft(&target).await?;
    let access = reader.access();
    render(&VersionsPage {
        operates: access.can_operate(reader.environment()),
        latest: versions
            .first()
            .map_or(0, |row: &VersionRow| row.summary.version),
        frame: Frame::new(&request, Some(access), "environments"),
        environment: reader.environment().clone(),
        target: target.to_string(),
        versions,
        draft_revision: draft.revision,
        based_on_version: draft.based_on_version,
    })
}

/// Which versions to compare; the latest and the one before when left out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    from: Option<u64>,
    to: Option<u64>,
}

/// `/environments/{environment}/profiles/{target}/diff`.
#[derive(Template)]
#[template(path = "console/diff.html")]
struct DiffPage {
    frame: Frame,
    environment: EnvironmentName,
    target: String,
    from: u64,
    to: u64,
    /// Every version number, newest first, for choosing others.
    numbers: Vec<u64>,
    changes: Vec<SettingChange>,
}

impl DiffPage {
    /// The table's caption: how many settings changed.
    fn caption(&self) -> String {
        let plural = match self.changes.len() {
            1 => "",
            _ => "s",
        };
        format!(
            "{} setting{plural} changed; secrets show only that they are set",
            self.changes.len()
        )
    }
}

/// `GET /environments/{environment}/profiles/{target}/diff?from=N&to=M`: the API's diff, old
/// values beside new ones (secrets only as `(secret)`).
pub async fn diff(
    Console(reader): Console<ReadEnvironment>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let asked: DiffQuery = query(&request)?;
    let target = target(&path.1)?;
    let profiles = reader.profiles();
    let (from, to, changes) = profiles.diff(&target, asked.from, asked.to).await?;
    let numbers = profiles
        .versions(&target)
        .await?
        .iter()
        .rev()
        .map(|version| version.version)
        .collect();
    render(&DiffPage {
        frame: Frame::new(&request, Some(reader.access()), "environments"),
        environment: reader.environment().clone(),
        target: target.to_string(),
        from,
        to,
        numbers,
        changes,
    })
}
