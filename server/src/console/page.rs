//! What every console page shares: the frame around it (who is signed in, what they may
//! reach), rendering, capabilities taken as pages take them, and the one mapping of errors to
//! error pages.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use switchyard_proto::{EnvironmentRole, FieldProblem};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::session;
use crate::auth::Access;
use crate::http::error::ApiError;
use crate::http::request_id;

/// The frame of a page: the viewer and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Who is signed in, if anyone.
    pub viewer: Option<Viewer>,
    /// The value of every form's hidden `csrf` field.
    pub csrf: String,
    /// Which part of the navigation the page belongs to: `environments`, `audit`, ...
    pub section: &'static str,
}

/// The signed-in person, as the navigation shows them.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their user name.
    pub username: String,
    /// Their roles in words: `admin`, `auditor`, `ops on staging`...
    pub roles: String,
    /// Whether the audit trail is theirs to read (admin, auditor, ops somewhere).
    pub reads_audit: bool,
    /// Whether users and everyone's API tokens are theirs to read (admin, auditor).
    pub reads_all: bool,
}

impl Frame {
    /// The frame for `access` (or nobody) on `request`.
    pub fn new(request: &HttpRequest, access: Option<&Access>, section: &'static str) -> Self {
        Self {
            viewer: access.map(Viewer::of),
            csrf: session::csrf_token(request)
                .map(|token| token.value)
                .unwrap_or_default(),
            section,
        }
    }
}

impl Viewer {
    fn of(access: &Access) -> Self {
        let mut roles: Vec<String> = access
            .user
            .global_role
            .map(|role| role.as_str().to_owned())
            .into_iter()
            .collect();
        roles.extend(
            access
                .grants
                .iter()
                .map(|grant| format!("{} on {}", grant.role.as_str(), grant.environment)),
        );
        Self {
            username: access.user.username.to_string(),
            roles: match roles.is_empty() {
                true => "no role yet".to_owned(),
                false => roles.join(", "),
            },
            reads_audit: access.reads_everything()
                || access
                    .grants
                    .iter()
                    .any(|grant| grant.role == EnvironmentRole::Ops),
            reads_all: access.reads_everything(),
        }
    }
}

/// A time as pages show it: UTC, which the console's script turns into the viewer's zone,
/// keeping UTC in the element's title.
#[derive(Debug, Clone)]
pub struct Moment {
    /// RFC 3339, for `datetime`.
    pub iso: String,
    /// `2026-11-30 14:05 UTC`.
    pub utc: String,
}

impl Moment {
    /// `at` as shown.
    pub fn of(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        Self {
            iso: at.format(&Rfc3339).unwrap_or_default(),
            utc: format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            ),
        }
    }
}

/// `template` as an HTML answer that no cache keeps (pages show one viewer's data).
pub fn render(template: &impl Template) -> Result<HttpResponse, PageError> {
    render_with(StatusCode::OK, template)
}

/// `template` as an HTML answer with `status`.
pub fn render_with(
    status: StatusCode,
    template: &impl Template,
) -> Result<HttpResponse, PageError> {
    let html = template.render().map_err(PageError::Render)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

/// 303 to `location`: where a form's page goes after the form did its work.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A capability (or anything the API extracts) taken by a page: refused as an error page, or
/// as a way to the sign-in page when nobody is signed in.
#[derive(Debug)]
pub struct Console<T>(pub T);

impl<T> FromRequest for Console<T>
where
    T: FromRequest<Error = ApiError> + 'static,
{
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let next = come_back_to(request);
        // Strict cookies stay home when a link on another site leads here: the page is loaded
        // again from here, which brings them, before anyone is asked to sign in.
        let arrived = request.method() == Method::GET
            && request
                .headers()
                .get("sec-fetch-site")
                .is_some_and(|site| site.as_bytes() == b"cross-site");
        let extraction = T::from_request(request, payload);
        Box::pin(async move {
            extraction.await.map(Console).map_err(|error| {
                match (
                    error.code_and_status().1 == StatusCode::UNAUTHORIZED,
                    arrived,
                ) {
                    (true, false) => PageError::SignIn { next },
                    (true, true) => PageError::Arrived { here: next },
                    (false, _) => PageError::Api(error),
                }
            })
        })
    }
}

/// The page to show after signing in: this one for a read; for a form, the page it was sent
/// from (a form's address takes no GET), else the start page.
fn come_back_to(request: &HttpRequest) -> String {
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    let from = match read {
        true => request
            .uri()
            .path_and_query()
            .map(|path| path.as_str().to_owned()),
        false => request
            .headers()
            .get(header::REFERER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| url::Url::parse(text).ok())
            .filter(|url| {
                url.host_str()
                    == Some(
                        request
                            .connection_info()
                            .host()
                            .split(':')
                            .next()
                            .unwrap_or_default(),
                    )
            })
            .map(|url| match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            }),
    };
    local_path(from.as_deref())
}

/// `next` if it is a path on this server, else `/`: never `//host` or `\\host`, which
/// browsers take for other sites, nor anything but visible ASCII (a `Location` holds no more).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.chars().all(|c| c.is_ascii_graphic()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Everything a page can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// What the API would answer.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// Nobody is signed in: the page is shown after signing in.
    #[error("sign in to see this page")]
    SignIn {
        /// The page to come back to.
        next: String,
    },
    /// A link on another site led here, without the session's cookies.
    #[error("continue to the console")]
    Arrived {
        /// This page.
        here: String,
    },
    /// A form without the page's CSRF token, or posted from another site.
    #[error(
        "this form did not come from a console page of this server (its security token is \
         missing or stale); reload the page and send it again"
    )]
    Csrf,
    /// A form the console cannot read.
    #[error("the form could not be read: {0}")]
    BadForm(String),
    /// A template failed.
    #[error("the page could not be rendered")]
    Render(#[source] askama::Error),
    /// No page here (404), or none for this method (405).
    #[error("{}", match .0.as_u16() {
        404 => "there is no page at this address",
        405 => "this address is a form's: use the page's own buttons",
        _ => .0.canonical_reason().unwrap_or("the request failed"),
    })]
    Status(StatusCode),
}

impl PageError {
    fn code(&self) -> &'static str {
        match self {
            PageError::Api(error) => error.code_and_status().0,
            PageError::SignIn { .. } | PageError::Arrived { .. } => "unauthenticated",
            PageError::Csrf => "csrf_failed",
            PageError::BadForm(_) => "bad_form",
            PageError::Render(_) => "internal_error",
            PageError::Status(status) => crate::http::error::status_code_name(*status),
        }
    }

    /// The problems of a 422, for forms that show them at their fields.
    pub fn problems(&self) -> Option<&[FieldProblem]> {
        match self {
            PageError::Api(ApiError::Invalid(problems)) => Some(problems),
            _ => None,
        }
    }
}

/// What a form's page says went wrong: the API's 422 problems at the fields their paths name,
/// and a refusal of the whole form (a 409, such as the last admin losing the role) above it
/// (path `""`).
#[derive(Debug, Default)]
pub struct Problems {
    problems: Vec<FieldProblem>,
    status: Option<StatusCode>,
}

impl Problems {
    /// The problems `error` brings to a form's page (422 and 409), or the error page's error.
    pub fn of(error: ApiError) -> Result<Self, PageError> {
        let status = error.code_and_status().1;
        let problems = match error {
            ApiError::Invalid(problems) => problems,
            error if status == StatusCode::CONFLICT => vec![FieldProblem {
                path: String::new(),
                message: error.to_string(),
            }],
            error => return Err(error.into()),
        };
        Ok(Self {
            problems,
            status: Some(status),
        })
    }

    /// `problems` answered with `status`.
    pub fn new(problems: Vec<FieldProblem>, status: StatusCode) -> Self {
        Self {
            problems,
            status: Some(status),
        }
    }

    /// The problems, to carry elsewhere.
    pub fn into_list(self) -> Vec<FieldProblem> {
        self.problems
    }

    /// Adds a problem at `path`, which makes the answer a 422.
    pub fn add(&mut self, path: &str, message: impl ToString) {
        self.problems.push(FieldProblem {
            path: path.to_owned(),
            message: message.to_string(),
        });
        self.status.get_or_insert(StatusCode::UNPROCESSABLE_ENTITY);
    }

    /// The value of `parsed`, or `None` with its error as a problem at `path`.
    pub fn check<T, E: ToString>(&mut self, path: &str, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|error| self.add(path, error)).ok()
    }

    /// `text` as a whole number, or `None` with a problem at `path`.
    pub fn number<T: std::str::FromStr>(&mut self, path: &str, text: &str) -> Option<T> {
        self.check(
            path,
            text.parse::<T>().map_err(|_| "must be a whole number"),
        )
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems at `path`, joined; `""` names the form as a whole.
    pub fn at(&self, path: &str) -> Option<String> {
        let found: Vec<&str> = self
            .problems
            .iter()
            .filter(|problem| problem.path == path)
            .map(|problem| problem.message.as_str())
            .collect();
        (!found.is_empty()).then(|| found.join("; "))
    }

    /// Every problem in words, joined, if there is any.
    pub fn all(&self) -> Option<String> {
        let all: Vec<String> = self
            .problems
            .iter()
            .map(|problem| match problem.path.as_str() {
                "" => problem.message.clone(),
                path => format!("{path}: {}", problem.message),
            })
            .collect();
        (!all.is_empty()).then(|| all.join("; "))
    }

    /// The status the page is answered with: 200 without problems.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }
}

/// What a link from another site leads to: this page again, from here.
#[derive(Template)]
#[template(path = "console/arrived.html")]
struct ArrivedPage<'a> {
    here: &'a str,
}

/// The error page.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    code: &'a str,
    message: String,
    request_id: Option<String>,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Api(error) => error.code_and_status().1,
            PageError::SignIn { .. } => StatusCode::SEE_OTHER,
            PageError::Arrived { .. } => StatusCode::OK,
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::BadForm(_) => StatusCode::BAD_REQUEST,
            PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::Status(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::SignIn { next } = self {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish();
            return see_other(&format!("/sign-in?{query}"));
        }
        if let PageError::Arrived { here } = self {
            let page = ArrivedPage { here };
            return render(&page).unwrap_or_else(|_| see_other(here));
        }
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = ?self, "console page failed");
        } else {
            tracing::debug!(code = self.code(), error = %self, "console page refused");
        }
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            code: self.code(),
            message: self.to_string(),
            request_id: request_id::current(),
        };
        match render_with(status, &page) {
            Ok(response) => response,
            Err(_) => HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(page.message),
        }
    }
}

/// Whether an error answer to `request` is a page: a browser's request outside the API.
pub fn wants_page(request: &HttpRequest) -> bool {
    !request.path().starts_with("/api/")
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}
