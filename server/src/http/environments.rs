//! Environments: everyone sees those they have a role on; admins create and change them.

use actix_web::{get, patch, post, web, HttpResponse};
use switchyard_proto::{AuditAction, Environment, EnvironmentUpdate, ErrorBody, NewEnvironment};

use super::capability::{Admin, Authenticated, ReadEnvironment};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::AppState;
use crate::domain::audit::change;

/// The environments the caller may read (admins and auditors: all).
#[utoipa::path(
    tag = "environments",
    responses(
        (status = 200, description = "Environments, by name", body = [Environment]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["authenticated"])))
)]
#[get("/environments")]
pub async fn list_environments(caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let visible: Vec<Environment> = caller.environments().await?;
    Ok(HttpResponse::Ok().json(visible))
}

/// Creates an environment.
#[utoipa::path(
    tag = "environments",
    request_body = NewEnvironment,
    responses(
        (status = 201, description = "Created", body = Environment),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[post("/environments")]
pub async fn create_environment(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(new): ApiJson<NewEnvironment>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let changes = [
        change(
            "description",
            None,
            Some(new.description.as_str().to_owned()),
        ),
        change("protected", None, Some(new.protected.to_string())),
    ];
    let audit = from
        .record(
            admin.access(),
            AuditAction::EnvironmentCreate,
            format!("environment:{}", new.name),
            now,
        )
        .in_environment(new.name.as_str())
        .with_changes(changes.into_iter().flatten().collect());
    let created = admin
        .environments()
        .create_environment(&new, now, &audit)
        .await?;
    tracing::info!(by = %admin.access().user.username, environment = %created.name, "environment created");
    Ok(HttpResponse::Created().json(created))
}

/// One environment.
#[utoipa::path(
    tag = "environments",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "The environment", body = Environment),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}")]
pub async fn get_environment(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    let environment = reader.details().await?;
    Ok(HttpResponse::Ok().json(environment))
}

/// Changes an environment's description or protection.
#[utoipa::path(
    tag = "environments",
    params(("environment" = String, Path, description = "Environment name")),
    request_body = EnvironmentUpdate,
    responses(
        (status = 200, description = "Changed", body = Environment),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[patch("/environments/{environment}")]
pub async fn update_environment(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<String>,
    ApiJson(update): ApiJson<EnvironmentUpdate>,
) -> Result<HttpResponse, ApiError> {
    let name = ApiError::parameter(
        "environment",
        switchyard_proto::EnvironmentName::parse(path.as_str()),
    )?;
    let before = admin.environments().environment(&name).await?;
    let mut changes = Vec::new();
    if let Some(description) = &update.description {
        let old = before.description.as_str().to_owned();
        changes.extend(change(
            "description",
            Some(old),
            Some(description.as_str().to_owned()),
        ));
    }
    if let Some(protected) = update.protected {
        let old = before.protected.to_string();
        changes.extend(change("protected", Some(old), Some(protected.to_string())));
    }
    let audit = from
        .record(
            admin.access(),
            AuditAction::EnvironmentUpdate,
            format!("environment:{name}"),
            state.clock.now(),
        )
        .in_environment(name.as_str())
        .with_changes(changes);
    let updated = admin
        .environments()
        .update_environment(&name, &update, &audit)
        .await?;
    tracing::info!(by = %admin.access().user.username, environment = %name, "environment changed");
    Ok(HttpResponse::Ok().json(updated))
}
