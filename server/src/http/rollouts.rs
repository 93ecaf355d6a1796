//! The rollout and override endpoints: reading rollouts with their gates, moving them by hand,
//! and reading overrides. Both start with a publish (`profiles.rs`); the rules are
//! `crate::publishing`'s.

use actix_web::{get, post, web, HttpResponse};
use switchyard_proto::rollouts::{Override, Rollout, RolloutAction};
use switchyard_proto::ErrorBody;
use uuid::Uuid;

use super::capability::{OperateEnvironment, ReadEnvironment};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use crate::domain::rollouts::Move;

fn rollout_id(text: &str) -> Result<Uuid, ApiError> {
    ApiError::parameter("id", Uuid::parse_str(text))
}

/// The rollouts of an environment, newest first; active ones carry their current wave's gate,
/// read now from the machines' latest reports.
#[utoipa::path(
    tag = "rollouts",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Rollouts, newest first", body = [Rollout]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/rollouts")]
pub async fn list_rollouts(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(reader.profiles().rollouts().await?))
}

/// One rollout, with its current wave's gate if it is active.
#[utoipa::path(
    tag = "rollouts",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Rollout id"),
    ),
    responses(
        (status = 200, description = "The rollout", body = Rollout),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or rollout", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/rollouts/{id}")]
pub async fn get_rollout(
    reader: ReadEnvironment,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let rollout = reader.profiles().rollout(rollout_id(&path.1)?).await?;
    Ok(HttpResponse::Ok().json(rollout))
}

/// Moves a rollout by hand and answers it as moved: 200, or 202 when a promotion in a
/// protected environment now waits for a second person.
async fn moved(
    operator: OperateEnvironment,
    from: RequestOrigin,
    id: &str,
    requested: Move,
    action: RolloutAction,
) -> Result<HttpResponse, ApiError> {
    let profiles = operator.profiles(&from);
    // An unknown environment is named before a malformed id.
    profiles.environment().await?;
    let rollout = profiles
        .move_rollout(rollout_id(id)?, requested, action.reason.as_str())
        .await?;
    Ok(match rollout.promotion_requested_by {
        Some(_) => HttpResponse::Accepted().json(rollout),
        None => HttpResponse::Ok().json(rollout),
    })
}

/// Promotes a rollout to its next wave now, or completes it after its last, whatever its gate
/// says (also a paused or halted one). In a protected environment the first person's call asks
/// (202) and a second person's confirms.
#[utoipa::path(
    tag = "rollouts",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Rollout id"),
    ),
    request_body = RolloutAction,
    responses(
        (status = 200, description = "Promoted", body = Rollout),
        (status = 202, description = "Protected environment: the promotion waits for a second person", body = Rollout),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment, or the person who asked confirms", body = ErrorBody),
        (status = 404, description = "No such environment or rollout", body = ErrorBody),
        (status = 409, description = "The rollout has ended, or moved since it was read", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/rollouts/{id}/promote")]
pub async fn promote_rollout(
    operator: OperateEnvironment,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(action): ApiJson<RolloutAction>,
) -> Result<HttpResponse, ApiError> {
    moved(operator, from, &path.1, Move::Promote, action).await
}

/// Pauses a running rollout: its cohort keeps the new version, its gate promotes nothing.
#[utoipa::path(
    tag = "rollouts",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Rollout id"),
    ),
    request_body = RolloutAction,
    responses(
        (status = 200, description = "Paused", body = Rollout),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or rollout", body = ErrorBody),
        (status = 409, description = "Not running, or moved since it was read", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/rollouts/{id}/pause")]
pub async fn pause_rollout(
    operator: OperateEnvironment,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(action): ApiJson<RolloutAction>,
) -> Result<HttpResponse, ApiError> {
    moved(operator, from, &path.1, Move::Pause, action).await
}

/// Resumes a paused or halted rollout: its current wave soaks again from now.
#[utoipa::path(
    tag = "rollouts",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Rollout id"),
    ),
    request_body = RolloutAction,
    responses(
        (status = 200, description = "Resumed", body = Rollout),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or rollout", body = ErrorBody),
        (status = 409, description = "Not paused or halted, or moved since it was read", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/rollouts/{id}/resume")]
pub async fn resume_rollout(
    operator: OperateEnvironment,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(action): ApiJson<RolloutAction>,
) -> Result<HttpResponse, ApiError> {
    moved(operator, from, &path.1, Move::Resume, action).await
}

/// Aborts a rollout: the previous version's content comes back for the cohort, published as
/// the next version (`revert_version`).
#[utoipa::path(
    tag = "rollouts",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Rollout id"),
    ),
    request_body = RolloutAction,
    responses(
        (status = 200, description = "Aborted", body = Rollout),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or rollout", body = ErrorBody),
        (status = 409, description = "Ended already, or moved since it was read", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/rollouts/{id}/abort")]
pub async fn abort_rollout(
    operator: OperateEnvironment,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(action): ApiJson<RolloutAction>,
) -> Result<HttpResponse, ApiError> {
    moved(operator, from, &path.1, Move::Abort, action).await
}

/// The overrides of an environment, newest first: versions published with `until`, whether
/// they still stand, ended (and by which version the old content came back), or were
/// superseded by a later publish.
#[utoipa::path(
    tag = "rollouts",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Overrides, newest first", body = [Override]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/overrides")]
pub async fn list_overrides(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(reader.profiles().overrides().await?))
}
