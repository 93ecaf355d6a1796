//! Users, their global roles and grants: read by admins and auditors, changed by admins, with
//! the API's own functions (`crate::http::users`), so the same rules hold (the last enabled
//! admin stays one, a disabled user's sessions end, every change is audited).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use switchyard_proto::{
    EnvironmentName, EnvironmentRole, GlobalRole, GlobalRoleChange, GrantChange, NewUser, Password,
    User, Username,
};

use super::form::Form;
use super::page::{render_with, see_other, Console, Frame, Moment, PageError, Problems};
use crate::http::capability::{Admin, ReadAll};
use crate::http::error::ApiError;
use crate::http::origin::RequestOrigin;
use crate::http::{users, AppState};

/// A user as pages show them.
struct UserView {
    user: User,
    created: Moment,
    /// `admin`, `auditor` or empty.
    global_role: &'static str,
    /// Their grants in words: `ops on staging, developer on production`.
    grants: String,
}

impl UserView {
    fn of(user: User) -> Self {
        Self {
            created: Moment::of(user.created_at),
            global_role: user.global_role.map_or("", GlobalRole::as_str),
            grants: user
                .grants
                .iter()
                .map(|grant| format!("{} on {}", grant.role.as_str(), grant.environment))
                .collect::<Vec<_>>()
                .join(", "),
            user,
        }
    }
}

/// The new-user form as sent (never its password).
#[derive(Default)]
struct NewUserForm {
    username: String,
    global_role: String,
    problems: Problems,
}

/// `/users`.
#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    frame: Frame,
    users: Vec<UserView>,
    /// Whether the viewer may change users (admins).
    administers: bool,
    form: NewUserForm,
}

async fn users_page(
    reader: &ReadAll,
    request: &HttpRequest,
    form: NewUserForm,
) -> Result<HttpResponse, PageError> {
    let users = users::users(reader.directory())
        .await?
        .into_iter()
        .map(UserView::of)
        .collect();
    render_with(
        form.problems.status(),
        &UsersPage {
            frame: Frame::new(request, Some(reader.access()), "users"),
            users,
            administers: reader.access().is_admin(),
            form,
        },
    )
}

/// `GET /users`.
pub async fn list(
    Console(reader): Console<ReadAll>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    users_page(&reader, &request, NewUserForm::default()).await
}

/// A global role from a form: empty for none.
fn global_role(text: &str) -> Result<Option<GlobalRole>, switchyard_proto::InvalidValue> {
    match text {
        "" => Ok(None),
        name => GlobalRole::parse(name).map(Some),
    }
}

/// `POST /users`: the new user's page, or this one again with the form's problems.
pub async fn create(
    Console(admin): Console<Admin>,
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let mut form = NewUserForm {
        username: posted.text("username").trim().to_owned(),
        global_role: posted.text("global_role").to_owned(),
        problems: Problems::default(),
    };
    let problems = &mut form.problems;
    let read = (
        problems.check("username", Username::parse(form.username.as_str())),
        // The password as typed: spaces may be part of it.
        problems.check("password", Password::parse(posted.text("password"))),
        problems.check("global_role", global_role(&form.global_role)),
    );
    let reader = admin.reader();
    let (Some(username), Some(password), Some(global_role)) = read else {
        return users_page(&reader, &request, form).await;
    };
    let new = NewUser {
        username,
        password,
        global_role,
    };
    match users::create(&admin, &from, new, state.clock.now()).await {
        Ok(user) => Ok(see_other(&format!("/users/{}", user.username))),
        Err(error) => {
            form.problems = Problems::of(error)?;
            users_page(&reader, &request, form).await
        }
    }
}

/// The choices of a user page's forms, as last sent (or as stored).
#[derive(Debug, Default)]
struct Posted {
    environment: String,
    role: String,
    global_role: String,
}

impl Posted {
    fn of(posted: &Form) -> Self {
        Self {
            environment: posted.text("environment").to_owned(),
            role: posted.text("role").to_owned(),
            global_role: posted.text("global_role").to_owned(),
        }
    }
}

/// `/users/{username}`.
#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    frame: Frame,
    view: UserView,
    administers: bool,
    /// Whether this is the viewer, who may not disable themselves (another admin may).
    is_viewer: bool,
    posted: Posted,
    /// The environments a grant may name.
    environments: Vec<String>,
    problems: Problems,
    /// What was just done, said once.
    done: Option<&'static str>,
}

fn username(path: &str) -> Result<Username, PageError> {
    Ok(ApiError::parameter("username", Username::parse(path))?)
}

/// What a user page shows besides the user: the forms as sent, their problems, what was
/// just done.
#[derive(Debug, Default)]
struct Outcome {
    posted: Option<Posted>,
    problems: Problems,
    done: Option<&'static str>,
}

async fn user_page(
    reader: &ReadAll,
    request: &HttpRequest,
    name: &Username,
    outcome: Outcome,
) -> Result<HttpResponse, PageError> {
    let directory = reader.directory();
    let record = directory.user(name).await?;
    let user = users::shown(directory, &record).await?;
    let view = UserView::of(user);
    let posted = outcome.posted.unwrap_or_else(|| Posted {
        global_role: view.global_role.to_owned(),
        ..Posted::default()
    });
    let environments = reader
        .environments()
        .await?
        .into_iter()
        .map(|environment| environment.name.to_string())
        .collect();
    render_with(
        outcome.problems.status(),
        &UserPage {
            frame: Frame::new(request, Some(reader.access()), "users"),
            is_viewer: reader.access().user.id == record.id,
            view,
            administers: reader.access().is_admin(),
            posted,
            environments,
            problems: outcome.problems,
            done: outcome.done,
        },
    )
}

/// `GET /users/{username}`.
pub async fn show(
    Console(reader): Console<ReadAll>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let name = username(&path)?;
    user_page(&reader, &request, &name, Outcome::default()).await
}

/// What an admin's form on a user's page does.
enum Change {
    GlobalRole(GlobalRoleChange),
    Disabled(bool),
    Password(Password),
    Grant(EnvironmentName, GrantChange),
    Ungrant(EnvironmentName),
}

/// The user's page after `change`: a redirect to it, or it again with the change's problems
/// (or, for a password, what was done: a redirect would lose it).
async fn changed(
    admin: &Admin,
    request: &HttpRequest,
    state: &AppState,
    from: &RequestOrigin,
    name: &Username,
    change: Change,
    posted: Posted,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let said = match change {
        Change::GlobalRole(wanted) => users::set_role(admin, from, name, wanted, now)
            .await
            .map(|_| None),
        Change::Disabled(disabled) => users::set_disabled(admin, from, name, disabled, now)
            .await
            .map(|_| None),
        Change::Password(password) => users::set_password(admin, from, name, password, now)
            .await
            .map(|()| Some("Password set; the user's sessions have ended.")),
        Change::Grant(environment, wanted) => {
            users::grant(admin, from, name, &environment, wanted, now)
                .await
                .map(|_| None)
        }
        Change::Ungrant(environment) => users::ungrant(admin, from, name, &environment, now)
            .await
            .map(|_| None),
    };
    let outcome = match said {
        Ok(None) => return Ok(see_other(&format!("/users/{name}"))),
        Ok(done) => Outcome {
            done,
            ..Outcome::default()
        },
        Err(error) => Outcome {
            posted: Some(posted),
            problems: Problems::of(error)?,
            done: None,
        },
    };
    user_page(&admin.reader(), request, name, outcome).await
}

/// `POST /users/{username}/{change}`: `role`, `disable`, `enable`, `password` or `grants`.
pub async fn change(
    Console(admin): Console<Admin>,
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let name = username(&path.0)?;
    let mut problems = Problems::default();
    let change = match path.1.as_str() {
        "role" => problems
            .check("global_role", global_role(posted.text("global_role")))
            .map(|global_role| Change::GlobalRole(GlobalRoleChange { global_role })),
        "disable" => Some(Change::Disabled(true)),
        "enable" => Some(Change::Disabled(false)),
        // The password as typed: spaces may be part of it.
        "password" => problems
            .check("password", Password::parse(posted.text("password")))
            .map(Change::Password),
        "grants" => {
            let environment = problems.check(
                "environment",
                EnvironmentName::parse(posted.text("environment")),
            );
            let role = problems.check("role", EnvironmentRole::parse(posted.text("role")));
            environment
                .zip(role)
                .map(|(environment, role)| Change::Grant(environment, GrantChange { role }))
        }
        _ => return Err(PageError::Status(StatusCode::NOT_FOUND)),
    };
    let posted = Posted::of(&posted);
    match change {
        Some(change) => changed(&admin, &request, &state, &from, &name, change, posted).await,
        None => {
            let outcome = Outcome {
                posted: Some(posted),
                problems,
                done: None,
            };
            user_page(&admin.reader(), &request, &name, outcome).await
        }
    }
}

/// `POST /users/{username}/grants/{environment}/remove`.
pub async fn remove_grant(
    Console(admin): Console<Admin>,
    request: HttpRequest,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    posted: Form,
) -> Result<HttpResponse, PageError> {
    let name = username(&path.0)?;
    let environment = ApiError::parameter("environment", EnvironmentName::parse(&path.1))?;
    let change = Change::Ungrant(environment);
    let posted = Posted::of(&posted);
    changed(&admin, &request, &state, &from, &name, change, posted).await
}
