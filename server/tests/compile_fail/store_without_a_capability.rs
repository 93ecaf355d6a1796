//! A handler that takes no capability at all reaches for the store behind the application
//! state to revoke a machine.

use actix_web::{post, web, HttpResponse};
use switchyard_server::http::{ApiError, AppState};

#[post("/environments/{environment}/devices/{id}/revoke")]
async fn revoke_device(
    state: web::Data<AppState>,
    path: web::Path<(String, uuid::Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let audit = switchyard_server::domain::audit::Origin::system().record(
        switchyard_proto::AuditAction::DeviceRevoke,
        "device",
        now,
    );
    state.gate.store.revoke_device(path.1, now, &audit).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn main() {
    let _ = revoke_device;
}
