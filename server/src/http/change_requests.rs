//! Four-eyes approval. In a protected environment a publish or rollback becomes a change
//! request; a different person with ops on the environment (or an admin) approves it, which
//! publishes it, or rejects it. A request whose base version is no longer the latest cannot be
//! approved, and requests expire.

use actix_web::{get, post, web, HttpResponse};
use switchyard_proto::{
    AuditAction, ChangeRequest, ChangeRequestStatus, Decision, EnvironmentName, ErrorBody,
};
use uuid::Uuid;

use super::capability::{OperateEnvironment, ReadEnvironment};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::profiles::{open, record_version, untouched_draft_revision, version_profile};
use super::AppState;
use crate::domain::profiles::{ChangeRequestRecord, PublishKind, VersionRecord};

/// The request as the API shows it, with what it would change against its base version.
pub(super) async fn shown(
    state: &AppState,
    environment: &EnvironmentName,
    request: &ChangeRequestRecord,
) -> Result<ChangeRequest, ApiError> {
    let base = version_profile(state, environment, &request.target, request.base_version).await?;
    let proposed = open(state, &request.document)?;
    let status = match request.status.as_str() {
        "approved" => ChangeRequestStatus::Approved,
        "rejected" => ChangeRequestStatus::Rejected,
        _ if request.expires_at <= state.clock.now() => ChangeRequestStatus::Expired,
        _ => ChangeRequestStatus::Open,
    };
    Ok(ChangeRequest {
        id: request.id,
        environment: environment.clone(),
        target: request.target.to_string(),
        proposer: request.proposer.clone(),
        message: request.message.clone(),
        base_version: request.base_version,
        rollback_of: request.rollback_of,
        changes: base.diff(&proposed),
        status,
        created_at: request.created_at,
        expires_at: request.expires_at,
        decided_by: request.decided_by.clone(),
        reason: request.reason.clone(),
        version: request.version,
    })
}

fn request_id(text: &str) -> Result<Uuid, ApiError> {
    ApiError::parameter("id", Uuid::parse_str(text))
}

/// The open request `id`, or why it cannot be decided.
async fn open_request(
    state: &AppState,
    environment: &EnvironmentName,
    id: &str,
) -> Result<ChangeRequestRecord, ApiError> {
    let request = state
        .store
        .change_request(environment, request_id(id)?)
        .await?;
    if request.status != "open" || request.expires_at <= state.clock.now() {
        return Err(ApiError::ChangeRequestClosed(request.id.to_string()));
    }
    Ok(request)
}

/// The change requests of an environment, newest first.
#[utoipa::path(
    tag = "profiles",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Change requests, newest first", body = [ChangeRequest]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/change-requests")]
pub async fn list_change_requests(
    reader: ReadEnvironment,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let environment = state.store.environment(&reader.environment).await?;
    let mut shown_requests = Vec::new();
    for request in state.store.change_requests(&environment.name).await? {
        shown_requests.push(shown(&state, &environment.name, &request).await?);
    }
    Ok(HttpResponse::Ok().json(shown_requests))
}

/// One change request.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Change request id"),
    ),
    responses(
        (status = 200, description = "The change request", body = ChangeRequest),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such change request", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/change-requests/{id}")]
pub async fn get_change_request(
    reader: ReadEnvironment,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let request = state
        .store
        .change_request(&reader.environment, request_id(&path.1)?)
        .await?;
    Ok(HttpResponse::Ok().json(shown(&state, &reader.environment, &request).await?))
}

/// Approves a change request, which publishes it. Not by its proposer; not once its base
/// version is no longer the latest, nor after it expired.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Change request id"),
    ),
    request_body = Decision,
    responses(
        (status = 201, description = "Approved and published", body = switchyard_proto::VersionSummary),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment, or the proposer", body = ErrorBody),
        (status = 404, description = "No such change request", body = ErrorBody),
        (status = 409, description = "Decided, expired, or its base version is no longer the latest", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/change-requests/{id}/approve")]
pub async fn approve_change_request(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<HttpResponse, ApiError> {
    let environment = state.store.environment(&operator.environment).await?;
    let request = open_request(&state, &environment.name, &path.1).await?;
    let approver = operator.access.user.username.to_string();
    if approver == request.proposer {
        return Err(ApiError::OwnChangeRequest);
    }
    let latest_record = state
        .store
        .latest_version(&environment.name, &request.target)
        .await?;
    let latest = latest_record.as_ref().map_or(0, |version| version.version);
    if latest != request.base_version {
        return Err(ApiError::StaleVersion { latest });
    }
    let latest_hash = latest_record
        .map(|version| version.content_hash)
        .unwrap_or_default();
    let draft_revision = untouched_draft_revision(
        &state,
        &environment.name,
        &request.target,
        &[&latest_hash, &request.content_hash],
    )
    .await?;
    let version = VersionRecord {
        version: latest + 1,
        document: request.document,
        content_hash: request.content_hash,
        author: request.proposer,
        message: request.message,
        rollback_of: request.rollback_of,
        published_at: state.clock.now(),
    };
    let kind = PublishKind::Approval {
        draft_revision,
        change_request: request.id,
        decided_by: approver,
        reason: decision.reason.as_str().to_owned(),
    };
    let origin = from.by(&operator.access);
    record_version(
        &state,
        &origin,
        &environment.name,
        &request.target,
        version,
        &kind,
    )
    .await
}

/// Rejects a change request, with a reason.
#[utoipa::path(
    tag = "profiles",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Change request id"),
    ),
    request_body = Decision,
    responses(
        (status = 200, description = "Rejected", body = ChangeRequest),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such change request", body = ErrorBody),
        (status = 409, description = "Decided or expired", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/change-requests/{id}/reject")]
pub async fn reject_change_request(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<HttpResponse, ApiError> {
    let environment = state.store.environment(&operator.environment).await?;
    let request = open_request(&state, &environment.name, &path.1).await?;
    let decided_by = operator.access.user.username.to_string();
    let now = state.clock.now();
    let audit = from
        .record(
            &operator.access,
            AuditAction::ChangeRequestReject,
            format!("change-request:{}", request.id),
            now,
        )
        .in_environment(environment.name.as_str())
        .for_role(super::profiles::role_of(&request.target))
        .with_detail("proposer", request.proposer.as_str())
        .with_detail("reason", decision.reason.as_str());
    state
        .store
        .reject_change_request(
            &environment.name,
            request.id,
            &decided_by,
            decision.reason.as_str(),
            now,
            &audit,
        )
        .await?;
    tracing::info!(by = %decided_by, environment = %environment.name, change_request = %request.id, "change rejected");
    let decided = state
        .store
        .change_request(&environment.name, request.id)
        .await?;
    Ok(HttpResponse::Ok().json(shown(&state, &environment.name, &decided).await?))
}
