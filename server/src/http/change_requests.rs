//! The change-request endpoints of four-eyes approval; the rules are
//! `crate::publishing::approval`'s.

use actix_web::{get, post, web, HttpResponse};
use switchyard_proto::{ChangeRequest, Decision, ErrorBody};
use uuid::Uuid;

use super::capability::{OperateEnvironment, ReadEnvironment};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::profiles::version_created;

fn request_id(text: &str) -> Result<Uuid, ApiError> {
    ApiError::parameter("id", Uuid::parse_str(text))
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
pub async fn list_change_requests(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    let requests = reader.profiles().change_requests().await?;
    Ok(HttpResponse::Ok().json(requests))
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
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let request = reader
        .profiles()
        .change_request(request_id(&path.1)?)
        .await?;
    Ok(HttpResponse::Ok().json(request))
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
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<HttpResponse, ApiError> {
    let profiles = operator.profiles(&from);
    // An unknown environment is named before a malformed id.
    profiles.environment().await?;
    let id = request_id(&path.1)?;
    let (target, version) = profiles.approve(id, decision.reason.as_str()).await?;
    Ok(version_created(operator.environment(), &target, &version))
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
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<HttpResponse, ApiError> {
    let profiles = operator.profiles(&from);
    profiles.environment().await?;
    let id = request_id(&path.1)?;
    let decided = profiles.reject(id, decision.reason.as_str()).await?;
    Ok(HttpResponse::Ok().json(decided))
}
