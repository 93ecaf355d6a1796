//! Environment variables that run code or change TLS checks, allowed per environment by an
//! admin ([`crate::publishing`] `allowances.rs` has the rules): everyone who reads the
//! environment sees the allowances; admins give and withdraw them.

use actix_web::{delete, get, put, web, HttpResponse};
use switchyard_proto::{AllowVariable, ErrorBody, VariableAllowance};

use super::capability::{Admin, ReadEnvironment};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;

/// The variables allowed in an environment's profiles, by name.
#[utoipa::path(
    tag = "environments",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Allowances, by name", body = [VariableAllowance]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "No role on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops on the environment", "developer on the environment"])))
)]
#[get("/environments/{environment}/variable-allowances")]
pub async fn list_allowances(reader: ReadEnvironment) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(reader.profiles().variable_allowances().await?))
}

/// Allows profiles of the environment to set a variable that runs code or changes TLS checks
/// (see the README's list); given again, the reason is replaced. Audited as `variable.allow`.
#[utoipa::path(
    tag = "environments",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("name" = String, Path, description = "The variable's name, in any case"),
    ),
    request_body = AllowVariable,
    responses(
        (status = 200, description = "Allowed", body = VariableAllowance),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
        (status = 422, description = "The variable needs no allowance, can never be set, or the reason is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[put("/environments/{environment}/variable-allowances/{name}")]
pub async fn allow_variable(
    admin: Admin,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(allow): ApiJson<AllowVariable>,
) -> Result<HttpResponse, ApiError> {
    let environment = ApiError::environment_parameter(&path.0)?;
    let allowed = admin
        .variable_allowances(&environment, &from)
        .allow(&path.1, allow.reason)
        .await?;
    Ok(HttpResponse::Ok().json(allowed))
}

/// Withdraws an allowance; refused while a draft or the latest version of one of the
/// environment's profiles sets the variable. Audited as `variable.withdraw`.
#[utoipa::path(
    tag = "environments",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("name" = String, Path, description = "The variable's name, in any case"),
    ),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such environment, or the variable is not allowed there", body = ErrorBody),
        (status = 409, description = "A profile of the environment sets the variable", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[delete("/environments/{environment}/variable-allowances/{name}")]
pub async fn withdraw_variable(
    admin: Admin,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let environment = ApiError::environment_parameter(&path.0)?;
    admin
        .variable_allowances(&environment, &from)
        .withdraw(&path.1)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
