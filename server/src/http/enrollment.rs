//! Enrollment: ops make tokens bound to an environment and machine role; a machine enrolls
//! once with a token and its own public key.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use switchyard_proto::devices::{
    CreatedEnrollmentToken, EnrollRequest, Enrollment, EnrollmentToken, NewEnrollmentToken,
};
use switchyard_proto::signing::decode_public_key;
use switchyard_proto::{AuditAction, ErrorBody, FieldProblem};
use time::Duration;
use uuid::Uuid;

use super::capability::{Anonymous, OperateEnvironment};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::AppState;
use crate::auth::secret;
use crate::domain::devices::{DeviceRecord, EnrollmentTokenRecord};

/// Creates an enrollment token for a machine role of the environment. Its secret is shown
/// once.
#[utoipa::path(
    tag = "devices",
    params(("environment" = String, Path, description = "Environment name")),
    request_body = NewEnrollmentToken,
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedEnrollmentToken),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment or machine role", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[post("/environments/{environment}/enrollment-tokens")]
pub async fn create_enrollment_token(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(new): ApiJson<NewEnrollmentToken>,
) -> Result<HttpResponse, ApiError> {
    let created = issue(&operator, &from, &new, state.clock.now()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(created))
}

/// Makes an enrollment token as `new` asks, audited, and its secret (shown this once): for
/// the API and the console.
///
/// # Errors
/// [`ApiError::Invalid`] naming `expires_in_hours` (1 to 720) or `max_uses` (1 to 10,000),
/// [`ApiError::MachineRoleNotFound`], store errors.
pub(crate) async fn issue(
    operator: &OperateEnvironment,
    from: &RequestOrigin,
    new: &NewEnrollmentToken,
    now: time::OffsetDateTime,
) -> Result<CreatedEnrollmentToken, ApiError> {
    let mut problems = Vec::new();
    if !(1..=720).contains(&new.expires_in_hours) {
        problems.push(FieldProblem {
            path: "expires_in_hours".into(),
            message: "must be 1 to 720 hours".into(),
        });
    }
    if !(1..=10_000).contains(&new.max_uses) {
        problems.push(FieldProblem {
            path: "max_uses".into(),
            message: "must be 1 to 10000".into(),
        });
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let secret = secret::generate(secret::ENROLLMENT_TOKEN_PREFIX);
    let record = EnrollmentTokenRecord {
        id: Uuid::new_v4(),
        token_hash: secret::digest(&secret),
        environment: operator.environment().clone(),
        machine_role: new.machine_role.clone(),
        created_by: operator.access().user.username.to_string(),
        created_at: now,
        expires_at: now + Duration::hours(i64::from(new.expires_in_hours)),
        max_uses: u64::from(new.max_uses),
        uses: 0,
        revoked_at: None,
        labels: new.labels.clone(),
    };
    let audit = from
        .record(
            operator.access(),
            AuditAction::EnrollmentTokenCreate,
            format!("enrollment-token:{}", record.id),
            now,
        )
        .in_environment(record.environment.as_str())
        .for_role(Some(record.machine_role.as_str()))
        .with_detail("expires_at", record.expires_at.to_string())
        .with_detail("max_uses", record.max_uses.to_string())
        .with_detail(
            "labels",
            serde_json::to_string(&record.labels).unwrap_or_default(),
        );
    operator
        .devices()
        .create_enrollment_token(&record, &audit)
        .await?;
    Ok(CreatedEnrollmentToken {
        token: record.to_wire(),
        secret,
    })
}

/// The environment's enrollment tokens, newest first (never their secrets).
#[utoipa::path(
    tag = "devices",
    params(("environment" = String, Path, description = "Environment name")),
    responses(
        (status = 200, description = "Enrollment tokens, newest first", body = [EnrollmentToken]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[get("/environments/{environment}/enrollment-tokens")]
pub async fn list_enrollment_tokens(
    operator: OperateEnvironment,
) -> Result<HttpResponse, ApiError> {
    let tokens: Vec<EnrollmentToken> = operator
        .devices()
        .enrollment_tokens()
        .await?
        .iter()
        .map(EnrollmentTokenRecord::to_wire)
        .collect();
    Ok(HttpResponse::Ok().json(tokens))
}

/// Revokes an enrollment token: no machine enrolls with it any more (those enrolled stay).
#[utoipa::path(
    tag = "devices",
    params(
        ("environment" = String, Path, description = "Environment name"),
        ("id" = Uuid, Path, description = "Enrollment token id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not ops on this environment", body = ErrorBody),
        (status = 404, description = "No such enrollment token in this environment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "ops on the environment"])))
)]
#[delete("/environments/{environment}/enrollment-tokens/{id}")]
pub async fn revoke_enrollment_token(
    operator: OperateEnvironment,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parameter("id", Uuid::parse_str(&path.1))?;
    revoke(&operator, &from, id, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes enrollment token `id`, audited: for the API and the console.
///
/// # Errors
/// [`ApiError::EnrollmentTokenNotFound`] for a token not of the operator's environment, store
/// errors.
pub(crate) async fn revoke(
    operator: &OperateEnvironment,
    from: &RequestOrigin,
    id: Uuid,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let audit = from
        .record(
            operator.access(),
            AuditAction::EnrollmentTokenRevoke,
            format!("enrollment-token:{id}"),
            now,
        )
        .in_environment(operator.environment().as_str());
    operator
        .devices()
        .revoke_enrollment_token(id, now, &audit)
        .await?;
    Ok(())
}

/// Enrolls a machine: it sends an enrollment token and the public half of a key it made
/// itself, and gets its device id and the server's key sets to pin. It signs every later
/// request with its key.
#[utoipa::path(
    tag = "agent",
    request_body = EnrollRequest,
    responses(
        (status = 201, description = "Enrolled", body = Enrollment),
        (status = 401, description = "The enrollment token is unknown, expired, used up or revoked", body = ErrorBody),
        (status = 409, description = "A machine with this public key is enrolled already", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[post("/agent/enroll")]
pub async fn enroll(
    anyone: Anonymous,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(request): ApiJson<EnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    if decode_public_key(&request.public_key).is_err() {
        return Err(ApiError::Invalid(vec![FieldProblem {
            path: "public_key".into(),
            message: "must be an Ed25519 public key: 32 bytes in base64url".into(),
        }]));
    }
    let now = state.clock.now();
    let admitting = anyone.enrollment_token(request.token.as_str(), now).await?;
    let token = admitting.token();
    let device = DeviceRecord {
        id: Uuid::new_v4(),
        public_key: request.public_key,
        hostname: request.hostname.as_str().to_owned(),
        os: request.os.as_str().to_owned(),
        username: request.user.as_str().to_owned(),
        environment: token.environment.clone(),
        machine_role: token.machine_role.clone(),
        enrollment_token: token.id,
        enrolled_at: now,
        last_seen_at: None,
        revoked_at: None,
        labels: token.labels.clone(),
        last_report: None,
    };
    let audit = from
        .by_device(device.id)
        .record(
            AuditAction::DeviceEnroll,
            format!("device:{}", device.id),
            now,
        )
        .in_environment(device.environment.as_str())
        .for_role(Some(device.machine_role.as_str()))
        .with_detail("enrollment_token", token.id.to_string())
        .with_detail("hostname", device.hostname.as_str())
        .with_detail("os", device.os.as_str())
        .with_detail("user", device.username.as_str());
    anyone
        .enroll_device(&admitting, &device, now, &audit)
        .await?;
    tracing::info!(device = %device.id, hostname = %device.hostname, environment = %device.environment, "machine enrolled");
    Ok(HttpResponse::Created().json(Enrollment {
        device_id: device.id,
        environment: device.environment.to_string(),
        machine_role: device.machine_role.to_string(),
        key_sets: anyone.key_sets(0).await?,
    }))
}
