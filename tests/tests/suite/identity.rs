//! Logging in, sessions, users, grants and API tokens over HTTP, on both stores.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_proto::{CreatedApiToken, ErrorBody, TokenPair, User};
use switchyard_server::config::SettingDuration;
use switchyard_tests::{
    for_each_store, Backend, ManualClock, TestApp, ADMIN_PASSWORD, USER_PASSWORD,
};
use time::Duration;

async fn code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response.json().await.expect("an error body");
    (status, body.error.code)
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    app.call(Method::POST, path, token, Some(&body)).await
}

async fn login_attempt(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/login",
        None,
        json!({ "username": username, "password": password }),
    )
    .await
}

async fn login_gives_a_session_that_knows_the_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = login_attempt(&app, "admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pair: TokenPair = response.json().await.unwrap();
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(
        pair.expires_in,
        15 * 60,
        "access tokens live 15 minutes by default"
    );
    assert!(pair.refresh_token.starts_with("syr_"));

    let me: User = app
        .get_as(&pair.access_token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me.username.as_str(), "admin");
    assert_eq!(me.global_role, Some(switchyard_proto::GlobalRole::Admin));
}

async fn unknown_user_and_wrong_password_get_the_same_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wrong_password = login_attempt(&app, "admin", "not the admin password").await;
    let unknown_user = login_attempt(&app, "nobody", "not the admin password").await;
    let invalid_name = login_attempt(&app, "Not A Name!", "not the admin password").await;
    for response in [wrong_password, unknown_user, invalid_name] {
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error.code, "invalid_credentials");
        assert_eq!(body.error.message, "unknown username or wrong password");
    }
}

async fn repeated_failures_are_refused_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.login_lockout_failures = 3).await;
    for _ in 0..3 {
        let (status, _) = code(login_attempt(&app, "admin", "wrong password!").await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password is refused until the lockout ends.
    let response = login_attempt(&app, "admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(code(response).await.1, "too_many_attempts");
}

async fn refresh_rotates_and_a_replayed_token_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let refresh = |token: &str| {
        let body = json!({ "refresh_token": token });
        let app = &app;
        async move { post(app, "/api/v1/auth/refresh", None, body).await }
    };
    let response = refresh(&first.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: TokenPair = response.json().await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        app.get_as(&second.access_token, "/api/v1/me")
            .await
            .status(),
        200
    );

    // The first refresh token again: a replay. The whole session ends.
    let (status, code_) = code(refresh(&first.refresh_token).await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    let (status, _) = code(refresh(&second.refresh_token).await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the rotated token died with its session"
    );
    let (status, _) = code(app.get_as(&second.access_token, "/api/v1/me").await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "so did the access token of the rotated pair, well before its expiry"
    );
    // Another login of the same user is another session: it goes on.
    let other = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        app.get_as(&other.access_token, "/api/v1/me").await.status(),
        200
    );

    let (status, _) = code(refresh("syr_made-up").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn logout_ends_the_access_token_and_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pair = app.login("admin", ADMIN_PASSWORD).await;
    let response = post(
        &app,
        "/api/v1/auth/logout",
        Some(&pair.access_token),
        json!({ "refresh_token": pair.refresh_token }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = code(app.get_as(&pair.access_token, "/api/v1/me").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = post(
        &app,
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": pair.refresh_token }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn access_tokens_expire(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::spawn_with_clock(backend, Arc::new(clock.clone()), |settings| {
        settings.access_token_ttl_secs = SettingDuration::seconds(60);
    })
    .await;
    let pair = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        app.get_as(&pair.access_token, "/api/v1/me").await.status(),
        200
    );
    clock.advance(Duration::seconds(61));
    let (status, code_) = code(app.get_as(&pair.access_token, "/api/v1/me").await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    // The refresh token still buys a new one.
    let response = post(
        &app,
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": pair.refresh_token }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn disabling_a_user_stops_their_tokens_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.user_token("ada", None).await;
    let admin = app.admin_token().await;
    let api_token: CreatedApiToken =
        post(&app, "/api/v1/tokens", Some(&ada), json!({"name": "ci"}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(
        app.get_as(&api_token.secret, "/api/v1/me").await.status(),
        200
    );

    let response = post(&app, "/api/v1/users/ada/disable", Some(&admin), json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    for token in [&ada, &api_token.secret] {
        let (status, _) = code(app.get_as(token, "/api/v1/me").await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The right password of a disabled account gets the answer of a wrong one.
    let (status, code_) = code(login_attempt(&app, "ada", USER_PASSWORD).await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );

    post(&app, "/api/v1/users/ada/enable", Some(&admin), json!({})).await;
    assert_eq!(
        login_attempt(&app, "ada", USER_PASSWORD).await.status(),
        200
    );
}

async fn grants_decide_what_a_user_sees_from_the_next_request_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_environment("staging", false).await;
    app.create_environment("production", true).await;
    let ada = app.user_token("ada", None).await;
    let me: User = app.get_as(&ada, "/api/v1/me").await.json().await.unwrap();
    assert!(me.grants.is_empty(), "a new user has no grants");
    let visible: Vec<Value> = app
        .get_as(&ada, "/api/v1/environments")
        .await
        .json()
        .await
        .unwrap();
    assert!(visible.is_empty());
    assert_eq!(
        app.get_as(&ada, "/api/v1/environments/staging")
            .await
            .status(),
        403
    );

    app.grant("ada", "staging", "ops").await;
    let visible: Vec<Value> = app
        .get_as(&ada, "/api/v1/environments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(visible.len(), 1);
    assert_eq!(
        app.get_as(&ada, "/api/v1/environments/staging")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get_as(&ada, "/api/v1/environments/production")
            .await
            .status(),
        403
    );

    let admin = app.admin_token().await;
    let response = app
        .call(
            Method::DELETE,
            "/api/v1/users/ada/grants/staging",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.get_as(&ada, "/api/v1/environments/staging")
            .await
            .status(),
        403
    );

    let response = app
        .call(
            Method::PUT,
            "/api/v1/users/ada/grants/nowhere",
            Some(&admin),
            Some(&json!({ "role": "ops" })),
        )
        .await;
    assert_eq!(code(response).await.1, "environment_not_found");
}

async fn the_last_admin_cannot_be_disabled_or_demoted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (status, code_) =
        code(post(&app, "/api/v1/users/admin/disable", Some(&admin), json!({})).await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::CONFLICT, "last_admin")
    );
    let demote = app
        .call(
            Method::PUT,
            "/api/v1/users/admin/role",
            Some(&admin),
            Some(&json!({ "global_role": "auditor" })),
        )
        .await;
    assert_eq!(code(demote).await.1, "last_admin");

    app.user_token("second", Some("admin")).await;
    let response = post(&app, "/api/v1/users/admin/disable", Some(&admin), json!({})).await;
    assert_eq!(response.status(), StatusCode::OK, "another admin remains");
}

async fn password_reset_ends_sessions_and_the_new_password_works(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::spawn_with_clock(backend, Arc::new(clock.clone()), |_| {}).await;
    app.user_token("ada", None).await;
    let session = app.login("ada", USER_PASSWORD).await;
    let admin = app.admin_token().await;
    // The reset happens in the very second of the login (tokens carry whole seconds).
    let reset = |password: &str| {
        let body = json!({ "password": password });
        let (app, admin) = (&app, admin.clone());
        async move {
            app.call(
                Method::PUT,
                "/api/v1/users/ada/password",
                Some(&admin),
                Some(&body),
            )
            .await
        }
    };
    let (status, _) = code(reset("too short").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reset("a brand new password").await.status(),
        StatusCode::NO_CONTENT
    );
    let refreshed = post(
        &app,
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": session.refresh_token }),
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = code(app.get_as(&session.access_token, "/api/v1/me").await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old access token ended too"
    );
    assert_eq!(
        login_attempt(&app, "ada", USER_PASSWORD).await.status(),
        401
    );
    let after = login_attempt(&app, "ada", "a brand new password").await;
    assert_eq!(after.status(), 200);
    // A session started after the reset, still in the same second, works.
    let after: TokenPair = after.json().await.unwrap();
    assert_eq!(
        app.get_as(&after.access_token, "/api/v1/me").await.status(),
        200
    );
    clock.advance(Duration::seconds(1));
}

async fn api_tokens_are_shown_once_act_as_their_owner_and_can_be_revoked(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::spawn_with_clock(backend, Arc::new(clock.clone()), |_| {}).await;
    let ada = app.user_token("ada", None).await;
    let bob = app.user_token("bob", None).await;
    let response = post(
        &app,
        "/api/v1/tokens",
        Some(&ada),
        json!({ "name": "ci publish", "expires_in_days": 30 }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: CreatedApiToken = response.json().await.unwrap();
    assert!(created.secret.starts_with("syt_"));

    let listed: Value = app
        .get_as(&ada, "/api/v1/tokens")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&created.secret),
        "the secret is shown once"
    );

    let me: User = app
        .get_as(&created.secret, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me.username.as_str(), "ada");
    // A token cannot mint tokens or log out.
    let (status, code_) = code(
        post(
            &app,
            "/api/v1/tokens",
            Some(&created.secret),
            json!({"name": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::FORBIDDEN, "session_required")
    );

    // Only the owner or an admin revokes; to others the token does not exist.
    let path = format!("/api/v1/tokens/{}", created.token.id);
    let (status, _) = code(app.call(Method::DELETE, &path, Some(&bob), None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let everyone = app.get_as(&bob, "/api/v1/tokens?all=true").await;
    assert_eq!(everyone.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&ada), None)
            .await
            .status(),
        204
    );
    let (status, _) = code(app.get_as(&created.secret, "/api/v1/me").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let expiring: CreatedApiToken = post(
        &app,
        "/api/v1/tokens",
        Some(&ada),
        json!({ "name": "short", "expires_in_days": 1 }),
    )
    .await
    .json()
    .await
    .unwrap();
    clock.advance(Duration::days(2));
    let (status, _) = code(app.get_as(&expiring.secret, "/api/v1/environments").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bad_input_names_the_field_and_never_breaks_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let cases = [
        (
            "/api/v1/users",
            json!({"username": "", "password": USER_PASSWORD}),
            "username",
        ),
        (
            "/api/v1/users",
            json!({"username": "a\nb", "password": USER_PASSWORD}),
            "username",
        ),
        (
            "/api/v1/users",
            json!({"username": "ada", "password": USER_PASSWORD, "admin": true}),
            "admin",
        ),
        (
            "/api/v1/users",
            json!({"username": "x".repeat(65), "password": USER_PASSWORD}),
            "username",
        ),
        (
            "/api/v1/users",
            json!({"username": "ada", "password": "short"}),
            "password",
        ),
        (
            "/api/v1/users",
            json!({"username": "ada", "password": USER_PASSWORD, "global_role": "root"}),
            "global_role",
        ),
        ("/api/v1/tokens", json!({"name": "tab\there"}), "name"),
        (
            "/api/v1/tokens",
            json!({"name": "ok", "expires_in_days": 9999}),
            "expires_in_days",
        ),
        ("/api/v1/environments", json!({"name": "Bad Name"}), "name"),
        (
            "/api/v1/auth/login",
            json!({"username": "x".repeat(2000), "password": "p"}),
            "username",
        ),
    ];
    for (path, body, field) in cases {
        let response = post(&app, path, Some(&admin), body.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}"
        );
        let error: ErrorBody = response.json().await.unwrap();
        let named = error.error.problems.iter().any(|p| p.path.contains(field))
            || error.error.message.contains(field);
        assert!(named, "{path} {body}: {error:?}");
    }

    let malformed = [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Bearer a b",
        "Bearer \u{1}",
        "bearer ....",
        "Bearer syt_",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.",
    ];
    for header in malformed {
        let Ok(value) = reqwest::header::HeaderValue::from_str(header) else {
            continue;
        };
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
    }
    let users = app
        .get_as(&admin, "/api/v1/users")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !users.contains("argon2"),
        "password hashes never leave the server"
    );
}

for_each_store!(
    login_gives_a_session_that_knows_the_caller,
    unknown_user_and_wrong_password_get_the_same_answer,
    repeated_failures_are_refused_with_retry_after,
    refresh_rotates_and_a_replayed_token_ends_the_session,
    logout_ends_the_access_token_and_the_session,
    access_tokens_expire,
    disabling_a_user_stops_their_tokens_at_once,
    grants_decide_what_a_user_sees_from_the_next_request_on,
    the_last_admin_cannot_be_disabled_or_demoted,
    password_reset_ends_sessions_and_the_new_password_works,
    api_tokens_are_shown_once_act_as_their_owner_and_can_be_revoked,
    bad_input_names_the_field_and_never_breaks_the_server,
);
