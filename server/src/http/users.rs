//! Managing users, their global roles and their grants. Admins change; auditors read.

use actix_web::{delete, get, post, put, web, HttpResponse};
use switchyard_proto::profile::SettingChange;
use switchyard_proto::{
    AuditAction, EnvironmentName, ErrorBody, GlobalRoleChange, GrantChange, NewUser, Password,
    PasswordReset, User, Username,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::capability::{Admin, Directory, ReadAll};
use super::error::ApiError;
use super::json::ApiJson;
use super::origin::RequestOrigin;
use super::AppState;
use crate::domain::audit::{change, AuditRecord};
use crate::domain::identity::{UserChange, UserRecord};

fn username(text: &str) -> Result<Username, ApiError> {
    ApiError::parameter("username", Username::parse(text))
}

/// The user as the API shows it, with current grants.
pub(crate) async fn shown(directory: Directory<'_>, user: &UserRecord) -> Result<User, ApiError> {
    Ok(user.to_wire(directory.grants(user.id).await?))
}

/// A global role as the audit trail shows it.
fn global_role_name(role: Option<switchyard_proto::GlobalRole>) -> String {
    role.map_or("none", |role| role.as_str()).to_owned()
}

/// The event of setting a user's `disabled` flag, saying what it was.
async fn disabling_event(
    admin: &Admin,
    from: &RequestOrigin,
    name: &Username,
    disabled: bool,
    now: OffsetDateTime,
) -> Result<AuditRecord, ApiError> {
    let before = admin.directory().user(name).await?;
    let (old, new) = (before.disabled.to_string(), disabled.to_string());
    Ok(from
        .record(
            admin.access(),
            AuditAction::UserUpdate,
            format!("user:{name}"),
            now,
        )
        .with_changes(
            change("disabled", Some(old), Some(new))
                .into_iter()
                .collect(),
        ))
}

/// The role `user` holds on `environment`, if any.
async fn held_role(
    directory: Directory<'_>,
    user: &UserRecord,
    environment: &EnvironmentName,
) -> Result<Option<String>, ApiError> {
    Ok(directory
        .grants(user.id)
        .await?
        .into_iter()
        .find(|grant| grant.environment == *environment)
        .map(|grant| grant.role.as_str().to_owned()))
}

/// Every user.
#[utoipa::path(
    tag = "users",
    responses(
        (status = 200, description = "All users, by name", body = [User]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin or auditor", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor"])))
)]
#[get("/users")]
pub async fn list_users(reader: ReadAll) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(users(reader.directory()).await?))
}

/// Every user with their grants, by name: for the API and the console.
///
/// # Errors
/// Store errors.
pub(crate) async fn users(directory: Directory<'_>) -> Result<Vec<User>, ApiError> {
    let mut users = Vec::new();
    for user in directory.users().await? {
        users.push(shown(directory, &user).await?);
    }
    Ok(users)
}

/// Creates a user, with no grants.
#[utoipa::path(
    tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[post("/users")]
pub async fn create_user(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let user = create(&admin, &from, new, state.clock.now()).await?;
    Ok(HttpResponse::Created().json(user))
}

/// Creates the user `new` asks for, with no grants, audited: for the API and the console.
///
/// # Errors
/// [`ApiError::UserExists`], store errors.
pub(crate) async fn create(
    admin: &Admin,
    from: &RequestOrigin,
    new: NewUser,
    now: OffsetDateTime,
) -> Result<User, ApiError> {
    let user = UserRecord {
        id: Uuid::new_v4(),
        username: new.username,
        password_hash: admin.hash_password(new.password).await?,
        global_role: new.global_role,
        disabled: false,
        created_at: now,
        sessions_valid_after: None,
    };
    let role = Some(global_role_name(user.global_role));
    let audit = from
        .record(
            admin.access(),
            AuditAction::UserCreate,
            format!("user:{}", user.username),
            user.created_at,
        )
        .with_changes(change("global_role", None, role).into_iter().collect());
    admin.identity().create_user(&user, &audit).await?;
    tracing::info!(by = %admin.access().user.username, username = %user.username, "user created");
    Ok(user.to_wire(Vec::new()))
}

/// One user.
#[utoipa::path(
    tag = "users",
    params(("username" = String, Path, description = "Login name")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin or auditor", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor"])))
)]
#[get("/users/{username}")]
pub async fn get_user(reader: ReadAll, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let directory = reader.directory();
    let user = directory.user(&username(&path)?).await?;
    Ok(HttpResponse::Ok().json(shown(directory, &user).await?))
}

/// Disables a user: they cannot log in, and their tokens stop working at once.
#[utoipa::path(
    tag = "users",
    params(("username" = String, Path, description = "Login name")),
    responses(
        (status = 200, description = "Disabled", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The last enabled admin cannot be disabled", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[post("/users/{username}/disable")]
pub async fn disable_user(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = username(&path)?;
    let user = set_disabled(&admin, &from, &name, true, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Disables user `name` (their sessions end with it) or enables them again, audited: for the
/// API and the console.
///
/// # Errors
/// [`ApiError::UserNotFound`], [`ApiError::LastAdmin`] for the last enabled admin, store
/// errors.
pub(crate) async fn set_disabled(
    admin: &Admin,
    from: &RequestOrigin,
    name: &Username,
    disabled: bool,
    now: OffsetDateTime,
) -> Result<User, ApiError> {
    let audit = disabling_event(admin, from, name, disabled, now).await?;
    let user = match disabled {
        true => {
            let update = UserChange {
                disabled: Some(true),
                sessions_valid_after: Some(now),
                ..UserChange::default()
            };
            admin
                .identity()
                .update_user_keeping_an_admin(name, &update, &audit)
                .await?
        }
        false => {
            let update = UserChange {
                disabled: Some(false),
                ..UserChange::default()
            };
            admin.identity().update_user(name, &update, &audit).await?
        }
    };
    match disabled {
        true => {
            tracing::info!(by = %admin.access().user.username, username = %name, "user disabled")
        }
        false => {
            tracing::info!(by = %admin.access().user.username, username = %name, "user enabled")
        }
    }
    shown(admin.directory(), &user).await
}

/// Enables a disabled user again.
#[utoipa::path(
    tag = "users",
    params(("username" = String, Path, description = "Login name")),
    responses(
        (status = 200, description = "Enabled", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[post("/users/{username}/enable")]
pub async fn enable_user(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = username(&path)?;
    let user = set_disabled(&admin, &from, &name, false, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Sets a new password; the user's sessions end.
#[utoipa::path(
    tag = "users",
    params(("username" = String, Path, description = "Login name")),
    request_body = PasswordReset,
    responses(
        (status = 204, description = "Password set"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "The password breaks the rules", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[put("/users/{username}/password")]
pub async fn reset_password(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<String>,
    ApiJson(reset): ApiJson<PasswordReset>,
) -> Result<HttpResponse, ApiError> {
    let name = username(&path)?;
    set_password(&admin, &from, &name, reset.password, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sets user `name`'s password and ends their sessions, audited without the password: for the
/// API and the console.
///
/// # Errors
/// [`ApiError::UserNotFound`], store errors.
pub(crate) async fn set_password(
    admin: &Admin,
    from: &RequestOrigin,
    name: &Username,
    password: Password,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    // Sessions end: access tokens issued before now stop working, refresh tokens are revoked.
    let update = UserChange {
        password_hash: Some(admin.hash_password(password).await?),
        sessions_valid_after: Some(now),
        ..UserChange::default()
    };
    let secret = Some("(secret)".to_owned());
    let audit = from
        .record(
            admin.access(),
            AuditAction::UserUpdate,
            format!("user:{name}"),
            now,
        )
        .with_changes(vec![SettingChange {
            path: "password".into(),
            old: secret.clone(),
            new: secret,
        }]);
    admin.identity().update_user(name, &update, &audit).await?;
    tracing::info!(by = %admin.access().user.username, username = %name, "password reset");
    Ok(())
}

/// Sets or removes a user's global role (admin or auditor).
#[utoipa::path(
    tag = "users",
    params(("username" = String, Path, description = "Login name")),
    request_body = GlobalRoleChange,
    responses(
        (status = 200, description = "Changed", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The last enabled admin cannot lose the role", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[put("/users/{username}/role")]
pub async fn set_global_role(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<String>,
    ApiJson(wanted): ApiJson<GlobalRoleChange>,
) -> Result<HttpResponse, ApiError> {
    let name = username(&path)?;
    let user = set_role(&admin, &from, &name, wanted, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Sets or removes user `name`'s global role, audited: for the API and the console.
///
/// # Errors
/// [`ApiError::UserNotFound`], [`ApiError::LastAdmin`] for the last enabled admin, store
/// errors.
pub(crate) async fn set_role(
    admin: &Admin,
    from: &RequestOrigin,
    name: &Username,
    wanted: GlobalRoleChange,
    now: OffsetDateTime,
) -> Result<User, ApiError> {
    let update = UserChange {
        global_role: Some(wanted.global_role),
        ..UserChange::default()
    };
    let before = admin.directory().user(name).await?;
    let old = Some(global_role_name(before.global_role));
    let new = Some(global_role_name(wanted.global_role));
    let audit = from
        .record(
            admin.access(),
            AuditAction::UserUpdate,
            format!("user:{name}"),
            now,
        )
        .with_changes(change("global_role", old, new).into_iter().collect());
    let user = admin
        .identity()
        .update_user_keeping_an_admin(name, &update, &audit)
        .await?;
    tracing::info!(by = %admin.access().user.username, username = %name, role = ?wanted.global_role, "global role set");
    shown(admin.directory(), &user).await
}

/// Gives a user a role on one environment, replacing the one they had there.
#[utoipa::path(
    tag = "users",
    params(
        ("username" = String, Path, description = "Login name"),
        ("environment" = String, Path, description = "Environment name"),
    ),
    request_body = GrantChange,
    responses(
        (status = 200, description = "Granted", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such user or environment", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[put("/users/{username}/grants/{environment}")]
pub async fn put_grant(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
    ApiJson(wanted): ApiJson<GrantChange>,
) -> Result<HttpResponse, ApiError> {
    let (name, environment_name) = path.into_inner();
    let (name, environment_name) = (
        username(&name)?,
        ApiError::environment_parameter(&environment_name)?,
    );
    let user = grant(
        &admin,
        &from,
        &name,
        &environment_name,
        wanted,
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Gives user `name` `wanted` role on `environment_name`, replacing the one they had there,
/// audited: for the API and the console.
///
/// # Errors
/// [`ApiError::UserNotFound`], [`ApiError::EnvironmentNotFound`], store errors.
pub(crate) async fn grant(
    admin: &Admin,
    from: &RequestOrigin,
    name: &Username,
    environment_name: &EnvironmentName,
    wanted: GrantChange,
    now: OffsetDateTime,
) -> Result<User, ApiError> {
    let user = admin.directory().user(name).await?;
    let old = held_role(admin.directory(), &user, environment_name).await?;
    let new = Some(wanted.role.as_str().to_owned());
    let audit = from
        .record(
            admin.access(),
            AuditAction::GrantPut,
            format!("user:{name}"),
            now,
        )
        .in_environment(environment_name.as_str())
        .with_changes(change("role", old, new).into_iter().collect());
    admin
        .identity()
        .put_grant(user.id, environment_name, wanted.role, now, &audit)
        .await?;
    tracing::info!(by = %admin.access().user.username, username = %name, environment = %environment_name, role = wanted.role.as_str(), "grant set");
    shown(admin.directory(), &user).await
}

/// Takes a user's role on one environment away.
#[utoipa::path(
    tag = "users",
    params(
        ("username" = String, Path, description = "Login name"),
        ("environment" = String, Path, description = "Environment name"),
    ),
    responses(
        (status = 200, description = "Revoked (or there was none)", body = User),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[delete("/users/{username}/grants/{environment}")]
pub async fn remove_grant(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, environment_name) = path.into_inner();
    let (name, environment_name) = (
        username(&name)?,
        ApiError::environment_parameter(&environment_name)?,
    );
    let user = ungrant(&admin, &from, &name, &environment_name, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Takes user `name`'s role on `environment_name` away (if any), audited: for the API and the
/// console.
///
/// # Errors
/// [`ApiError::UserNotFound`], store errors.
pub(crate) async fn ungrant(
    admin: &Admin,
    from: &RequestOrigin,
    name: &Username,
    environment_name: &EnvironmentName,
    now: OffsetDateTime,
) -> Result<User, ApiError> {
    let user = admin.directory().user(name).await?;
    let old = held_role(admin.directory(), &user, environment_name).await?;
    let audit = from
        .record(
            admin.access(),
            AuditAction::GrantRemove,
            format!("user:{name}"),
            now,
        )
        .in_environment(environment_name.as_str())
        .with_changes(change("role", old, None).into_iter().collect());
    admin
        .identity()
        .remove_grant(user.id, environment_name, &audit)
        .await?;
    tracing::info!(by = %admin.access().user.username, username = %name, environment = %environment_name, "grant removed");
    shown(admin.directory(), &user).await
}
