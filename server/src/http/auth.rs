//! Logging in and out, refreshing a session, and who am I.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use switchyard_proto::{
    AuditAction, ErrorBody, LoginRequest, LogoutRequest, Outcome, RefreshRequest, TokenPair, User,
    Username,
};

use super::capability::{Anonymous, Authenticated, Presented};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::AppState;
use crate::auth::secret;
use crate::auth::throttle::Verdict;

/// Logs in with a username and password.
///
/// Unknown users and wrong passwords get the same answer in about the same time. Repeated
/// failures for one username or from one address are slowed down, then refused with 429 and
/// `Retry-After`.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Unknown username, wrong password or disabled account", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
        (status = 429, description = "Too many failed logins", body = ErrorBody),
    ),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[post("/auth/login")]
pub async fn login(
    anyone: Anonymous,
    state: web::Data<AppState>,
    request: HttpRequest,
    from: RequestOrigin,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let source = request.peer_addr().map(|address| address.ip());
    let now = state.clock.now();
    let pair = sign_in(&anyone, &from, source, &body, now).await?;
    Ok(token_response(pair))
}

/// Starts a session for the user of `credentials` when the password is right, for the API's login and the
/// console's sign-in alike: throttled per username and per `source` address, audited either way.
///
/// # Errors
/// [`ApiError::TooManyAttempts`] while throttled, [`ApiError::InvalidCredentials`] for an
/// unknown user, a wrong password or a disabled account (alike), store errors.
pub(crate) async fn sign_in(
    anyone: &Anonymous,
    from: &RequestOrigin,
    source: Option<std::net::IpAddr>,
    credentials: &LoginRequest,
    now: time::OffsetDateTime,
) -> Result<TokenPair, ApiError> {
    let name = credentials.username.as_str();
    // The attempt counts as a failure until it succeeds, so parallel guesses cannot all slip
    // past the check before any failure is recorded.
    match anyone.throttle().attempt(name, source, now) {
        Verdict::Refuse { retry_after_secs } => {
            return Err(ApiError::TooManyAttempts { retry_after_secs })
        }
        Verdict::Proceed(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
        Verdict::Proceed(_) => {}
    }
    // A disabled account answers like a wrong password, so a guesser learns nothing.
    let Some(proven) = anyone
        .check_password(name, credentials.password.as_str())
        .await?
    else {
        // Only a well-formed name is logged or recorded: a password typed into the name
        // field is not.
        let target = match Username::parse(name) {
            Ok(username) => {
                tracing::info!(%username, "login failed");
                format!("user:{username}")
            }
            Err(_) => {
                tracing::info!("login failed for a malformed username");
                "user:(malformed name)".to_owned()
            }
        };
        let failure = from
            .anonymous()
            .record(AuditAction::Login, target, now)
            .ended(Outcome::Failure);
        anyone.record_failed_login(&failure).await?;
        return Err(ApiError::InvalidCredentials);
    };
    anyone.throttle().succeeded(name, source);
    let user = proven.user();
    tracing::info!(username = %user.username, "logged in");
    let audit =
        from.by_user(user)
            .record(AuditAction::Login, format!("user:{}", user.username), now);
    anyone.start_session(&proven, now, &audit).await
}

/// Trades a refresh token for a new pair. Each refresh token works once; presenting one again
/// ends its whole session (someone else may hold a copy).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 401, description = "The refresh token is invalid, expired, revoked or reused", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[post("/auth/refresh")]
pub async fn refresh(
    anyone: Anonymous,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let pair = renew(
        &anyone,
        &from,
        body.refresh_token.as_str(),
        state.clock.now(),
    )
    .await?;
    Ok(token_response(pair))
}

/// Trades `refresh_token` for a new pair, for the API's refresh and the console's session
/// cookies alike. A token presented again ends its whole session, audited.
///
/// # Errors
/// [`ApiError::Unauthenticated`] for an unknown, expired or revoked token,
/// [`ApiError::RefreshTokenReused`] for a used one, store errors.
pub(crate) async fn renew(
    anyone: &Anonymous,
    from: &RequestOrigin,
    refresh_token: &str,
    now: time::OffsetDateTime,
) -> Result<TokenPair, ApiError> {
    let replayed = match anyone.present_refresh_token(refresh_token, now).await? {
        Presented::Fresh(proven) => {
            let audit = from.by_user(proven.user()).record(
                AuditAction::Refresh,
                format!("session:{}", proven.family()),
                now,
            );
            match anyone.continue_session(&proven, now, &audit).await? {
                Ok(pair) => return Ok(pair),
                Err(replayed) => replayed,
            }
        }
        Presented::Replayed(replayed) => replayed,
        Presented::Invalid => {
            return Err(ApiError::Unauthenticated(
                "the refresh token is not valid (unknown, expired or revoked); log in again".into(),
            ))
        }
    };
    // Whoever presents it may not be its owner: the event names nobody.
    let family = replayed.family();
    let audit = from
        .anonymous()
        .record(AuditAction::RefreshReused, format!("session:{family}"), now)
        .ended(Outcome::Failure);
    anyone.end_replayed_session(replayed, now, &audit).await?;
    tracing::warn!(%family, "a used refresh token was presented again; session ended");
    Err(ApiError::RefreshTokenReused)
}

/// Ends the session: the access token used for this call stops working at once and, when its
/// refresh token is given, the session cannot be refreshed either.
#[utoipa::path(
    tag = "auth",
    request_body = LogoutRequest,
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Called with an API token, which has no session", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["authenticated"])))
)]
#[post("/auth/logout")]
pub async fn logout(
    caller: Authenticated,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(body): ApiJson<LogoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let refresh_token = body.refresh_token.as_ref().map(|token| token.as_str());
    sign_out(&caller, &from, refresh_token, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends `caller`'s session, audited: its access token at once and, with `refresh_token`, the
/// session's refresh tokens too. For the API's logout and the console's sign-out alike.
///
/// # Errors
/// [`ApiError::SessionRequired`] for an API token, store errors.
pub(crate) async fn sign_out(
    caller: &Authenticated,
    from: &RequestOrigin,
    refresh_token: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let access = caller.access();
    let digest = refresh_token.map(secret::digest);
    let audit = from.record(
        access,
        AuditAction::Logout,
        format!("user:{}", access.user.username),
        now,
    );
    caller.end_session(digest.as_deref(), now, &audit).await?;
    tracing::info!(username = %access.user.username, "logged out");
    Ok(())
}

/// The caller: name, global role and grants.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["authenticated"])))
)]
#[get("/me")]
pub async fn me(caller: Authenticated) -> HttpResponse {
    let access = caller.access();
    HttpResponse::Ok().json(access.user.to_wire(access.grants.clone()))
}

/// Token answers must not be cached anywhere.
fn token_response(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(pair)
}
