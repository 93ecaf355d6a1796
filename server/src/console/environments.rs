//! The environments a viewer may read, and one environment: its profiles (the baseline and a
//! machine role's overlay each), their latest versions and its open change requests.

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use switchyard_proto::{ChangeRequestStatus, Environment, EnvironmentRole};

use super::page::{render, Console, Frame, Moment, PageError};
use crate::domain::profiles::ProfileTarget;
use crate::http::capability::{Authenticated, ReadEnvironment};

/// One environment in the list.
struct Row {
    environment: Environment,
    created: Moment,
    /// The viewer's role on it, in words.
    role: String,
}

/// `/`: the environments.
#[derive(Template)]
#[template(path = "console/environments.html")]
struct ListPage {
    frame: Frame,
    rows: Vec<Row>,
    machine_roles: Vec<(String, String)>,
}

/// `GET /`.
pub async fn list(
    Console(caller): Console<Authenticated>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let access = caller.access();
    let rows = caller
        .environments()
        .await?
        .into_iter()
        .map(|environment| {
            let role = match (access.is_admin(), access.reads_everything()) {
                (true, _) => "admin".to_owned(),
                (false, true) => match access.role_on(&environment.name) {
                    Some(role) => format!("auditor, {}", role.as_str()),
                    None => "auditor".to_owned(),
                },
                _ => access
                    .role_on(&environment.name)
                    .map(EnvironmentRole::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            };
            Row {
                created: Moment::of(environment.created_at),
                environment,
                role,
            }
        })
        .collect();
    let machine_roles = caller
        .machine_roles()
        .await?
        .into_iter()
        .map(|role| (role.name.to_string(), role.description.as_str().to_owned()))
        .collect();
    render(&ListPage {
        frame: Frame::new(&request, Some(access), "environments"),
        rows,
        machine_roles,
    })
}

/// A profile of the environment, as its page lists it.
struct ProfileRow {
    target: String,
    description: String,
    latest: u64,
    published: Option<Moment>,
    author: String,
}

/// A change request waiting for a decision.
struct Waiting {
    target: String,
    proposer: String,
    message: String,
    created: Moment,
}

/// `/environments/{environment}`.
#[derive(Template)]
#[template(path = "console/environment.html")]
struct EnvironmentPage {
    frame: Frame,
    environment: Environment,
    profiles: Vec<ProfileRow>,
    waiting: Vec<Waiting>,
    operates: bool,
}

/// `GET /environments/{environment}`.
pub async fn show(
    Console(reader): Console<ReadEnvironment>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let environment = reader.details().await?;
    let mut targets = vec![(
        ProfileTarget::Baseline,
        "what every machine gets".to_owned(),
    )];
    targets.extend(reader.machine_roles().await?.into_iter().map(|role| {
        (
            ProfileTarget::Role(role.name),
            role.description.as_str().to_owned(),
        )
    }));
    let mut profiles = Vec::with_capacity(targets.len());
    for (target, description) in targets {
        let versions = reader.profiles().versions(&target).await?;
        let latest = versions.last();
        profiles.push(ProfileRow {
            target: target.to_string(),
            description,
            latest: latest.map_or(0, |version| version.version),
            published: latest.map(|version| Moment::of(version.published_at)),
            author: latest
                .map(|version| version.author.clone())
                .unwrap_or_default(),
        });
    }
    let waiting = reader
        .profiles()
        .change_requests()
        .await?
        .into_iter()
        .filter(|request| request.status == ChangeRequestStatus::Open)
        .map(|request| Waiting {
            target: request.target,
            proposer: request.proposer,
            message: request.message,
            created: Moment::of(request.created_at),
        })
        .collect();
    let access = reader.access();
    render(&EnvironmentPage {
        frame: Frame::new(&request, Some(access), "environments"),
        operates: access.can_operate(&environment.name),
        environment,
        profiles,
        waiting,
    })
}
