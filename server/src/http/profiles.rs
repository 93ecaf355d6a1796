//! Profiles: drafts, publishing, versions, diffs, rollback and the effective profile.
//!
//! A profile is an environment's `baseline` or a machine role's overlay (`{target}`). Edits go
//! to a draft, guarded by its revision (`If-Match`); publishing makes the next immutable
//! version; a rollback publishes an old version's content again. In protected environments
//! both open a change request that a second person approves (`change_requests.rs`).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchyard_proto::profile::SettingChange;
use switchyard_proto::{
    AuditAction, EffectiveProfile, Environment, EnvironmentName, ErrorBody, FieldProblem,
    MachineRoleName, Profile, ProfileDiff, ProfileDraft, ProfileVersion, PublishRequest,
    RollbackRequest, VersionSummary,
};

use super::capability::{OperateEnvironment, ReadEnvironment};
use super::error::ApiError;
use super::json::{ApiJson, CheckedBody, CheckedJson};
use super::origin::RequestOrigin;
use super::AppState;
use crate::domain::audit::Origin;
use crate::domain::profiles::{
    content_hash, keep_secrets, seal, unseal, ChangeRequestRecord, DraftRecord, ProfileTarget,
    PublishKind, VersionRecord,
};
use crate::events::ProfilePublished;

impl CheckedBody for Profile {
    fn problems(&self) -> Vec<FieldProblem> {
        self.validate()
    }
}

/// The environment and the profile the path names, both checked to exist.
async fn resolve(
    state: &AppState,
    environment: &EnvironmentName,
    target: &str,
) -> Result<(Environment, ProfileTarget), ApiError> {
    let target = ProfileTarget::parse(target).map_err(|e| ApiError::InvalidParameter {
        name: "target".into(),
        problem: format!("{e}; use baseline or a machine role"),
    })?;
    let environment = state.store.environment(environment).await?;
    if let ProfileTarget::Role(role) = &target {
        state.store.machine_role(role).await?;
    }
    Ok((environment, target))
}

pub(super) fn open(state: &AppState, document: &str) -> Result<Profile, ApiError> {
    unseal(document, &state.sealer).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// The effective profile of a baseline version (none: not published yet) and an overlay
/// version, and where each setting comes from.
pub(super) fn effective_of(
    state: &AppState,
    baseline: Option<&VersionRecord>,
    overlay: Option<&VersionRecord>,
) -> Result<(Profile, BTreeMap<String, switchyard_proto::profile::Origin>), ApiError> {
    let baseline = match baseline {
        Some(version) => open(state, &version.document)?,
        None => Profile::default(),
    };
    let overlay = overlay
        .map(|version| open(state, &version.document))
        .transpose()?;
    Ok(baseline.effective(overlay.as_ref()))
}

/// The profile a version holds; version 0 is the empty profile before the first publish.
pub(super) async fn version_profile(
    state: &AppState,
    environment: &EnvironmentName,
    target: &ProfileTarget,
    version: u64,
) -> Result<Profile, ApiError> {
    match version {
        0 => Ok(Profile::default()),
        n => open(
            state,
            &state.store.version(environment, target, n).await?.document,
        ),
    }
}

/// The draft as it stands: its own content, or the latest version's when never edited.
async fn current_draft(
    state: &AppState,
    environment: &EnvironmentName,
    target: &ProfileTarget,
) -> Result<ProfileDraft, ApiError> {
    if let Some(draft) = state.store.draft(environment, target).await? {
        return Ok(ProfileDraft {
            profile: open(state, &draft.document)?,
            revision: draft.revision,
            based_on_version: draft.based_on_version,
        });
    }
    let latest = state.store.latest_version(environment, target).await?;
    Ok(ProfileDraft {
        profile: match &latest {
            Some(version) => open(state, &version.document)?,
            None => Profile::default(),
        },
        revision: 0,
        based_on_version: latest.map_or(0, |version| version.version),
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

/// The revision of the draft if it holds nothing unpublished (its content hashes to one of
/// `published`), 0 when there is none; a draft with edits is an error, since replacing it would
/// lose them.
pub(super) async fn untouched_draft_revision(
    state: &AppState,
    environment: &EnvironmentName,
    target: &ProfileTarget,
    published: &[&str],
) -> Result<u64, ApiError> {
    match state.store.draft(environment, target).await? {
        None => Ok(0),
        Some(draft) => {
            let hash = content_hash(&open(state, &draft.document)?, &state.sealer);
            match published.contains(&hash.as_str()) {
                true => Ok(draft.revision),
                false => Err(ApiError::DraftHasEdits {
                    revision: draft.revision,
                }),
            }
        }
    }
}

/// The machine role of an overlay, for audit events.
pub(super) fn role_of(target: &ProfileTarget) -> Option<&str> {
    match target {
        ProfileTarget::Baseline => None,
        ProfileTarget::Role(role) => Some(role.as_str()),
    }
}

/// What `version` changes, setting by setting, from the version before it.
async fn changes_from_previous(
    state: &AppState,
    environment: &EnvironmentName,
    target: &ProfileTarget,
    version: &VersionRecord,
) -> Result<Vec<SettingChange>, ApiError> {
    let previous = match version.version - 1 {
        0 => Profile::default(),
        number => version_profile(state, environment, target, number).await?,
    };
    Ok(previous.diff(&open(state, &version.document)?))
}

/// In a protected environment a change waits for a second person: the would-be `version`
/// becomes a change request (answered with 202).
async fn propose(
    state: &AppState,
    origin: &Origin,
    environment: &EnvironmentName,
    target: ProfileTarget,
    version: VersionRecord,
) -> Result<HttpResponse, ApiError> {
    let changes = changes_from_previous(state, environment, &target, &version).await?;
    let proposal = ChangeRequestRecord {
        id: uuid::Uuid::new_v4(),
        target,
        document: version.document,
        content_hash: version.content_hash,
        base_version: version.version - 1,
        rollback_of: version.rollback_of,
        proposer: version.author,
        message: version.message,
        created_at: version.published_at,
        expires_at: version.published_at + state.change_request_ttl,
        status: "open".into(),
        decided_by: None,
        reason: None,
        version: None,
    };
    let mut audit = origin
        .record(
            AuditAction::ChangeRequestOpen,
            format!("change-request:{}", proposal.id),
            proposal.created_at,
        )
        .in_environment(environment.as_str())
        .for_role(role_of(&proposal.target))
        .with_changes(changes)
        .with_detail("message", proposal.message.as_str())
        .with_detail("base_version", proposal.base_version.to_string());
    if let Some(rollback_of) = proposal.rollback_of {
        audit = audit.with_detail("rollback_of", rollback_of.to_string());
    }
    state
        .store
        .create_change_request(environment, &proposal, &audit)
        .await?;
    tracing::info!(
        by = %proposal.proposer, %environment, profile = %proposal.target,
        change_request = %proposal.id, "change proposed"
    );
    let shown = super::change_requests::shown(state, environment, &proposal).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/environments/{environment}/change-requests/{}",
                proposal.id
            ),
        ))
        .json(shown))
}

/// Publishes `version` and announces it.
pub(super) async fn record_version(
    state: &AppState,
    origin: &Origin,
    environment: &EnvironmentName,
    target: &ProfileTarget,
    version: VersionRecord,
    kind: &PublishKind,
) -> Result<HttpResponse, ApiError> {
    let changes = changes_from_previous(state, environment, target, &version).await?;
    let action = match kind {
        PublishKind::Draft { .. } => AuditAction::ProfilePublish,
        PublishKind::Rollback { .. } => AuditAction::ProfileRollback,
        PublishKind::Approval { .. } => AuditAction::ChangeRequestApprove,
    };
    let mut audit = origin
        .record(
            action,
            format!("profile:{environment}/{target}@{}", version.version),
            version.published_at,
        )
        .in_environment(environment.as_str())
        .for_role(role_of(target))
        .with_changes(changes)
        .with_detail("message", version.message.as_str())
        .with_detail("content_hash", version.content_hash.as_str());
    if let Some(rollback_of) = version.rollback_of {
        audit = audit.with_detail("rollback_of", rollback_of.to_string());
    }
    if let PublishKind::Approval {
        change_request,
        reason,
        ..
    } = kind
    {
        audit = audit
            .with_detail("change_request", change_request.to_string())
            .with_detail("proposer", version.author.as_str())
            .with_detail("reason", reason.as_str());
    }
    state
        .store
        .publish(environment, target, &version, kind, &audit)
        .await?;
    state.events.profile_published(ProfilePublished {
        environment: environment.clone(),
        target: target.clone(),
        version: version.version,
    });
    tracing::info!(
        by = %version.author, %environment, profile = %target, version = version.version,
        rollback_of = ?version.rollback_of, "profile published"
    );
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/environments/{environment}/profiles/{target}/versions/{}",
                version.version
            ),
        ))
        .json(version.summary()))
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
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (environment, target) = resolve(&state, &reader.environment, &path.1).await?;
    let draft = current_draft(&state, &environment.name, &target).await?;
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
    state: web::Data<AppState>,
    from: RequestOrigin,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    CheckedJson(edited): CheckedJson<Profile>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_revision(&request)?;
    let (environment, target) = resolve(&state, &operator.environment, &path.1).await?;
    let current = current_draft(&state, &environment.name, &target).await?;
    // Stored as the clients compare it (`Profile::normalized`), so that the stored profile,
    // its diff and what machines write agree; a secret kept by `{"set": true}` is found under
    // the normalized key too.
    let kept = current.profile.clone().normalized();
    let profile = keep_secrets(edited.normalized(), Some(&kept)).map_err(ApiError::Invalid)?;
    let record = DraftRecord {
        document: seal(&profile, &state.sealer),
        revision: expected,
        based_on_version: current.based_on_version,
        updated_by: operator.access.user.username.to_string(),
        updated_at: state.clock.now(),
    };
    let audit = from
        .record(
            &operator.access,
            AuditAction::ProfileEdit,
            format!("profile:{}/{target}@draft", environment.name),
            record.updated_at,
        )
        .in_environment(environment.name.as_str())
        .for_role(role_of(&target))
        .with_changes(current.profile.diff(&profile))
        .with_detail("revision", (expected + 1).to_string());
    let saved = state
        .store
        .save_draft(&environment.name, &target, expected, &record, &audit)
        .await?;
    tracing::info!(by = %record.updated_by, environment = %environment.name, profile = %target, revision = saved.revision, "draft saved");
    Ok(draft_response(&ProfileDraft {
        profile,
        revision: saved.revision,
        based_on_version: saved.based_on_version,
    }))
}

/// Publishes the draft as the next version. The draft revision must still be the one the
/// caller read. In a protected environment this opens a change request instead (202).
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
        (status = 409, description = "Stale draft, someone published first, or nothing new", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/profiles/{target}/publish")]
pub async fn publish(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(request): ApiJson<PublishRequest>,
) -> Result<HttpResponse, ApiError> {
    let origin = from.by(&operator.access);
    let (environment, target) = resolve(&state, &operator.environment, &path.1).await?;
    let draft = state
        .store
        .draft(&environment.name, &target)
        .await?
        .ok_or_else(|| {
            ApiError::NoChanges("nothing to publish: the draft was never edited".into())
        })?;
    if draft.revision != request.draft_revision {
        return Err(ApiError::StaleDraft {
            current: draft.revision,
        });
    }
    let hash = content_hash(&open(&state, &draft.document)?, &state.sealer);
    let latest = state
        .store
        .latest_version(&environment.name, &target)
        .await?;
    if let Some(latest) = latest.as_ref().filter(|latest| latest.content_hash == hash) {
        return Err(ApiError::NoChanges(format!(
            "nothing to publish: the draft equals version {}",
            latest.version
        )));
    }
    let latest = latest.map_or(0, |latest| latest.version);
    let now = state.clock.now();
    let author = operator.access.user.username.to_string();
    let version = VersionRecord {
        version: latest + 1,
        document: draft.document,
        content_hash: hash,
        author,
        message: request.message.as_str().to_owned(),
        rollback_of: None,
        published_at: now,
    };
    if environment.protected {
        return propose(&state, &origin, &environment.name, target, version).await;
    }
    let kind = PublishKind::Draft {
        revision: request.draft_revision,
    };
    record_version(&state, &origin, &environment.name, &target, version, &kind).await
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
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(request): ApiJson<RollbackRequest>,
) -> Result<HttpResponse, ApiError> {
    let origin = from.by(&operator.access);
    let (environment, target) = resolve(&state, &operator.environment, &path.1).await?;
    let latest = state
        .store
        .latest_version(&environment.name, &target)
        .await?
        .ok_or(ApiError::VersionNotFound(request.to_version))?;
    if latest.version != request.based_on_version {
        return Err(ApiError::StaleVersion {
            latest: latest.version,
        });
    }
    let old = state
        .store
        .version(&environment.name, &target, request.to_version)
        .await?;
    if old.content_hash == latest.content_hash {
        return Err(ApiError::NoChanges(format!(
            "nothing to roll back: version {} has the content of version {}",
            latest.version, old.version
        )));
    }
    let now = state.clock.now();
    let author = operator.access.user.username.to_string();
    let version = VersionRecord {
        version: latest.version + 1,
        document: old.document,
        content_hash: old.content_hash,
        author,
        message: request.message.as_str().to_owned(),
        rollback_of: Some(old.version),
        published_at: now,
    };
    if environment.protected {
        return propose(&state, &origin, &environment.name, target, version).await;
    }
    let draft_revision =
        untouched_draft_revision(&state, &environment.name, &target, &[&latest.content_hash])
            .await?;
    let kind = PublishKind::Rollback { draft_revision };
    record_version(&state, &origin, &environment.name, &target, version, &kind).await
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
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (environment, target) = resolve(&state, &reader.environment, &path.1).await?;
    let versions: Vec<VersionSummary> = state
        .store
        .versions(&environment.name, &target)
        .await?
        .iter()
        .map(VersionRecord::summary)
        .collect();
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
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (environment, target) = resolve(&state, &reader.environment, &path.1).await?;
    let number: u64 = path.2.parse().map_err(|_| ApiError::InvalidParameter {
        name: "version".into(),
        problem: "must be a version number".into(),
    })?;
    let record = state
        .store
        .version(&environment.name, &target, number)
        .await?;
    Ok(HttpResponse::Ok().json(ProfileVersion {
        summary: record.summary(),
        profile: open(&state, &record.document)?,
    }))
}

/// Query of the diff endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version (0: before the first); the one before `to` when left out.
    pub from: Option<u64>,
    /// The newer version; the latest when left out.
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
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    let (environment, target) = resolve(&state, &reader.environment, &path.1).await?;
    let to = match query.to {
        Some(to) => to,
        None => state
            .store
            .latest_version(&environment.name, &target)
            .await?
            .map_or(0, |version| version.version),
    };
    let from = query.from.unwrap_or(to.saturating_sub(1));
    let old = version_profile(&state, &environment.name, &target, from).await?;
    let new = version_profile(&state, &environment.name, &target, to).await?;
    let changes = old.diff(&new);
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
    state: web::Data<AppState>,
    query: web::Query<EffectiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let environment = state.store.environment(&reader.environment).await?;
    let role = match &query.role {
        Some(name) => {
            let role = ApiError::parameter("role", MachineRoleName::parse(name.as_str()))?;
            state.store.machine_role(&role).await?;
            Some(role)
        }
        None => None,
    };
    let baseline = state
        .store
        .latest_version(&environment.name, &ProfileTarget::Baseline)
        .await?;
    let overlay = match &role {
        Some(role) => {
            state
                .store
                .latest_version(&environment.name, &ProfileTarget::Role(role.clone()))
                .await?
        }
        None => None,
    };
    let (profile, origins) = effective_of(&state, baseline.as_ref(), overlay.as_ref())?;
    Ok(HttpResponse::Ok().json(EffectiveProfile {
        environment: environment.name,
        machine_role: role,
        baseline_version: baseline.map_or(0, |version| version.version),
        overlay_version: overlay.map_or(0, |version| version.version),
        profile,
        origins,
    }))
}
