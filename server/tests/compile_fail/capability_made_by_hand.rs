//! A handler that makes itself the capability it was not handed.

use actix_web::{post, web, HttpResponse};
use switchyard_server::http::capability::{OperateEnvironment, ReadEnvironment};
use switchyard_server::http::ApiError;

#[post("/environments/{environment}/enrollment-tokens/{id}/revoke")]
async fn revoke(
    reader: ReadEnvironment,
    path: web::Path<(String, uuid::Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let operator = OperateEnvironment {
        access: reader.access().clone(),
        environment: reader.environment().clone(),
    };
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let audit = switchyard_server::domain::audit::Origin::system().record(
        switchyard_proto::AuditAction::EnrollmentTokenRevoke,
        "enrollment-token",
        now,
    );
    operator.devices().revoke_enrollment_token(path.1, now, &audit).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn main() {
    let _ = revoke;
}
