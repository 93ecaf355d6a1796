//! Signing in and out of the console: the API's login and logout, the token pair kept in
//! cookies ([`super::session`]).

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest as _, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use switchyard_proto::{BoundedText, LoginRequest};

use super::form::Form;
use super::page::{local_path, render_with, see_other, Console, Frame, PageError};
use super::session;
use crate::http::auth;
use crate::http::capability::{Anonymous, Authenticated};
use crate::http::error::ApiError;
use crate::http::origin::RequestOrigin;
use crate::http::AppState;

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    frame: Frame,
    next: String,
    username: String,
    error: Option<String>,
}

/// Where the form was asked from.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /sign-in`.
pub async fn form(request: HttpRequest, next: web::Query<Next>) -> Result<HttpResponse, PageError> {
    let page = SignInPage {
        frame: Frame::new(&request, None, "sign-in"),
        next: local_path(next.next.as_deref()),
        username: String::new(),
        error: None,
    };
    render_with(StatusCode::OK, &page)
}

/// `POST /sign-in`: the API's login; on success the pair goes into cookies and the browser to
/// the page it came for.
pub async fn submit(
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let anyone = Anonymous::extract(&request).await?;
    let next = local_path(posted.get("next"));
    let username = posted.text("username").to_owned();
    let again = |status: StatusCode, error: String| {
        let page = SignInPage {
            frame: Frame::new(&request, None, "sign-in"),
            next: next.clone(),
            username: username.clone(),
            error: Some(error),
        };
        render_with(status, &page)
    };
    let login = match (
        BoundedText::parse(posted.text("username")),
        BoundedText::parse(posted.text("password")),
    ) {
        (Ok(username), Ok(password)) => LoginRequest { username, password },
        _ => {
            return again(
                StatusCode::UNAUTHORIZED,
                ApiError::InvalidCredentials.to_string(),
            )
        }
    };
    let source = request.peer_addr().map(|address| address.ip());
    match auth::sign_in(&anyone, &from, source, &login, state.clock.now()).await {
        Ok(pair) => {
            let mut response = see_other(&next);
            session::start(&mut response, &pair, session::over_tls(&request));
            Ok(response)
        }
        Err(error @ (ApiError::InvalidCredentials | ApiError::TooManyAttempts { .. })) => {
            let (_, status) = error.code_and_status();
            let mut response = again(status, error.to_string())?;
            if let ApiError::TooManyAttempts { retry_after_secs } = error {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(retry_after_secs),
                );
            }
            Ok(response)
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /sign-out`: the API's logout, the session's cookies removed.
pub async fn sign_out(
    Console(caller): Console<Authenticated>,
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    _posted: Form,
) -> Result<HttpResponse, PageError> {
    let refresh = session::refresh_token(&request);
    auth::sign_out(&caller, &from, refresh.as_deref(), state.clock.now()).await?;
    let mut response = see_other("/sign-in");
    session::end(&mut response, session::over_tls(&request));
    Ok(response)
}
