//! The one API error type and its one mapping to HTTP: every error answer the server gives is
//! built here, as `{"error": {"code": ..., "message": ...}}` with a stable code.

use std::fmt::{self, Write as _};

use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use switchyard_proto::{ErrorBody, ErrorDetail, FieldProblem};

use super::request_id;
use crate::store::StoreError;

/// Everything an API request can fail with.
#[derive(thiserror::Error)]
pub enum ApiError {
    /// No route has this path.
    #[error("no endpoint at {path}; see /api/v1/openapi.json for the API")]
    RouteNotFound { path: String },
    /// The route exists but not for this method.
    #[error("{method} is not allowed on {path}; use {}", list_methods(.allowed))]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: Vec<Method>,
    },
    /// A method no route anywhere takes.
    #[error("method {method} is not supported by this server")]
    UnknownMethod { method: String },
    /// The body is not JSON at all.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but some fields are wrong.
    #[error("the request is invalid: {}", summarize(.0))]
    Invalid(Vec<FieldProblem>),
    /// A path or query parameter is wrong.
    #[error("parameter {name} is invalid: {problem}")]
    InvalidParameter { name: String, problem: String },
    /// The body is larger than the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes (setting max_body_bytes)")]
    PayloadTooLarge { limit: usize },
    /// The body is not declared as JSON.
    #[error("the request body must be JSON: send Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body could not be read from the connection.
    #[error("the request body could not be read: {0}")]
    BodyUnreadable(String),
    /// An error status produced outside our handlers, with no better description.
    #[error("{}", .0.canonical_reason().unwrap_or("request failed"))]
    Status(StatusCode),
    /// No credentials, or credentials that prove nothing.
    #[error("{0}")]
    Unauthenticated(String),
    /// The access token has expired.
    #[error(
        "the access token has expired; refresh it at POST /api/v1/auth/refresh or log in again"
    )]
    TokenExpired,
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown user or wrong password: the same answer for both.
    #[error("unknown username or wrong password")]
    InvalidCredentials,
    /// Too many failed logins.
    #[error("too many failed logins; try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    /// A refresh token was presented a second time: its session has been ended.
    #[error("this refresh token was already used, so its session has been ended; log in again")]
    RefreshTokenReused,
    /// The call needs a login session, not an API token.
    #[error("{0}")]
    SessionRequired(String),
    /// No user has this name.
    #[error("user {0} does not exist")]
    UserNotFound(String),
    /// The username is taken.
    #[error("user {0} already exists; pick another name")]
    UserExists(String),
    /// No API token has this id (or it is not the caller's).
    #[error("API token {0} does not exist")]
    ApiTokenNotFound(String),
    /// The change would leave no enabled administrator.
    #[error("this would leave no enabled administrator; make someone else admin first")]
    LastAdmin,
    /// No machine role has this name.
    #[error("machine role {0} does not exist")]
    MachineRoleNotFound(String),
    /// The machine role name is taken.
    #[error("machine role {0} already exists; pick another name")]
    MachineRoleExists(String),
    /// No such profile version.
    #[error("version {0} does not exist")]
    VersionNotFound(u64),
    /// The draft changed since the caller read it.
    #[error("the draft changed since you read it: it is at revision {current}; read it again and redo your change")]
    StaleDraft { current: u64 },
    /// Someone published since the caller read the versions.
    #[error("someone published since you read this profile: the latest version is {latest}; read it again")]
    StaleVersion { latest: u64 },
    /// A write without the version it was based on.
    #[error("{0}")]
    PreconditionRequired(String),
    /// The draft holds edits nobody published; replacing it would lose them.
    #[error("the draft holds unpublished edits (revision {revision}); publish them, or save the latest version's content as the draft, first")]
    DraftHasEdits { revision: u64 },
    /// The draft holds nothing new to publish.
    #[error("{0}")]
    NoChanges(String),
    /// No such change request.
    #[error("change request {0} does not exist")]
    ChangeRequestNotFound(String),
    /// The change request was decided or has expired.
    #[error("change request {0} is no longer open (decided or expired)")]
    ChangeRequestClosed(String),
    /// The proposer tried to approve their own change.
    #[error("you proposed this change; a second person with ops on the environment (or an admin) must approve it")]
    OwnChangeRequest,
    /// No rollout has this id in this environment.
    #[error("rollout {0} does not exist in this environment")]
    RolloutNotFound(String),
    /// A rollout is in progress where the change would go.
    #[error(
        "rollout {0} is in progress in this environment; promote it to the end or abort it first"
    )]
    RolloutInProgress(String),
    /// The rollout moved since the caller read it.
    #[error(
        "rollout {0} moved since you read it (its gate or someone else moved it); read it again"
    )]
    RolloutMoved(String),
    /// The rollout's state does not allow the move.
    #[error("{0}")]
    RolloutState(String),
    /// A rollout or an override of a profile with no version yet.
    #[error("a profile's first version goes to every machine for good: a rollout or an override needs a previous version to keep the others on or to come back to")]
    NeedsPreviousVersion,
    /// A rollout of a profile an override stands over.
    #[error("an override stands over this profile: publish without a rollout (which supersedes it), or roll out after it ended")]
    OverrideActive,
    /// The person who asked for a promotion tried to confirm it.
    #[error("you asked for this promotion; in a protected environment a second person with ops on the environment (or an admin) must confirm it")]
    OwnPromotionRequest,
    /// No environment has this name.
    #[error("environment {0} does not exist")]
    EnvironmentNotFound(String),
    /// The variable is not allowed in this environment.
    #[error("{0} is not allowed in this environment")]
    AllowanceNotFound(String),
    /// An allowance withdrawn while a profile sets its variable.
    #[error("{0}")]
    VariableInUse(String),
    /// The environment name is taken.
    #[error("environment {0} already exists; pick another name")]
    EnvironmentExists(String),
    /// No enrollment token has this id in this environment.
    #[error("enrollment token {0} does not exist in this environment")]
    EnrollmentTokenNotFound(String),
    /// An enrollment token that is unknown, expired, used up or revoked.
    #[error("{0}")]
    EnrollmentTokenInvalid(String),
    /// A machine with this public key is enrolled already.
    #[error(
        "a machine with this public key is enrolled already; generate a new key to enroll again"
    )]
    DeviceExists,
    /// No enrolled machine has this id.
    #[error("device {0} does not exist")]
    DeviceNotFound(String),
    /// A machine's request whose signature does not prove who sent it, or proves a replay.
    #[error("{0}")]
    DeviceUnauthenticated(String),
    /// A revoked machine.
    #[error("this machine's enrollment was revoked; enroll it again with a new token")]
    DeviceRevoked,
    /// The machine was moved or revoked, or what it is sent changed, while its request was
    /// being answered.
    #[error("this machine was moved or revoked, or a rollout moved, while it asked; ask again")]
    DeviceChanged,
    /// Two signing-key rotations at once; one of them won.
    #[error("another rotation made signing key version {0} at the same moment; list the keys before rotating again")]
    RotationRace(u64),
    /// The database does not answer.
    #[error("the database is unavailable; try again shortly")]
    DatabaseUnavailable(#[source] StoreError),
    /// A bug or an unexpected failure: details go to the log, not to the client.
    #[error("internal error; the server log has the details under this request id")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The stable, machine-readable code and the HTTP status of each error: the one table.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            ApiError::RouteNotFound { .. } => ("route_not_found", StatusCode::NOT_FOUND),
            ApiError::MethodNotAllowed { .. } => {
                ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED)
            }
            ApiError::UnknownMethod { .. } => {
                ("method_not_implemented", StatusCode::NOT_IMPLEMENTED)
            }
            ApiError::MalformedJson(_) => ("malformed_json", StatusCode::BAD_REQUEST),
            ApiError::Invalid(_) => ("validation_failed", StatusCode::UNPROCESSABLE_ENTITY),
            ApiError::InvalidParameter { .. } => ("invalid_parameter", StatusCode::BAD_REQUEST),
            ApiError::PayloadTooLarge { .. } => {
                ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE)
            }
            ApiError::UnsupportedMediaType => {
                ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            ApiError::BodyUnreadable(_) => ("body_unreadable", StatusCode::BAD_REQUEST),
            ApiError::Status(status) => (status_code_name(*status), *status),
            ApiError::Unauthenticated(_) => ("unauthenticated", StatusCode::UNAUTHORIZED),
            ApiError::TokenExpired => ("token_expired", StatusCode::UNAUTHORIZED),
            ApiError::Forbidden(_) => ("forbidden", StatusCode::FORBIDDEN),
            ApiError::InvalidCredentials => ("invalid_credentials", StatusCode::UNAUTHORIZED),
            ApiError::TooManyAttempts { .. } => {
                ("too_many_attempts", StatusCode::TOO_MANY_REQUESTS)
            }
            ApiError::RefreshTokenReused => ("refresh_token_reused", StatusCode::UNAUTHORIZED),
            ApiError::SessionRequired(_) => ("session_required", StatusCode::FORBIDDEN),
            ApiError::UserNotFound(_) => ("user_not_found", StatusCode::NOT_FOUND),
            ApiError::UserExists(_) => ("user_exists", StatusCode::CONFLICT),
            ApiError::ApiTokenNotFound(_) => ("api_token_not_found", StatusCode::NOT_FOUND),
            ApiError::LastAdmin => ("last_admin", StatusCode::CONFLICT),
            ApiError::MachineRoleNotFound(_) => ("machine_role_not_found", StatusCode::NOT_FOUND),
            ApiError::MachineRoleExists(_) => ("machine_role_exists", StatusCode::CONFLICT),
            ApiError::VersionNotFound(_) => ("version_not_found", StatusCode::NOT_FOUND),
            ApiError::StaleDraft { .. } => ("stale_draft", StatusCode::CONFLICT),
            ApiError::StaleVersion { .. } => ("stale_version", StatusCode::CONFLICT),
            ApiError::PreconditionRequired(_) => {
                ("precondition_required", StatusCode::PRECONDITION_REQUIRED)
            }
            ApiError::NoChanges(_) => ("no_changes", StatusCode::CONFLICT),
            ApiError::DraftHasEdits { .. } => ("draft_has_edits", StatusCode::CONFLICT),
            ApiError::ChangeRequestNotFound(_) => {
                ("change_request_not_found", StatusCode::NOT_FOUND)
            }
            ApiError::ChangeRequestClosed(_) => ("change_request_closed", StatusCode::CONFLICT),
            ApiError::OwnChangeRequest => ("four_eyes_required", StatusCode::FORBIDDEN),
            ApiError::RolloutNotFound(_) => ("rollout_not_found", StatusCode::NOT_FOUND),
            ApiError::RolloutInProgress(_) => ("rollout_in_progress", StatusCode::CONFLICT),
            ApiError::RolloutMoved(_) => ("rollout_moved", StatusCode::CONFLICT),
            ApiError::RolloutState(_) => ("rollout_state", StatusCode::CONFLICT),
            ApiError::NeedsPreviousVersion => ("needs_previous_version", StatusCode::CONFLICT),
            ApiError::OwnPromotionRequest => ("four_eyes_required", StatusCode::FORBIDDEN),
            ApiError::OverrideActive => ("override_active", StatusCode::CONFLICT),
            ApiError::EnvironmentNotFound(_) => ("environment_not_found", StatusCode::NOT_FOUND),
            ApiError::AllowanceNotFound(_) => ("allowance_not_found", StatusCode::NOT_FOUND),
            ApiError::VariableInUse(_) => ("variable_in_use", StatusCode::CONFLICT),
            ApiError::EnvironmentExists(_) => ("environment_exists", StatusCode::CONFLICT),
            ApiError::RotationRace(_) => ("rotation_race", StatusCode::CONFLICT),
            ApiError::EnrollmentTokenNotFound(_) => {
                ("enrollment_token_not_found", StatusCode::NOT_FOUND)
            }
            ApiError::EnrollmentTokenInvalid(_) => {
                ("enrollment_token_invalid", StatusCode::UNAUTHORIZED)
            }
            ApiError::DeviceExists => ("device_exists", StatusCode::CONFLICT),
            ApiError::DeviceNotFound(_) => ("device_not_found", StatusCode::NOT_FOUND),
            ApiError::DeviceUnauthenticated(_) => {
                ("device_unauthenticated", StatusCode::UNAUTHORIZED)
            }
            ApiError::DeviceRevoked => ("device_revoked", StatusCode::UNAUTHORIZED),
            ApiError::DeviceChanged => ("device_changed", StatusCode::CONFLICT),
            ApiError::DatabaseUnavailable(_) => {
                ("database_unavailable", StatusCode::SERVICE_UNAVAILABLE)
            }
            ApiError::Internal(_) => ("internal_error", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// A path or query parameter read with `parsed`: its error becomes an
    /// [`ApiError::InvalidParameter`] naming the parameter.
    pub fn parameter<T, E: fmt::Display>(name: &str, parsed: Result<T, E>) -> Result<T, ApiError> {
        parsed.map_err(|e| ApiError::InvalidParameter {
            name: name.to_owned(),
            problem: e.to_string(),
        })
    }

    /// The `{environment}` path parameter as an environment's name.
    pub fn environment_parameter(
        text: &str,
    ) -> Result<switchyard_proto::EnvironmentName, ApiError> {
        Self::parameter(
            "environment",
            switchyard_proto::EnvironmentName::parse(text),
        )
    }

    /// The JSON body sent for this error.
    pub fn body(&self) -> ErrorBody {
        let (code, _) = self.code_and_status();
        let problems = match self {
            ApiError::Invalid(problems) => problems.clone(),
            _ => Vec::new(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.to_string(),
                request_id: request_id::current(),
                problems,
            },
        }
    }
}

fn list_methods(methods: &[Method]) -> String {
    let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    names.join(", ")
}

fn summarize(problems: &[FieldProblem]) -> String {
    let mut text = String::new();
    for (i, problem) in problems.iter().enumerate() {
        let separator = if i == 0 { "" } else { "; " };
        let _ = write!(text, "{separator}{}: {}", problem.path, problem.message);
    }
    text
}

pub(crate) fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        status if status.is_server_error() => "internal_error",
        _ => "request_failed",
    }
}

/// Keeps the whole cause chain for the log while the client sees the short message.
impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{self}")?;
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            writeln!(f, "caused by: {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// `Retry-After` (seconds) on a 503 for a database that does not answer: about the pool's
/// connect timeout, so a client coming back then finds the server reconnected or fails fast
/// again (RFC 9110 §10.2.3).
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code_and_status().1
    }

    fn error_response(&self) -> HttpResponse {
        let (code, status) = self.code_and_status();
        if status.is_server_error() {
            tracing::error!(code, error = ?self, "request failed");
        } else {
            tracing::debug!(code, error = %self, "request refused");
        }
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::MethodNotAllowed { allowed, .. } => {
                response.insert_header((header::ALLOW, list_methods(allowed)));
            }
            ApiError::TooManyAttempts { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::DatabaseUnavailable(_) => {
                response
                    .insert_header((header::RETRY_AFTER, DATABASE_RETRY_AFTER_SECS.to_string()));
            }
            ApiError::DeviceUnauthenticated(_) | ApiError::DeviceRevoked => {
                response.insert_header((header::WWW_AUTHENTICATE, "Device"));
            }
            _ if status == StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EnvironmentNotFound(name) => {
                ApiError::EnvironmentNotFound(name.to_string())
            }
            StoreError::EnvironmentExists(name) => ApiError::EnvironmentExists(name.to_string()),
            StoreError::UserNotFound(name) => ApiError::UserNotFound(name),
            StoreError::UserExists(name) => ApiError::UserExists(name.to_string()),
            StoreError::LastAdmin => ApiError::LastAdmin,
            StoreError::RefreshTokenSpent => ApiError::RefreshTokenReused,
            StoreError::ApiTokenNotFound(id) => ApiError::ApiTokenNotFound(id.to_string()),
            StoreError::MachineRoleNotFound(name) => {
                ApiError::MachineRoleNotFound(name.to_string())
            }
            StoreError::MachineRoleExists(name) => ApiError::MachineRoleExists(name.to_string()),
            StoreError::VersionNotFound(version) => ApiError::VersionNotFound(version),
            StoreError::StaleDraft { current } => ApiError::StaleDraft { current },
            StoreError::VersionTaken(latest) => ApiError::StaleVersion { latest },
            StoreError::ChangeRequestNotFound(id) => {
                ApiError::ChangeRequestNotFound(id.to_string())
            }
            StoreError::ChangeRequestClosed(id) => ApiError::ChangeRequestClosed(id.to_string()),
            StoreError::SigningKeyTaken(version) => ApiError::RotationRace(version),
            StoreError::EnrollmentTokenNotFound(id) => {
                ApiError::EnrollmentTokenNotFound(id.to_string())
            }
            StoreError::EnrollmentTokenSpent => ApiError::EnrollmentTokenInvalid(
                "the enrollment token no longer admits machines (expired, used up or revoked)"
                    .into(),
            ),
            StoreError::DeviceKeyTaken => ApiError::DeviceExists,
            StoreError::DeviceNotFound(id) => ApiError::DeviceNotFound(id.to_string()),
            StoreError::NonceReused => ApiError::DeviceUnauthenticated(
                "this request was seen before (its nonce is spent): a replay".into(),
            ),
            StoreError::RolloutNotFound(id) => ApiError::RolloutNotFound(id.to_string()),
            StoreError::RolloutInProgress(id) => ApiError::RolloutInProgress(id.to_string()),
            StoreError::RolloutMoved(id) => ApiError::RolloutMoved(id.to_string()),
            StoreError::AllowanceNotFound(name) => ApiError::AllowanceNotFound(name),
            error if error.is_unavailable() => ApiError::DatabaseUnavailable(error),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<crate::keys::KeysError> for ApiError {
    fn from(error: crate::keys::KeysError) -> Self {
        match error {
            crate::keys::KeysError::Store(error) => error.into(),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<crate::publishing::PublishingError> for ApiError {
    fn from(error: crate::publishing::PublishingError) -> Self {
        use crate::publishing::PublishingError as E;
        match error {
            E::Invalid(problems) => ApiError::Invalid(problems),
            E::DraftNeverEdited | E::DraftEqualsVersion(_) | E::NothingToRollBack { .. } => {
                ApiError::NoChanges(error.to_string())
            }
            E::StaleDraft { current } => ApiError::StaleDraft { current },
            E::StaleVersion { latest } => ApiError::StaleVersion { latest },
            E::DraftHasEdits { revision } => ApiError::DraftHasEdits { revision },
            E::VersionNotFound(version) => ApiError::VersionNotFound(version),
            E::ChangeRequestClosed(id) => ApiError::ChangeRequestClosed(id.to_string()),
            E::OwnChangeRequest => ApiError::OwnChangeRequest,
            E::RolloutState(refused) => ApiError::RolloutState(refused.to_string()),
            E::NoPreviousVersion => ApiError::NeedsPreviousVersion,
            E::BadEnd(bad) => ApiError::Invalid(vec![FieldProblem {
                path: "until".into(),
                message: format!("{bad}; an override that is due can no longer start"),
            }]),
            E::OwnPromotionRequest => ApiError::OwnPromotionRequest,
            E::OverrideActive => ApiError::OverrideActive,
            E::VariableInUse { .. } => ApiError::VariableInUse(error.to_string()),
            E::Store(error) => error.into(),
            E::Document(error) => ApiError::Internal(Box::new(error)),
        }
    }
}

impl From<crate::delivery::DeliveryError> for ApiError {
    fn from(error: crate::delivery::DeliveryError) -> Self {
        use crate::delivery::DeliveryError as E;
        match error {
            E::DeviceChanged | E::RolloutMoving => ApiError::DeviceChanged,
            E::Keys(error) => error.into(),
            E::Store(error) => error.into(),
            E::Document(error) => ApiError::Internal(Box::new(error)),
        }
    }
}
