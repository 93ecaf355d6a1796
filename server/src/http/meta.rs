//! The service's own endpoints: liveness, readiness and version.

use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::{get, web, HttpResponse};
use switchyard_proto::{ErrorBody, Health, VersionInfo};

use super::capability::Anonymous;
use super::error::ApiError;
use super::ApiDescriptionJson;

/// Readiness waits this long for the database before calling it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

/// Liveness: the process is up and serving.
#[utoipa::path(
    tag = "service",
    responses((status = 200, description = "The server is alive", body = Health)),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers, so the server can do its work.
#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[get("/readyz")]
pub async fn readyz(anyone: Anonymous) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(READINESS_TIMEOUT, anyone.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(Health {
            status: "ok".into(),
        })),
        Ok(Err(error)) => Err(ApiError::DatabaseUnavailable(error)),
        Err(_) => Err(ApiError::DatabaseUnavailable(
            crate::store::StoreError::Database(sqlx::Error::PoolTimedOut),
        )),
    }
}

/// The server's name and version, as built.
#[utoipa::path(
    tag = "service",
    responses((status = 200, description = "Name and version", body = VersionInfo)),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[get("/version")]
pub async fn version() -> HttpResponse {
    HttpResponse::Ok().json(VersionInfo {
        name: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// This API's OpenAPI description.
#[utoipa::path(
    tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", content_type = "application/json")),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[get("/openapi.json")]
pub async fn openapi(description: web::Data<ApiDescriptionJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(description.0.clone())
}
