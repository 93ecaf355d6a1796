//! The profile endpoints: drafts, publishing, versions, diffs, rollback and the effective
//! profile. The rules are `crate::publishing`'s; these parse the request, call them and answer.
//!
//! `{target}` is `baseline` or a machine role. A draft's revision travels as its `ETag` and
//! comes back in `If-Match`.

use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchyard_proto::{
    EffectiveProfile, EnvironmentName, ErrorBody, FieldProblem, MachineRoleName, Profile,
    ProfileDiff, ProfileDraft, ProfileVersion, PublishRequest, RollbackRequest, VersionSummary,
};

use super::capability::{OperateEnvironment, ReadEnvironment};
use super::error::ApiError;
use super::json::{ApiJson, CheckedBody, CheckedJson};
use super::origin::RequestOrigin;
use crate::domain::profiles::ProfileTarget;
use crate::publishing::{Publication, Release};

impl CheckedBody for Profile {
    fn problems(&self) -> Vec<FieldProblem> {
        self.validate()
    }
}

/// The profile the path names: `baseline` or a machine role.
fn target(text: &str) -> Result<ProfileTarget, ApiError> {
    ProfileTarget::parse(text).map_err(|e| ApiError::InvalidParameter {
        name: "target".into(),
        problem: format!("{e}; use baseline or a machine role"),
    })
}

fn draft_response(draft: &ProfileDraft) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", draft.revision)))
        .json(draft)
}

/// The draft revision an edit is based on, from `If-Match`.
fn expected_revision(request: &HttpRequest) -> Result<u64, ApiError> {
    let value = request.headers().get(header::IF_MATCH).ok_or_else(|| {
        ApiError::PreconditionRequired(
            "send If-Match with the draft's ETag (its revision, \"0\" for a first edit), so a \
             concurrent edit is not overwritten"
                .into(),
        )
    })?;
    value
        .to_str()
        .ok()
        .map(|text| text.trim().trim_matches('"'))
        .and_then(|text| text.parse::<u64>().ok())
        // Revisions are kept as signed 64-bit numbers and grow by one.
        .filter(|revision| *revision < i64::MAX as u64)
        .ok_or_else(|| ApiError::InvalidParameter {
            name: "If-Match".into(),
            problem: "must be the draft's ETag, such as \"3\"".into(),
        })
}

/// The answer to a publish or rollback: 201 with the new version, or 202 with the change
/// request a protected environment opened instead.
pub(super) fn publication_response(
    environment: &EnvironmentName,
    target: &ProfileTarget,
    publication: Publication,
) -> HttpResponse {
    match publication {
        Publication::Published(version) => version_created(environment, target, &version),
        Publication::Proposed(request) => HttpResponse::Accepted()
            .insert_header((
                header::LOCATION,
                format!(
                    "/api/v1/environments/{environment}/change-requests/{}",
                    request.id
                ),
            ))
            .json(request),
    }
}

/// 201 with a version just published.
pub(super) fn version_created(
    environment: &EnvironmentName,
    target: &ProfileTarget,
    version: &VersionSummary,
) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/environments/{environment}/profiles/{target}/versions/{}",
                version.version
            ),
        ))
        .json(version)
}

/// The draft of a profile (secrets read as `{"set": true}`); its `ETag` is the revision.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("target" = String, Path, description = "`baseline` or a machine role"),
    ),
    responses(
        (status = 200, description = "The draft", body = ProfileDraft),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or machine role", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/profiles/{target}/draft")]
pub async fn get_draft(
    reader: ReadEnvironment,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let draft = reader.profiles().draft(&target(&path.1)?).await?;
    Ok(draft_response(&draft))
}

/// Replaces the draft. Needs `If-Match` with the revision it was read at; a draft changed
/// since gets 409. Every problem with the profile is listed in one 422 answer.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("target" = String, Path, description = "`baseline` or a machine role"),
        ("If-Match" = String, Header, description = "The draft's ETag (revision) as read"),
    ),
    request_body = Profile,
    responses(
        (status = 200, description = "Saved; the new revision is in the body and ETag", body = ProfileDraft),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or machine role", body = ErrorBody),
        (status = 409, description = "The draft changed since it was read", body = ErrorBody),
        (status = 422, description = "The profile has problems; each is listed", body = ErrorBody),
        (status = 428, description = "If-Match is missing", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[put("/environments/{environment}/profiles/{target}/draft")]
pub async fn put_draft(
    operator: OperateEnvironment,
    from: RequestOrigin,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    CheckedJson(edited): CheckedJson<Profile>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_revision(&request)?;
    let saved = operator
        .profiles(&from)
        .save_draft(&target(&path.1)?, expected, edited)
        .await?;
    Ok(draft_response(&saved))
}

/// Publishes the draft as the next version. The draft revision must still be the one the
/// caller read. In a protected environment this opens a change request instead (202). With a
/// `rollout` plan, the version goes to the plan's first wave and the others keep the previous
/// version until the waves' gates pass (see the rollouts endpoints). With `until`, the version
/// is an override: at that time the version before comes back by itself.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("target" = String, Path, description = "`baseline` or a machine role"),
    ),
    request_body = PublishRequest,
    responses(
        (status = 201, description = "Published", body = VersionSummary),
        (status = 202, description = "Protected environment: a change request awaits approval", body = switchyard_proto::ChangeRequest),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or machine role", body = ErrorBody),
        (status = 409, description = "Stale draft, someone published first, nothing new, a rollout in progress, or a rollout of a first version", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/profiles/{target}/publish")]
pub async fn publish(
    operator: OperateEnvironment,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(request): ApiJson<PublishRequest>,
) -> Result<HttpResponse, ApiError> {
    let target = target(&path.1)?;
    let release = match (request.rollout, request.until) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Invalid(vec![FieldProblem {
                path: "until".into(),
                message: "an override goes to every machine at once; it cannot also be rolled out"
                    .into(),
            }]))
        }
        (Some(plan), None) => Release::Rollout(plan),
        (None, Some(until)) => Release::Until(until),
        (None, None) => Release::Everyone,
    };
    let publication = operator
        .profiles(&from)
        .publish(
            &target,
            request.draft_revision,
            request.message.as_str(),
            release,
        )
        .await?;
    Ok(publication_response(
        operator.environment(),
        &target,
        publication,
    ))
}

/// Publishes an old version's content as the next version, recorded as a rollback. In a
/// protected environment this opens a change request instead (202).
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("target" = String, Path, description = "`baseline` or a machine role"),
    ),
    request_body = RollbackRequest,
    responses(
        (status = 201, description = "Rolled back", body = VersionSummary),
        (status = 202, description = "Protected environment: a change request awaits approval", body = switchyard_proto::ChangeRequest),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment, machine role or version", body = ErrorBody),
        (status = 409, description = "Someone published since, nothing would change, or the draft holds unpublished edits", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/profiles/{target}/rollback")]
pub async fn rollback(
    operator: OperateEnvironment,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(request): ApiJson<RollbackRequest>,
) -> Result<HttpResponse, ApiError> {
    let target = target(&path.1)?;
    let publication = operator
        .profiles(&from)
        .rollback(
            &target,
            request.based_on_version,
            request.to_version,
            request.message.as_str(),
        )
        .await?;
    Ok(publication_response(
        operator.environment(),
        &target,
        publication,
    ))
}

/// The published versions of a profile, oldest first.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("target" = String, Path, description = "`baseline` or a machine role"),
    ),
    responses(
        (status = 200, description = "Versions, oldest first", body = [VersionSummary]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or machine role", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/profiles/{target}/versions")]
pub async fn list_versions(
    reader: ReadEnvironment,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let versions = reader.profiles().versions(&target(&path.1)?).await?;
    Ok(HttpResponse::Ok().json(versions))
}

/// One published version with its content.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("target" = String, Path, description = "`baseline` or a machine role"),
        ("version" = u64, Path, description = "Version number"),
    ),
    responses(
        (status = 200, description = "The version", body = ProfileVersion),
        (status = 400, description = "The version is not a number", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment, machine role or version", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/profiles/{target}/versions/{version}")]
pub async fn get_version(
    reader: ReadEnvironment,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let target = target(&path.1)?;
    let profiles = reader.profiles();
    // An unknown environment or role is named before a malformed version number.
    profiles.checked(&target).await?;
    let number: u64 = path.2.parse().map_err(|_| ApiError::InvalidParameter {
        name: "version".into(),
        problem: "must be a version number".into(),
    })?;
    let (summary, profile) = profiles.version(&target, number).await?;
    Ok(HttpResponse::Ok().json(ProfileVersion { summary, profile }))
}

/// Query of the diff endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version (0: before the first); the one before `to` when left out.
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub from: Option<u64>,
    /// The newer version; the latest when left out.
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub to: Option<u64>,
}

/// The settings that differ between two versions, for people and programs.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("target" = String, Path, description = "`baseline` or a machine role"),
        DiffQuery,
    ),
    responses(
        (status = 200, description = "The differences", body = ProfileDiff),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment, machine role or version", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/profiles/{target}/diff")]
pub async fn diff(
    reader: ReadEnvironment,
    path: web::Path<(String, String)>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to, changes) = reader
        .profiles()
        .diff(
            &target(&path.1)?,
            query
                .from
                .map(|v| super::stored_number("from", v))
                .transpose()?,
            query
                .to
                .map(|v| super::stored_number("to", v))
                .transpose()?,
        )
        .await?;
    let text = changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    Ok(HttpResponse::Ok().json(ProfileDiff {
        from,
        to,
        changes,
        text,
    }))
}

/// Query of the effective-profile endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EffectiveQuery {
    /// The machine role whose overlay applies; only the baseline when left out.
    pub role: Option<String>,
}

/// What a machine of a role gets: the latest published baseline with the role's latest
/// published overlay applied, and where each setting comes from.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        EffectiveQuery,
    ),
    responses(
        (status = 200, description = "The effective profile", body = EffectiveProfile),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or machine role", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/effective")]
pub async fn effective(
    reader: ReadEnvironment,
    query: web::Query<EffectiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let profiles = reader.profiles();
    // An unknown environment is named before a malformed role.
    profiles.environment().await?;
    let role = query
        .role
        .as_deref()
        .map(|name| ApiError::parameter("role", MachineRoleName::parse(name)))
        .transpose()?;
    let effective = profiles.effective(role.as_ref()).await?;
    Ok(HttpResponse::Ok().json(EffectiveProfile {
        environment: reader.environment().clone(),
        machine_role: role,
        baseline_version: effective.baseline_version,
        overlay_version: effective.overlay_version,
        profile: effective.profile,
        origins: effective.origins,
    }))
}
