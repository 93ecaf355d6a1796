//! An open route (anyone may call it) starts a session for a user who proved nothing, by
//! making the proof itself.

use actix_web::{post, web, HttpResponse};
use switchyard_server::http::capability::{Anonymous, Proven};
use switchyard_server::http::{ApiError, AppState};

#[post("/auth/become")]
async fn become_someone(
    anyone: Anonymous,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let someone = anyone.check_password(&path, "any password").await?;
    let forged = Proven {
        user: someone.unwrap().user().clone(),
        family: uuid::Uuid::new_v4(),
        used: None,
    };
    let audit = switchyard_server::domain::audit::Origin::system().record(
        switchyard_proto::AuditAction::Login,
        "user",
        now,
    );
    let pair = anyone.start_session(&forged, now, &audit).await?;
    Ok(HttpResponse::Ok().json(pair))
}

fn main() {
    let _ = become_someone;
}
