//! The change-request queue of a protected environment: what each request changes, side by
//! side, and approving or rejecting it, by the API's four-eyes rules (the proposer is shown no
//! way to decide their own request, and the API refuses one anyway).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use switchyard_proto::{ChangeMessage, ChangeRequest, ChangeRequestStatus, EnvironmentName};
use uuid::Uuid;

use super::form::Form;
use super::page::{render, see_other, Console, Frame, Moment, PageError};
use crate::http::capability::{OperateEnvironment, ReadEnvironment};
use crate::http::error::ApiError;
use crate::http::origin::RequestOrigin;
use crate::http::AppState;

/// A request as listed.
struct RequestView {
    request: ChangeRequest,
    created: Moment,
    expires: Moment,
    /// Whether the viewer may decide it: ops here, not its proposer, still open.
    decides: bool,
    /// Whether the viewer proposed it.
    mine: bool,
    /// How it ended, in words.
    outcome: &'static str,
}

/// `/environments/{environment}/change-requests`.
#[derive(Template)]
#[template(path = "console/change_requests.html")]
struct QueuePage {
    frame: Frame,
    environment: EnvironmentName,
    protected: bool,
    open: Vec<RequestView>,
    decided: Vec<RequestView>,
}

/// `GET /environments/{environment}/change-requests`.
pub async fn queue(
    Console(reader): Console<ReadEnvironment>,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let environment = reader.details().await?;
    let access = reader.access();
    let operates = access.can_operate(&environment.name);
    let me = access.user.username.to_string();
    let (open, decided): (Vec<RequestView>, Vec<RequestView>) = reader
        .profiles()
        .change_requests()
        .await?
        .into_iter()
        .map(|request| RequestView {
            created: Moment::of(request.created_at),
            expires: Moment::of(request.expires_at),
            decides: operates
                && request.status == ChangeRequestStatus::Open
                && request.expires_at > now
                && request.proposer != me,
            mine: request.proposer == me,
            outcome: match request.status {
                ChangeRequestStatus::Open => "waiting",
                ChangeRequestStatus::Approved => "approved",
                ChangeRequestStatus::Rejected => "rejected",
                ChangeRequestStatus::Expired => "expired",
            },
            request,
        })
        .partition(|view| view.request.status == ChangeRequestStatus::Open);
    render(&QueuePage {
        frame: Frame::new(&request, Some(access), "environments"),
        environment: environment.name,
        protected: environment.protected,
        open,
        decided,
    })
}

/// The id in the path and the reason in the form.
fn decision(path: &(String, String), posted: &Form) -> Result<(Uuid, ChangeMessage), PageError> {
    let id = ApiError::parameter("id", Uuid::parse_str(&path.1))?;
    let reason = ChangeMessage::parse(posted.text("reason").trim()).map_err(|error| {
        PageError::Api(ApiError::Invalid(vec![switchyard_proto::FieldProblem {
            path: "reason".into(),
            message: error.to_string(),
        }]))
    })?;
    Ok((id, reason))
}

/// `POST /environments/{environment}/change-requests/{id}/approve`: publishes it; the browser
/// goes to the new version's difference from the one before.
pub async fn approve(
    Console(operator): Console<OperateEnvironment>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let (id, reason) = decision(&path, &posted)?;
    let (target, version) = operator
        .profiles(&from)
        .approve(id, reason.as_str())
        .await?;
    Ok(see_other(&format!(
        "/environments/{}/profiles/{target}/diff?from={}&to={}",
        operator.environment(),
        version.version.saturating_sub(1),
        version.version
    )))
}

/// `POST /environments/{environment}/change-requests/{id}/reject`.
pub async fn reject(
    Console(operator): Console<OperateEnvironment>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let (id, reason) = decision(&path, &posted)?;
    operator.profiles(&from).reject(id, reason.as_str()).await?;
    Ok(see_other(&format!(
        "/environments/{}/change-requests",
        operator.environment()
    )))
}
