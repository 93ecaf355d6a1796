//! Console sessions in cookies: the API's token pair, kept where page scripts cannot read it.
//!
//! - `switchyard_session`: the access token. Its `Max-Age` ends a little before the token does,
//!   so the browser stops sending it first and the next page renews the pair with
//! - `switchyard_refresh`: the refresh token, used once (the API's rotation and reuse rules:
//!   a refresh token presented twice ends the session).
//! - `switchyard_csrf`: a random value every console form repeats in a hidden field
//!   ([`super::form`]); a page of another site can neither read it nor make the browser send
//!   the session cookies along (`SameSite=Strict`).
//!
//! All three are `HttpOnly`, `Path=/`, and `Secure` when the console is served over TLS (a
//! trusted proxy's `X-Forwarded-Proto: https`: the server itself speaks plain HTTP). The
//! session's two are `SameSite=Strict`. The CSRF cookie is `SameSite=Lax`: following a link
//! from another site (a chat, a mail) brings no session cookie, and a new CSRF cookie set then
//! would make every form open in other tabs stale; it protects nothing alone, since a form
//! needs it and the session both.
//!
//! A browser that loads several pages at once after its access cookie ended presents one
//! refresh token several times. The first renewal is kept for [`RENEWAL_GRACE`] and handed to
//! the others that bring that very token with the same CSRF cookie, in this process; any
//! other second use of a refresh token is a replay, and ends the session (the API's rule).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest as _, HttpMessage as _, HttpRequest, HttpResponse};
use switchyard_proto::TokenPair;

use crate::auth::secret;
use crate::http::auth;
use crate::http::capability::{Anonymous, SessionCookie};
use crate::http::error::ApiError;
use crate::http::origin::{forwarded, RequestOrigin};
use crate::http::AppState;

/// The access token's cookie.
pub const ACCESS_COOKIE: &str = "switchyard_session";
/// The refresh token's cookie.
pub const REFRESH_COOKIE: &str = "switchyard_refresh";
/// The CSRF token's cookie.
pub const CSRF_COOKIE: &str = "switchyard_csrf";

/// Seconds the access cookie ends before its token does, so a page never presents a token
/// that expires while the page is being served.
const ACCESS_MARGIN_SECS: u64 = 30;

/// How long a renewal is handed to requests that present the refresh token it used.
pub const RENEWAL_GRACE: Duration = Duration::from_secs(10);

/// Renewals of this process in the last [`RENEWAL_GRACE`], by the used refresh token's digest.
static RENEWALS: LazyLock<Mutex<HashMap<String, (Instant, TokenPair)>>> =
    LazyLock::new(Default::default);

/// The CSRF token of this request: the cookie's, or a new one the answer sets.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    /// The value forms carry.
    pub value: String,
    /// Whether the browser sent it (a new one is not yet in any form it could post).
    pub from_cookie: bool,
}

/// What the session middleware decided, for the answer's cookies.
enum Renewal {
    /// Nothing to set.
    Kept,
    /// The pair was renewed: set both cookies.
    Renewed(TokenPair),
    /// The refresh token was refused: clear both cookies.
    Ended,
}

/// Middleware of every console route: puts the session's access token where the capability
/// extractors read it ([`SessionCookie`]), renewing the pair first when only the refresh cookie
/// is left, and the CSRF token where forms and pages read it ([`CsrfToken`]).
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let access = request.cookie(ACCESS_COOKIE).map(|c| c.value().to_owned());
    let refresh = request.cookie(REFRESH_COOKIE).map(|c| c.value().to_owned());
    // Signing in starts a session of its own: one renewed on the way would be left behind.
    let signing_in = request.path() == "/sign-in";
    let (token, renewal) = match (access, refresh) {
        (Some(access), _) => (Some(access), Renewal::Kept),
        (None, Some(refresh)) if !signing_in => match renew(request.request(), &refresh).await {
            Ok(pair) => (Some(pair.access_token.clone()), Renewal::Renewed(pair)),
            // Refused: the session is over. Anything else (the database away) may pass.
            Err(error) if error.as_response_error().status_code() == StatusCode::UNAUTHORIZED => {
                tracing::debug!(%error, "console session not renewed");
                (None, Renewal::Ended)
            }
            Err(error) => {
                tracing::warn!(%error, "console session could not be renewed now");
                (None, Renewal::Kept)
            }
        },
        _ => (None, Renewal::Kept),
    };
    request.extensions_mut().insert(SessionCookie(token));
    let csrf = match request.cookie(CSRF_COOKIE) {
        Some(cookie) if !cookie.value().is_empty() => CsrfToken {
            value: cookie.value().to_owned(),
            from_cookie: true,
        },
        _ => CsrfToken {
            value: random_token(),
            from_cookie: false,
        },
    };
    request.extensions_mut().insert(csrf.clone());
    let secure = over_tls(request.request());

    let mut response = next.call(request).await?;
    // A handler that set cookies itself (signing in or out) decided the session.
    let decided = response
        .headers()
        .get_all(header::SET_COOKIE)
        .any(|value| value.as_bytes().starts_with(ACCESS_COOKIE.as_bytes()));
    let mut cookies = Vec::new();
    if !decided {
        match renewal {
            Renewal::Kept => {}
            Renewal::Renewed(pair) => cookies.extend(session_cookies(&pair, secure)),
            Renewal::Ended => cookies.extend(cleared_cookies(secure)),
        }
        if !csrf.from_cookie {
            cookies.push(csrf_cookie(csrf.value, secure));
        }
    }
    append(response.headers_mut(), cookies);
    Ok(response)
}

/// Sets the cookies of a session that has just started on `response`, with a new CSRF token
/// (one seen before signing in is not kept).
pub fn start(response: &mut HttpResponse, pair: &TokenPair, secure: bool) {
    let cookies = session_cookies(pair, secure)
        .into_iter()
        .chain([csrf_cookie(random_token(), secure)]);
    append(response.headers_mut(), cookies);
}

/// Removes the session's cookies on `response`, with a new CSRF token.
pub fn end(response: &mut HttpResponse, secure: bool) {
    let cookies = cleared_cookies(secure)
        .into_iter()
        .chain([csrf_cookie(random_token(), secure)]);
    append(response.headers_mut(), cookies);
}

fn append(headers: &mut HeaderMap, cookies: impl IntoIterator<Item = Cookie<'static>>) {
    for cookie in cookies {
        // Names and values are ours: tokens in base64 or JWT form, always a valid header.
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// The pair `refresh_token` buys: the API's refresh, or the one it bought a moment ago in this
/// process for the same browser (the same CSRF cookie).
async fn renew(request: &HttpRequest, refresh_token: &str) -> Result<TokenPair, Error> {
    let browser = request.cookie(CSRF_COOKIE).map(|c| c.value().to_owned());
    let digest = browser.map(|csrf| secret::digest(&format!("{refresh_token}\n{csrf}")));
    let recent = |renewals: &mut HashMap<String, (Instant, TokenPair)>| {
        renewals.retain(|_, (at, _)| at.elapsed() < RENEWAL_GRACE);
        digest
            .as_ref()
            .and_then(|digest| renewals.get(digest))
            .map(|(_, pair)| pair.clone())
    };
    if let Some(pair) = recent(&mut lock(&RENEWALS)) {
        return Ok(pair);
    }
    let anyone = Anonymous::extract(request).await?;
    let from = RequestOrigin::extract(request).await?;
    let now = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.clock.now())
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no application state"))?;
    let renewed = auth::renew(&anyone, &from, refresh_token, now).await;
    let mut renewals = lock(&RENEWALS);
    match renewed {
        Ok(pair) => {
            if let Some(digest) = &digest {
                renewals.insert(digest.clone(), (Instant::now(), pair.clone()));
            }
            Ok(pair)
        }
        // Another request of this browser renewed it meanwhile.
        Err(ApiError::RefreshTokenReused) => match recent(&mut renewals) {
            Some(pair) => Ok(pair),
            None => Err(ApiError::RefreshTokenReused.into()),
        },
        Err(error) => Err(error.into()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding it leaves a map that is still whole.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the browser reached the console over TLS: through a trusted proxy that says so.
pub fn over_tls(request: &HttpRequest) -> bool {
    forwarded(request, "x-forwarded-proto").is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

fn cookie(
    name: &'static str,
    value: String,
    max_age_secs: Option<u64>,
    secure: bool,
) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    if let Some(secs) = max_age_secs {
        cookie.set_max_age(CookieDuration::seconds(
            i64::try_from(secs).unwrap_or(i64::MAX),
        ));
    }
    cookie
}

/// The cookies of a session that has just started or been renewed.
fn session_cookies(pair: &TokenPair, secure: bool) -> [Cookie<'static>; 2] {
    let access_secs = pair.expires_in.saturating_sub(ACCESS_MARGIN_SECS).max(1);
    [
        cookie(
            ACCESS_COOKIE,
            pair.access_token.clone(),
            Some(access_secs),
            secure,
        ),
        cookie(
            REFRESH_COOKIE,
            pair.refresh_token.clone(),
            Some(pair.refresh_expires_in),
            secure,
        ),
    ]
}

/// Cookies that remove the session's.
fn cleared_cookies(secure: bool) -> [Cookie<'static>; 2] {
    [ACCESS_COOKIE, REFRESH_COOKIE].map(|name| {
        let mut cookie = cookie(name, String::new(), None, secure);
        cookie.make_removal();
        cookie
    })
}

/// A CSRF cookie holding `value`.
fn csrf_cookie(value: String, secure: bool) -> Cookie<'static> {
    cookie(CSRF_COOKIE, value, None, secure)
}

/// A new CSRF token: 32 random bytes, as every secret the server makes.
fn random_token() -> String {
    secret::generate("")
}

/// The refresh token the browser sent, if any.
pub fn refresh_token(request: &HttpRequest) -> Option<String> {
    request.cookie(REFRESH_COOKIE).map(|c| c.value().to_owned())
}

/// The CSRF token of this request (set by [`middleware`]).
pub fn csrf_token(request: &HttpRequest) -> Option<CsrfToken> {
    request.extensions().get::<CsrfToken>().cloned()
}
