//! An environment's rollouts, each with its current wave's gate as the machines' reports make
//! it now, moved by hand (promote, pause, resume, abort) with the API's own function, so a
//! promotion in a protected environment still waits for a second person; and its overrides.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use switchyard_proto::rollouts::{Override, Rollout, RolloutState};
use switchyard_proto::{ChangeMessage, EnvironmentName};
use uuid::Uuid;

use super::form::Form;
use super::page::{render_with, see_other, Console, Frame, Moment, PageError, Problems};
use crate::domain::rollouts::Move;
use crate::http::capability::{OperateEnvironment, ReadEnvironment};
use crate::http::error::ApiError;
use crate::http::origin::RequestOrigin;

/// A rollout as the page shows it.
struct RolloutView {
    rollout: Rollout,
    started: Moment,
    wave_started: Moment,
    updated: Moment,
    /// Its waves in words: `5% after 10 min, then 25% of site=office-b, ...`.
    waves: Vec<String>,
    /// The moves the viewer may make now: `promote`, `pause`, `resume`, `abort`.
    moves: Vec<&'static str>,
    /// Whether the page's problems are about a move of this rollout.
    refused: bool,
}

impl RolloutView {
    fn of(rollout: Rollout, operates: bool) -> Self {
        let waves = rollout
            .plan
            .waves
            .iter()
            .map(|wave| {
                let mut text = format!("{}%", wave.percent);
                if !wave.labels.is_empty() {
                    text.push_str(&format!(" of {}", wave.labels));
                }
                if !wave.machines.is_empty() {
                    text.push_str(&format!(" and {} named machines", wave.machines.len()));
                }
                text.push_str(&format!(
                    ", soaks {} min; gate: {} reported, at most {}% failed applies, {}% failed probes",
                    wave.soak_secs / 60,
                    wave.gate.min_reported,
                    wave.gate.max_failed_applies_percent,
                    wave.gate.max_failed_probes_percent
                ));
                text
            })
            .collect();
        let moves = match (operates, rollout.state) {
            (false, _) => Vec::new(),
            (true, RolloutState::Running) => vec!["promote", "pause", "abort"],
            (true, RolloutState::Paused | RolloutState::Halted) => {
                vec!["promote", "resume", "abort"]
            }
            (true, _) => Vec::new(),
        };
        Self {
            started: Moment::of(rollout.started_at),
            wave_started: Moment::of(rollout.wave_started_at),
            updated: Moment::of(rollout.updated_at),
            waves,
            moves,
            refused: false,
            rollout,
        }
    }
}

/// An override as the page shows it.
struct OverrideView {
    item: Override,
    ends: Moment,
    started: Moment,
}

/// `/environments/{environment}/rollouts`.
#[derive(Template)]
#[template(path = "console/rollouts.html")]
struct RolloutsPage {
    frame: Frame,
    environment: EnvironmentName,
    active: Vec<RolloutView>,
    ended: Vec<RolloutView>,
    overrides: Vec<OverrideView>,
    /// Why a move was refused, shown at its rollout.
    problems: Problems,
    /// Why a move was refused, when its rollout shows no form to say it at.
    elsewhere: Option<String>,
}

async fn rollouts_page(
    reader: &ReadEnvironment,
    request: &HttpRequest,
    refused: Option<Uuid>,
    problems: Problems,
) -> Result<HttpResponse, PageError> {
    let profiles = reader.profiles();
    let operates = reader.access().can_operate(reader.environment());
    let (active, ended): (Vec<_>, Vec<_>) = profiles
        .rollouts()
        .await?
        .into_iter()
        .map(|rollout| RolloutView {
            refused: refused == Some(rollout.id),
            ..RolloutView::of(rollout, operates)
        })
        .partition(|view| view.rollout.state.is_active());
    // A refused move of a rollout that shows no form (it ended meanwhile) is said above all.
    let elsewhere = refused
        .filter(|id| {
            !active
                .iter()
                .any(|view| view.rollout.id == *id && !view.moves.is_empty())
        })
        .and_then(|_| problems.all());
    let overrides = profiles
        .overrides()
        .await?
        .into_iter()
        .map(|item| OverrideView {
            ends: Moment::of(item.ends_at),
            started: Moment::of(item.started_at),
            item,
        })
        .collect();
    render_with(
        problems.status(),
        &RolloutsPage {
            frame: Frame::new(request, Some(reader.access()), "environments"),
            environment: reader.environment().clone(),
            active,
            ended,
            overrides,
            problems,
            elsewhere,
        },
    )
}

/// `GET /environments/{environment}/rollouts`.
pub async fn list(
    Console(reader): Console<ReadEnvironment>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    rollouts_page(&reader, &request, None, Problems::default()).await
}

/// `POST /environments/{environment}/rollouts/{id}/{move}`: `promote`, `pause`, `resume` or
/// `abort`, with a reason for the audit trail; back to the rollouts, or to them with the
/// move's problem at its rollout.
pub async fn move_by_hand(
    Console(operator): Console<OperateEnvironment>,
    request: HttpRequest,
    from: RequestOrigin,
    path: web::Path<(String, String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let requested = match path.2.as_str() {
        "promote" => Move::Promote,
        "pause" => Move::Pause,
        "resume" => Move::Resume,
        "abort" => Move::Abort,
        _ => return Err(PageError::Status(StatusCode::NOT_FOUND)),
    };
    let id = ApiError::parameter("id", Uuid::parse_str(&path.1))?;
    let mut problems = Problems::default();
    let moved = match problems.check("reason", ChangeMessage::parse(posted.text("reason").trim())) {
        Some(reason) => operator
            .profiles(&from)
            .move_rollout(id, requested, reason.as_str())
            .await
            .map(|_| ()),
        None => Ok(()),
    };
    if problems.is_empty() {
        match moved {
            Ok(()) => {
                return Ok(see_other(&format!(
                    "/environments/{}/rollouts#rollout-{id}",
                    operator.environment()
                )))
            }
            Err(error) => problems = Problems::of(error)?,
        }
    }
    rollouts_page(&operator.reader(), &request, Some(id), problems).await
}
