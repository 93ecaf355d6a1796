//! API tokens for scripts and CI: they act with their owner's permissions, are shown once,
//! kept as a hash, and revoked by their owner or an admin.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;
use switchyard_proto::{ApiToken, AuditAction, CreatedApiToken, ErrorBody, NewApiToken};
use time::Duration;
use uuid::Uuid;

use super::capability::Authenticated;
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::AppState;
use crate::auth::{secret, Credential};
use crate::domain::identity::ApiTokenRecord;

/// Query of `GET /api/v1/tokens`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TokenListQuery {
    /// Everyone's tokens instead of the caller's (admins and auditors only).
    #[serde(default)]
    pub all: bool,
}

/// Creates an API token for the caller. Needs a login session: a token cannot make tokens.
#[utoipa::path(
    tag = "tokens",
    request_body = NewApiToken,
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedApiToken),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["authenticated"])))
)]
#[post("/tokens")]
pub async fn create_token(
    caller: Authenticated,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(new): ApiJson<NewApiToken>,
) -> Result<HttpResponse, ApiError> {
    let created = issue(&caller, &from, new, state.clock.now()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(created))
}

/// Makes an API token for `caller`, audited, and its secret (shown this once): for the API and
/// the console.
///
/// # Errors
/// [`ApiError::SessionRequired`] when called with an API token, [`ApiError::Invalid`] for
/// `expires_in_days` outside 1 to 365, store errors.
pub(crate) async fn issue(
    caller: &Authenticated,
    from: &RequestOrigin,
    new: NewApiToken,
    now: time::OffsetDateTime,
) -> Result<CreatedApiToken, ApiError> {
    let access = caller.access();
    if matches!(access.credential, Credential::ApiToken { .. }) {
        return Err(ApiError::SessionRequired(
            "API tokens are created from a login session, not with another token".into(),
        ));
    }
    if !(1..=365).contains(&new.expires_in_days) {
        return Err(ApiError::Invalid(vec![switchyard_proto::FieldProblem {
            path: "expires_in_days".into(),
            message: "must be between 1 and 365".into(),
        }]));
    }
    let secret = secret::generate(secret::API_TOKEN_PREFIX);
    let record = ApiTokenRecord {
        id: Uuid::new_v4(),
        owner_id: access.user.id,
        owner: access.user.username.clone(),
        name: new.name,
        token_hash: secret::digest(&secret),
        created_at: now,
        expires_at: now + Duration::days(i64::from(new.expires_in_days)),
        revoked_at: None,
    };
    let audit = from
        .record(
            access,
            AuditAction::TokenCreate,
            format!("token:{}", record.id),
            now,
        )
        .with_detail("name", record.name.as_str())
        .with_detail("expires_at", record.expires_at.to_string());
    caller.tokens().create(&record, &audit).await?;
    tracing::info!(owner = %record.owner, token = %record.id, "API token created");
    Ok(CreatedApiToken {
        token: record.to_wire(),
        secret,
    })
}

/// The caller's API tokens, newest first; with `all=true`, everyone's (admins and auditors).
#[utoipa::path(
    tag = "tokens",
    params(TokenListQuery),
    responses(
        (status = 200, description = "API tokens, newest first", body = [ApiToken]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "all=true without the admin or auditor role", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["authenticated"])))
)]
#[get("/tokens")]
pub async fn list_tokens(
    caller: Authenticated,
    query: web::Query<TokenListQuery>,
) -> Result<HttpResponse, ApiError> {
    let tokens: Vec<ApiToken> = caller
        .tokens()
        .list(query.all)
        .await?
        .iter()
        .map(ApiTokenRecord::to_wire)
        .collect();
    Ok(HttpResponse::Ok().json(tokens))
}

/// Revokes an API token: the caller's own, or anyone's for an admin.
#[utoipa::path(
    tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such token among those the caller may revoke", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["authenticated"])))
)]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    caller: Authenticated,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parameter("id", Uuid::parse_str(&path))?;
    revoke(&caller, &from, id, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes API token `id` (the caller's own, or anyone's for an admin), audited: for the API
/// and the console.
///
/// # Errors
/// [`ApiError::ApiTokenNotFound`] for a token the caller may not revoke, store errors.
pub(crate) async fn revoke(
    caller: &Authenticated,
    from: &RequestOrigin,
    id: Uuid,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let access = caller.access();
    let tokens = caller.tokens();
    let token = tokens.get(id).await?;
    let audit = from
        .record(
            access,
            AuditAction::TokenRevoke,
            format!("token:{}", token.id),
            now,
        )
        .with_detail("owner", token.owner.to_string());
    tokens.revoke(token.id, now, &audit).await?;
    tracing::info!(by = %access.user.username, token = %id, "API token revoked");
    Ok(())
}
