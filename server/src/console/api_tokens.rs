//! API tokens: each person's own (made from a signed-in session, the secret shown once,
//! revoked), and everyone's for admins and auditors to read (admins revoke any), with the
//! API's own functions (`crate::http::tokens`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use switchyard_proto::{ApiToken, CreatedApiToken, NewApiToken, TokenName};
use time::OffsetDateTime;
use uuid::Uuid;

use super::form::Form;
use super::page::{render_with, see_other, Console, Frame, Moment, PageError, Problems};
use crate::domain::identity::ApiTokenRecord;
use crate::http::capability::Authenticated;
use crate::http::error::ApiError;
use crate::http::origin::RequestOrigin;
use crate::http::{tokens, AppState};

/// A token as listed.
struct TokenRow {
    token: ApiToken,
    created: Moment,
    expires: Moment,
    /// Whether it still works.
    usable: bool,
    /// Whether the viewer may revoke it (their own, or an admin).
    revocable: bool,
}

/// The new-token form as sent.
struct TokenForm {
    name: String,
    expires_in_days: String,
    problems: Problems,
}

impl Default for TokenForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            expires_in_days: "90".into(),
            problems: Problems::default(),
        }
    }
}

/// `/tokens`.
#[derive(Template)]
#[template(path = "console/api_tokens.html")]
struct TokensPage {
    frame: Frame,
    /// Whether everyone's tokens are listed.
    everyone: bool,
    /// Whether the viewer may list everyone's.
    reads_all: bool,
    tokens: Vec<TokenRow>,
    /// The token just made, its secret shown this once.
    created: Option<CreatedApiToken>,
    form: TokenForm,
}

/// `?all=1`: everyone's tokens.
#[derive(Debug, Deserialize)]
struct Listing {
    #[serde(default)]
    all: Option<String>,
}

impl Listing {
    fn everyone(&self) -> bool {
        self.all.as_deref().is_some_and(|all| all == "1")
    }
}

async fn tokens_page(
    caller: &Authenticated,
    request: &HttpRequest,
    now: OffsetDateTime,
    everyone: bool,
    created: Option<CreatedApiToken>,
    form: TokenForm,
) -> Result<HttpResponse, PageError> {
    let access = caller.access();
    let tokens = caller
        .tokens()
        .list(everyone)
        .await?
        .iter()
        .map(|record: &ApiTokenRecord| TokenRow {
            revocable: record.owner_id == access.user.id || access.is_admin(),
            usable: record.revoked_at.is_none() && record.expires_at > now,
            created: Moment::of(record.created_at),
            expires: Moment::of(record.expires_at),
            token: record.to_wire(),
        })
        .collect();
    let status = match created {
        Some(_) => StatusCode::CREATED,
        None => form.problems.status(),
    };
    render_with(
        status,
        &TokensPage {
            frame: Frame::new(request, Some(access), "tokens"),
            everyone,
            reads_all: access.reads_everything(),
            tokens,
            created,
            form,
        },
    )
}

/// `GET /tokens`, `?all=1` for everyone's.
pub async fn list(
    Console(caller): Console<Authenticated>,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let everyone = super::profiles::query::<Listing>(&request)?.everyone();
    tokens_page(&caller, &request, now, everyone, None, TokenForm::default()).await
}

/// `POST /tokens`: the page again, the new token's secret on it this once.
pub async fn create(
    Console(caller): Console<Authenticated>,
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let mut form = TokenForm {
        name: posted.text("name").trim().to_owned(),
        expires_in_days: posted.text("expires_in_days").trim().to_owned(),
        problems: Problems::default(),
    };
    let problems = &mut form.problems;
    let read = (
        problems.check("name", TokenName::parse(form.name.as_str())),
        problems.number("expires_in_days", &form.expires_in_days),
    );
    let (Some(name), Some(expires_in_days)) = read else {
        return tokens_page(&caller, &request, now, false, None, form).await;
    };
    let new = NewApiToken {
        name,
        expires_in_days,
    };
    match tokens::issue(&caller, &from, new, now).await {
        Ok(created) => {
            let form = TokenForm::default();
            tokens_page(&caller, &request, now, false, Some(created), form).await
        }
        Err(error) => {
            form.problems = Problems::of(error)?;
            tokens_page(&caller, &request, now, false, None, form).await
        }
    }
}

/// `POST /tokens/{id}/revoke`: back to the list it was revoked from.
pub async fn revoke(
    Console(caller): Console<Authenticated>,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<String>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let id = ApiError::parameter("id", Uuid::parse_str(&path))?;
    tokens::revoke(&caller, &from, id, state.clock.now()).await?;
    Ok(see_other(match posted.text("all") {
        "1" => "/tokens?all=1",
        _ => "/tokens",
    }))
}
