//! An environment's machines: each with its last report (health, applied versions), how far
//! published versions have spread, the endpoints' health as machines probe them, and the
//! enrollment tokens machines join with. The API's own functions, from pages.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use switchyard_proto::devices::{
    CreatedEnrollmentToken, DeviceStatus, EndpointHealth, EnrollmentToken, NewEnrollmentToken,
    VersionSpread,
};
use switchyard_proto::rollouts::Labels;
use switchyard_proto::{EnvironmentName, MachineRoleName};
use time::OffsetDateTime;
use uuid::Uuid;

use super::form::Form;
use super::page::{render, render_with, see_other, Console, Frame, Moment, PageError, Problems};
use crate::http::capability::{OperateEnvironment, ReadEnvironment};
use crate::http::error::ApiError;
use crate::http::origin::{forwarded, RequestOrigin};
use crate::http::{devices, enrollment, AppState};

/// A machine as listed.
struct MachineRow {
    status: DeviceStatus,
    enrolled: Moment,
    last_seen: Option<Moment>,
    reported: Option<Moment>,
    labels: String,
}

/// `/environments/{environment}/machines`.
#[derive(Template)]
#[template(path = "console/machines.html")]
struct MachinesPage {
    frame: Frame,
    environment: EnvironmentName,
    operates: bool,
    machines: Vec<MachineRow>,
    spread: VersionSpread,
    endpoints: Vec<EndpointHealth>,
}

/// `GET /environments/{environment}/machines`.
pub async fn list(
    Console(reader): Console<ReadEnvironment>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let records = reader.devices().devices().await?;
    let spread = devices::spread_of(&reader, &records).await?;
    let endpoints = devices::health_of(&reader, &records).endpoints;
    let machines = records
        .iter()
        .map(devices::status)
        .map(|status| MachineRow {
            enrolled: Moment::of(status.device.enrolled_at),
            last_seen: status.device.last_seen_at.map(Moment::of),
            reported: status.reported_at.map(Moment::of),
            labels: status.device.labels.to_string(),
            status,
        })
        .collect();
    let access = reader.access();
    render(&MachinesPage {
        frame: Frame::new(&request, Some(access), "environments"),
        operates: access.can_operate(reader.environment()),
        environment: reader.environment().clone(),
        machines,
        spread,
        endpoints,
    })
}

/// `POST /environments/{environment}/machines/{id}/revoke`.
pub async fn revoke(
    Console(operator): Console<OperateEnvironment>,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    _posted: Form,
) -> Result<HttpResponse, PageError> {
    let id = ApiError::parameter("id", Uuid::parse_str(&path.1))?;
    devices::revoke(&operator, &from, id, state.clock.now()).await?;
    Ok(see_other(&format!(
        "/environments/{}/machines",
        operator.environment()
    )))
}

/// A token as listed.
struct TokenRow {
    token: EnrollmentToken,
    labels: String,
    created: Moment,
    expires: Moment,
    /// Whether machines may still enroll with it.
    usable: bool,
}

/// `/environments/{environment}/enrollment-tokens`.
#[derive(Template)]
#[template(path = "console/enrollment_tokens.html")]
struct TokensPage {
    frame: Frame,
    environment: EnvironmentName,
    roles: Vec<String>,
    tokens: Vec<TokenRow>,
    /// The token just made, its secret shown this once.
    created: Option<CreatedEnrollmentToken>,
    /// This server's address as the browser reached it, for the agent's `--server`.
    server_url: String,
    /// The form as sent, and its problems.
    form: TokenForm,
}

/// The new-token form's values and problems.
#[derive(Default)]
struct TokenForm {
    machine_role: String,
    expires_in_hours: String,
    max_uses: String,
    labels: String,
    problems: Problems,
}

/// The tokens page at `now`, with the token just `created` and the new-token `form`.
async fn tokens_page(
    operator: &OperateEnvironment,
    request: &HttpRequest,
    now: OffsetDateTime,
    created: Option<CreatedEnrollmentToken>,
    form: TokenForm,
) -> Result<HttpResponse, PageError> {
    let status = match created {
        Some(_) => StatusCode::CREATED,
        None => form.problems.status(),
    };
    let tokens = operator
        .devices()
        .enrollment_tokens()
        .await?
        .iter()
        .map(|record| {
            let token = record.to_wire();
            TokenRow {
                labels: token.labels.to_string(),
                created: Moment::of(token.created_at),
                expires: Moment::of(token.expires_at),
                usable: token.revoked_at.is_none()
                    && token.expires_at > now
                    && token.uses < token.max_uses,
                token,
            }
        })
        .collect();
    let roles = operator
        .machine_roles()
        .await?
        .into_iter()
        .map(|role| role.name.to_string())
        .collect();
    render_with(
        status,
        &TokensPage {
            frame: Frame::new(request, Some(operator.access()), "environments"),
            environment: operator.environment().clone(),
            roles,
            tokens,
            created,
            server_url: server_url(request),
            form: TokenForm {
                expires_in_hours: match form.expires_in_hours.is_empty() {
                    true => "24".into(),
                    false => form.expires_in_hours,
                },
                max_uses: match form.max_uses.is_empty() {
                    true => "1".into(),
                    false => form.max_uses,
                },
                ..form
            },
        },
    )
}

/// The address the browser reached this server at, which is the one a machine on the same
/// network enrolls with: a trusted proxy's `X-Forwarded-Proto` and `-Host`, else the request's
/// own `Host` (HTTP/1.1) or authority (HTTP/2); `SERVER` when none is a plain host[:port].
fn server_url(request: &HttpRequest) -> String {
    let scheme = match super::session::over_tls(request) {
        true => "https",
        false => "http",
    };
    let host = forwarded(request, "x-forwarded-host")
        .or_else(|| {
            let host = request.headers().get(actix_web::http::header::HOST)?;
            host.to_str().ok().map(str::to_owned)
        })
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.to_string())
        })
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or_else(|| "SERVER".to_owned());
    format!("{scheme}://{host}")
}

/// `GET /environments/{environment}/enrollment-tokens`.
pub async fn tokens(
    Console(operator): Console<OperateEnvironment>,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    tokens_page(&operator, &request, now, None, TokenForm::default()).await
}

/// `POST /environments/{environment}/enrollment-tokens`: the page again, the new token's secret
/// on it this once (never in an address, never again).
pub async fn create_token(
    Console(operator): Console<OperateEnvironment>,
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let mut form = TokenForm {
        machine_role: posted.text("machine_role").trim().to_owned(),
        expires_in_hours: posted.text("expires_in_hours").trim().to_owned(),
        max_uses: posted.text("max_uses").trim().to_owned(),
        labels: posted.text("labels").trim().to_owned(),
        problems: Problems::default(),
    };
    let problems = &mut form.problems;
    let read = (
        problems.check(
            "machine_role",
            MachineRoleName::parse(form.machine_role.as_str()),
        ),
        problems.number("expires_in_hours", &form.expires_in_hours),
        problems.number("max_uses", &form.max_uses),
        problems.check("labels", form.labels.parse::<Labels>()),
    );
    let (Some(machine_role), Some(expires_in_hours), Some(max_uses), Some(labels)) = read else {
        return tokens_page(&operator, &request, now, None, form).await;
    };
    let new = NewEnrollmentToken {
        machine_role,
        expires_in_hours,
        max_uses,
        labels,
    };
    match enrollment::issue(&operator, &from, &new, now).await {
        Ok(created) => {
            tokens_page(
                &operator,
                &request,
                now,
                Some(created),
                TokenForm::default(),
            )
            .await
        }
        Err(error) => {
            form.problems = Problems::of(error)?;
            tokens_page(&operator, &request, now, None, form).await
        }
    }
}

/// `POST /environments/{environment}/enrollment-tokens/{id}/revoke`.
pub async fn revoke_token(
    Console(operator): Console<OperateEnvironment>,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    _posted: Form,
) -> Result<HttpResponse, PageError> {
    let id = ApiError::parameter("id", Uuid::parse_str(&path.1))?;
    enrollment::revoke(&operator, &from, id, state.clock.now()).await?;
    Ok(see_other(&format!(
        "/environments/{}/enrollment-tokens",
        operator.environment()
    )))
}
