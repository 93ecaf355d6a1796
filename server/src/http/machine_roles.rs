//! Machine roles: the populations of machines (`backend`, `data-science`) that profile
//! overlays target. Everyone signed in sees them; admins create them.

use actix_web::{get, post, web, HttpResponse};
use switchyard_proto::{AuditAction, ErrorBody, MachineRole, NewMachineRole};

use super::capability::{Admin, Authenticated};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::AppState;
use crate::domain::audit::change;

/// Every machine role.
#[utoipa::path(
    tag = "profiles",
    responses(
        (status = 200, description = "Machine roles, by name", body = [MachineRole]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["authenticated"])))
)]
#[get("/machine-roles")]
pub async fn list_machine_roles(caller: Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(caller.machine_roles().await?))
}

/// Creates a machine role.
#[utoipa::path(
    tag = "profiles",
    request_body = NewMachineRole,
    responses(
        (status = 201, description = "Created", body = MachineRole),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[post("/machine-roles")]
pub async fn create_machine_role(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(new): ApiJson<NewMachineRole>,
) -> Result<HttpResponse, ApiError> {
    let role = MachineRole {
        name: new.name,
        description: new.description,
        created_at: state.clock.now(),
    };
    let description = Some(role.description.as_str().to_owned());
    let audit = from
        .record(
            admin.access(),
            AuditAction::MachineRoleCreate,
            format!("machine-role:{}", role.name),
            role.created_at,
        )
        .for_role(Some(role.name.as_str()))
        .with_changes(
            change("description", None, description)
                .into_iter()
                .collect(),
        );
    admin
        .environments()
        .create_machine_role(&role, &audit)
        .await?;
    tracing::info!(by = %admin.access().user.username, role = %role.name, "machine role created");
    Ok(HttpResponse::Created().json(role))
}
