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
    /// Its waves in words: `5%, soaks 10 min; gate: ...`.
    waves: Vec<String>,
    /// The moves the viewer may make now (`promote`, `pause`, `resume`, `abort`), each with
    /// its button's words.
    actions: Vec<(&'static str, String)>,
    /// Whether the page's problems are about a move of this rollout.
    refused: bool,
    /// The reason as last sent, for a refused move.
    reason: String,
}

/// Who looks at a rollout, and where.
struct Viewer<'a> {
    /// Their user name, when they may move rollouts here.
    operator: Option<&'a str>,
    /// Whether a promotion by hand needs a second person.
    protected: bool,
}

/// A soak time in words.
fn soak(secs: u64) -> String {
    match secs % 60 {
        0 => format!("{} min", secs / 60),
        _ => format!("{secs} s"),
    }
}

impl RolloutView {
    fn of(rollout: Rollout, viewer: &Viewer<'_>) -> Self {
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
                    ", soaks {}; gate: {} reported, at most {}% failed applies, {}% failed probes",
                    soak(wave.soak_secs),
                    wave.gate.min_reported,
                    wave.gate.max_failed_applies_percent,
                    wave.gate.max_failed_probes_percent
                ));
                text
            })
            .collect();
        let actions = match viewer.operator {
            Some(me) if rollout.state.is_active() => {
                let mut actions = Vec::new();
                // The one who asked for a promotion cannot confirm it.
                if rollout.promotion_requested_by.as_deref() != Some(me) {
                    actions.push(("promote", promotion(&rollout, viewer.protected)));
                }
                match rollout.state {
                    RolloutState::Running => actions.push(("pause", "Pause".to_owned())),
                    _ => actions.push(("resume", "Resume".to_owned())),
                }
                actions.push(("abort", "Abort".to_owned()));
                actions
            }
            _ => Vec::new(),
        };
        Self {
            started: Moment::of(rollout.started_at),
            wave_started: Moment::of(rollout.wave_started_at),
            updated: Moment::of(rollout.updated_at),
            waves,
            actions,
            refused: false,
            reason: String::new(),
            rollout,
        }
    }
}

/// The promote button's words: in a protected environment the first person asks and a second
/// confirms.
fn promotion(rollout: &Rollout, protected: bool) -> String {
    let last = rollout.wave as usize + 1 >= rollout.plan.waves.len();
    let what = match last {
        true => "complete now".to_owned(),
        false => format!("promote to wave {}", rollout.wave + 2),
    };
    match (protected, &rollout.promotion_requested_by) {
        (true, Some(asker)) => format!("Confirm {asker}'s request to {what}"),
        (true, None) => format!("Ask to {what}"),
        (false, _) => {
            let mut words = what;
            words[..1].make_ascii_uppercase();
            words
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

/// A move refused: which rollout, the reason as sent, and why.
struct Refusal {
    id: Uuid,
    reason: String,
    problems: Problems,
}

async fn rollouts_page(
    reader: &ReadEnvironment,
    request: &HttpRequest,
    refusal: Option<Refusal>,
) -> Result<HttpResponse, PageError> {
    let profiles = reader.profiles();
    let access = reader.access();
    let viewer = Viewer {
        operator: access
            .can_operate(reader.environment())
            .then_some(access.user.username.as_str()),
        protected: reader.details().await?.protected,
    };
    let (mut active, ended): (Vec<_>, Vec<_>) = profiles
        .rollouts()
        .await?
        .into_iter()
        .map(|rollout| RolloutView::of(rollout, &viewer))
        .partition(|view| view.rollout.state.is_active());
    let (problems, elsewhere) = match refusal {
        None => (Problems::default(), None),
        Some(refusal) => {
            let shown = active
                .iter_mut()
                .find(|view| view.rollout.id == refusal.id && !view.actions.is_empty());
            match shown {
                Some(view) => {
                    view.refused = true;
                    view.reason = refusal.reason;
                    (refusal.problems, None)
                }
                // Its rollout shows no form (it ended meanwhile): said above all.
                None => {
                    let all = refusal.problems.all();
                    (refusal.problems, all)
                }
            }
        }
    };
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
            frame: Frame::new(request, Some(access), "environments"),
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
    rollouts_page(&reader, &request, None).await
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
    let reason = posted.text("reason").trim().to_owned();
    let mut problems = Problems::default();
    if let Some(reason) = problems.check("reason", ChangeMessage::parse(reason.as_str())) {
        let moved = operator
            .profiles(&from)
            .move_rollout(id, requested, reason.as_str())
            .await;
        match moved {
            Ok(_) => {
                return Ok(see_other(&format!(
                    "/environments/{}/rollouts#rollout-{id}",
                    operator.environment()
                )))
            }
            Err(error) => problems = Problems::of(error)?,
        }
    }
    let refusal = Refusal {
        id,
        reason,
        problems,
    };
    rollouts_page(&operator.reader(), &request, Some(refusal)).await
}
