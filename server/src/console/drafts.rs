//! A profile's draft, a form per section, and publishing it or rolling back to an old version:
//! the API's `PUT .../draft`, `POST .../publish` and `POST .../rollback`, from forms.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::Value;
use switchyard_proto::{ChangeMessage, EnvironmentName, FieldProblem, InvalidValue, Profile};

use super::fields::{self, FieldView, Section, SECTIONS};
use super::form::Form;
use super::page::{render_with, see_other, Console, Frame, PageError, Problems};
use super::profiles::target;
use super::release::ReleaseForm;
use crate::domain::profiles::ProfileTarget;
use crate::http::capability::OperateEnvironment;
use crate::http::error::ApiError;
use crate::http::origin::RequestOrigin;
use crate::http::{json, AppState};
use crate::publishing::{Publication, Release};

/// A section as the page shows it.
struct SectionView {
    section: &'static Section,
    /// Its element id.
    id: String,
    fields: Vec<FieldView>,
    /// Whether anything is set in it (it starts open).
    set: bool,
    /// Problems of the section as a whole, and a stale draft.
    problem: Option<String>,
}

/// `/environments/{environment}/profiles/{target}/draft`.
#[derive(Template)]
#[template(path = "console/draft.html")]
struct DraftPage {
    frame: Frame,
    environment: EnvironmentName,
    protected: bool,
    target: String,
    revision: u64,
    based_on_version: u64,
    sections: Vec<SectionView>,
    /// The section just saved.
    saved: Option<String>,
    /// The publish form's message, how the version goes out, and their problems.
    message: String,
    release: ReleaseForm,
    publish_problems: Problems,
}

/// What went wrong with one form, to show the page again with it.
struct Refused<'a> {
    /// The section whose form it was (none for the publish form).
    section: Option<&'static Section>,
    posted: &'a Form,
    /// The section as the form sent it, shown instead of the draft's (secrets left out).
    value: Option<Value>,
    problems: Vec<FieldProblem>,
    /// A problem of the form as a whole.
    note: Option<String>,
    /// The answer's status: the API's for the same refusal.
    status: StatusCode,
}

/// The draft page, with `refused` (a form sent back) shown where it was.
async fn page(
    operator: &OperateEnvironment,
    request: &HttpRequest,
    from: &RequestOrigin,
    target: &ProfileTarget,
    saved: Option<String>,
    refused: Option<Refused<'_>>,
) -> Result<HttpResponse, PageError> {
    let profiles = operator.profiles(from);
    let environment = profiles.environment().await?;
    let draft = profiles.draft(target).await?;
    let profile = serde_json::to_value(&draft.profile)
        .map_err(|e| PageError::Api(ApiError::Internal(Box::new(e))))?;
    let sections = SECTIONS
        .iter()
        .map(|section| {
            let here = refused
                .as_ref()
                .filter(|refused| refused.section.is_some_and(|s| s.path == section.path));
            let value = here
                .and_then(|refused| refused.value.as_ref())
                .or_else(|| section.value(&profile));
            let problems = here.map(|r| r.problems.as_slice()).unwrap_or_default();
            let fields = fields::views(section, value, here.map(|r| r.posted), problems);
            let placed: Vec<String> = section
                .fields
                .iter()
                .map(|field| section.field_path(field))
                .collect();
            let elsewhere: Vec<String> = problems
                .iter()
                .filter(|problem| {
                    !placed
                        .iter()
                        .any(|path| fields::concerns(&problem.path, path))
                })
                .map(|problem| format!("{}: {}", problem.path, problem.message))
                .chain(here.and_then(|r| r.note.clone()))
                .collect();
            SectionView {
                section,
                id: section.path.replace('.', "-"),
                set: value.is_some() || here.is_some(),
                fields,
                problem: (!elsewhere.is_empty()).then(|| elsewhere.join("; ")),
            }
        })
        .collect();
    let publishing = refused.as_ref().filter(|refused| refused.section.is_none());
    let status = refused
        .as_ref()
        .map_or(StatusCode::OK, |refused| refused.status);
    render_with(
        status,
        &DraftPage {
            frame: Frame::new(request, Some(operator.access()), "environments"),
            environment: environment.name,
            protected: environment.protected,
            target: target.to_string(),
            revision: draft.revision,
            based_on_version: draft.based_on_version,
            sections,
            saved,
            message: publishing
                .map(|r| r.posted.text("message").to_owned())
                .unwrap_or_default(),
            release: publishing
                .map(|r| ReleaseForm::posted(r.posted))
                .unwrap_or_default(),
            publish_problems: publishing.map_or_else(Problems::default, |r| {
                let mut problems = Problems::new(r.problems.clone(), r.status);
                if let Some(note) = &r.note {
                    problems.add("", note);
                }
                problems
            }),
        },
    )
}

/// Which section was just saved.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// `GET /environments/{environment}/profiles/{target}/draft`.
pub async fn show(
    Console(operator): Console<OperateEnvironment>,
    request: HttpRequest,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let saved: Saved = super::profiles::query(&request)?;
    let saved = saved.saved.filter(|name| fields::section(name).is_some());
    page(&operator, &request, &from, &target(&path.1)?, saved, None).await
}

/// The draft revision a form was made at.
fn revision(posted: &Form) -> Result<u64, PageError> {
    posted
        .text("revision")
        .parse()
        .map_err(|_| PageError::BadForm("the form has no draft revision; reload the page".into()))
}

/// `POST /environments/{environment}/profiles/{target}/draft/{section}`: the section replaced
/// by what its form holds, the rest of the draft as it is.
pub async fn save(
    Console(operator): Console<OperateEnvironment>,
    request: HttpRequest,
    from: RequestOrigin,
    path: web::Path<(String, String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let (environment, target_name, section_path) = path.into_inner();
    let target = target(&target_name)?;
    let section = fields::section(&section_path).ok_or_else(|| {
        PageError::Api(ApiError::InvalidParameter {
            name: "section".into(),
            problem: "is not a section of a profile".into(),
        })
    })?;
    let expected = revision(&posted)?;
    let profiles = operator.profiles(&from);
    let draft = profiles.draft(&target).await?;
    let mut profile = serde_json::to_value(&draft.profile)
        .map_err(|e| PageError::Api(ApiError::Internal(Box::new(e))))?;
    let (value, mut problems) = fields::read(section, &posted);
    section.replace(&mut profile, value.clone());
    // The API's problems too, when the form had its own: all are shown at once.
    let saved = match (json::checked::<Profile>(profile), problems.is_empty()) {
        (Ok(edited), true) => profiles.save_draft(&target, expected, edited).await,
        (Ok(_), false) => Err(ApiError::Invalid(Vec::new())),
        (Err(error), _) => Err(error),
    };
    let note = match saved {
        Ok(_) => {
            return Ok(see_other(&format!(
                "/environments/{environment}/profiles/{target}/draft?saved={}#{}",
                section.path,
                section.path.replace('.', "-")
            )))
        }
        Err(ApiError::Invalid(found)) => {
            problems.extend(found);
            None
        }
        Err(error @ ApiError::StaleDraft { .. }) => Some(format!(
            "{error} Your values are below, but for secrets, which are never shown: compare \
             them with the draft as it is now, type the secrets again, and save."
        )),
        Err(error) => return Err(error.into()),
    };
    let status = match &note {
        Some(_) => StatusCode::CONFLICT,
        None => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let refused = Refused {
        section: Some(section),
        posted: &posted,
        value: Some(value),
        problems,
        note,
        status,
    };
    page(&operator, &request, &from, &target, None, Some(refused)).await
}

/// The change message of a form.
fn message(posted: &Form) -> Result<ChangeMessage, InvalidValue> {
    ChangeMessage::parse(posted.text("message").trim())
}

/// The publish form's field a problem of `POST .../publish` concerns: its release's fields
/// by the request's names (`until`, `rollout...`), the form as a whole for the rest.
fn publish_field(path: &str) -> String {
    match path {
        "message" => "message",
        "until" => "hours",
        path if path.starts_with("rollout") => "waves",
        _ => "",
    }
    .to_owned()
}

/// Where a publication leaves the browser: the new version's difference from the one before,
/// or the change request it opened.
fn after(
    environment: &EnvironmentName,
    target: &ProfileTarget,
    publication: Publication,
) -> HttpResponse {
    match publication {
        Publication::Published(version) => see_other(&format!(
            "/environments/{environment}/profiles/{target}/diff?from={}&to={}",
            version.version.saturating_sub(1),
            version.version
        )),
        Publication::Proposed(request) => see_other(&format!(
            "/environments/{environment}/change-requests#{}",
            request.id
        )),
    }
}

/// `POST /environments/{environment}/profiles/{target}/publish`: the draft as the next
/// version, to every machine at once, in waves or until a time, or a change request in a
/// protected environment.
pub async fn publish(
    Console(operator): Console<OperateEnvironment>,
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let target = target(&path.1)?;
    let expected = revision(&posted)?;
    let refused = |problems: Vec<FieldProblem>, status| Refused {
        section: None,
        posted: &posted,
        value: None,
        problems,
        note: None,
        status,
    };
    let mut problems = Problems::default();
    let text = problems.check("message", message(&posted));
    let release = ReleaseForm::posted(&posted).release(state.clock.now(), &mut problems);
    let (Some(text), Some(release)) = (text, release) else {
        let status = problems.status();
        let refused = refused(problems.into_list(), status);
        return page(&operator, &request, &from, &target, None, Some(refused)).await;
    };
    let in_waves = matches!(release, Release::Rollout(_));
    let published = operator
        .profiles(&from)
        .publish(&target, expected, text.as_str(), release)
        .await;
    match published {
        // A rollout is watched where it can be moved.
        Ok(Publication::Published(_)) if in_waves => Ok(see_other(&format!(
            "/environments/{}/rollouts",
            operator.environment()
        ))),
        Ok(publication) => Ok(after(operator.environment(), &target, publication)),
        // A stale draft, nothing to publish, a rollout or override in the way, a release the
        // rules refuse: said on the form, as sent.
        Err(error) => {
            let problems = Problems::of(error)?;
            let status = problems.status();
            let placed = problems
                .into_list()
                .into_iter()
                .map(|problem| FieldProblem {
                    path: publish_field(&problem.path),
                    ..problem
                })
                .collect();
            let refused = refused(placed, status);
            page(&operator, &request, &from, &target, None, Some(refused)).await
        }
    }
}

/// `POST /environments/{environment}/profiles/{target}/rollback`: an old version's content
/// published again, or proposed.
pub async fn rollback(
    Console(operator): Console<OperateEnvironment>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let target = target(&path.1)?;
    let number = |name: &str| {
        posted.text(name).parse::<u64>().map_err(|_| {
            PageError::BadForm(format!(
                "the form's {name} is not a version; reload the page"
            ))
        })
    };
    let (based_on, to) = (number("based_on_version")?, number("to_version")?);
    let text = message(&posted).map_err(|error| {
        PageError::Api(ApiError::Invalid(vec![FieldProblem {
            path: "message".into(),
            message: error.to_string(),
        }]))
    })?;
    let publication = operator
        .profiles(&from)
        .rollback(&target, based_on, to, text.as_str())
        .await?;
    Ok(after(operator.environment(), &target, publication))
}
