//! The web console: its pages in a real browser (Chromium over WebDriver), each checked by
//! axe-core, and its rules over plain HTTP: who sees which page, sessions in cookies, and forms
//! that another site makes a browser send.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::json;
use switchyard_tests::browser::Browser;
use switchyard_tests::{for_each_store, Backend, TestApp, ADMIN_PASSWORD, USER_PASSWORD};

/// staging (open) and production (protected); olivia is ops on staging and production, oscar
/// ops on production, dave a developer on staging, audrey an auditor; staging's baseline has
/// two versions.
async fn fleet(app: &TestApp) {
    app.create_environment("staging", false).await;
    app.create_environment("production", true).await;
    app.user_token("olivia", None).await;
    app.user_token("oscar", None).await;
    app.user_token("dave", None).await;
    app.user_token("audrey", Some("auditor")).await;
    app.grant("olivia", "staging", "ops").await;
    app.grant("olivia", "production", "ops").await;
    app.grant("oscar", "production", "ops").await;
    app.grant("dave", "staging", "developer").await;
    app.create_machine_role("workstation").await;
    app.publish_profile(
        "staging",
        "baseline",
        json!({ "npm": { "registry": "https://npm.old.example/" } }),
    )
    .await;
    app.publish_profile(
        "staging",
        "baseline",
        json!({
            "npm": { "registry": "https://npm.corp.example/" },
            "go": { "proxy": [{ "source": "https://goproxy.corp.example" }] },
        }),
    )
    .await;
}

/// A browser-less visitor: keeps the console's cookies as a browser would, follows no
/// redirect.
struct Visitor<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let text = header.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let removed = attributes.to_ascii_lowercase().contains("max-age=0");
            match removed || value.is_empty() {
                true => self.cookies.remove(name),
                false => self.cookies.insert(name.to_owned(), value.to_owned()),
            };
        }
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self
            .client
            .get(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .form(fields);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        let response = request.send().await.unwrap();
        self.keep(&response);
        response
    }

    fn csrf(&self) -> String {
        self.cookies
            .get("switchyard_csrf")
            .cloned()
            .unwrap_or_default()
    }

    /// Posts `fields` as a console page's form would (its CSRF token, this server's origin):
    /// the status, the `Location` and the body.
    async fn submit(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, String, String) {
        let csrf = self.csrf();
        let origin = self.app.base_url.clone();
        let mut fields = fields.to_vec();
        fields.push(("csrf", &csrf));
        let response = self.post(path, &fields, Some(&origin)).await;
        let status = response.status();
        let location = location(&response);
        (status, location, response.text().await.unwrap())
    }

    /// Signs in as `username` through the form, as a browser would.
    async fn sign_in(&mut self, username: &str, password: &str) -> reqwest::Response {
        self.get("/sign-in").await;
        let csrf = self.csrf();
        let origin = self.app.base_url.clone();
        self.post(
            "/sign-in",
            &[
                ("csrf", &csrf),
                ("next", "/"),
                ("username", username),
                ("password", password),
            ],
            Some(&origin),
        )
        .await
    }
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn console_pages_are_shown_only_to_roles_that_may_see_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let pages = [
        "/",
        "/environments/staging",
        "/environments/staging/profiles/baseline",
        "/environments/staging/profiles/baseline/diff?from=1&to=2",
        "/environments/production",
        "/audit",
        "/audit/export?format=csv",
        "/environments/staging/profiles/baseline/draft",
        "/environments/production/change-requests",
        "/environments/staging/machines",
        "/environments/staging/enrollment-tokens",
        "/users",
        "/users/olivia",
        "/tokens",
        "/tokens?all=1",
        "/environments/staging/rollouts",
    ];
    // Who sees what: the admin everything; the auditor everything but drafts and enrollment
    // tokens (which are made); ops their environments, their drafts and their audit trail; the
    // developer staging only; everyone their own API tokens; nobody, only the way to sign in.
    let expected: [(&str, [u16; 16]); 6] = [
        ("admin", [200; 16]),
        (
            "audrey",
            [
                200, 200, 200, 200, 200, 200, 200, 403, 200, 200, 403, 200, 200, 200, 200, 200,
            ],
        ),
        (
            "olivia",
            [
                200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 403, 403, 200, 403, 200,
            ],
        ),
        (
            "oscar",
            [
                200, 403, 403, 403, 200, 200, 200, 403, 200, 403, 403, 403, 403, 200, 403, 403,
            ],
        ),
        (
            "dave",
            [
                200, 200, 200, 200, 403, 403, 403, 403, 403, 200, 403, 403, 403, 200, 403, 200,
            ],
        ),
        ("", [303; 16]),
    ];
    for (who, statuses) in expected {
        let mut visitor = Visitor::new(&app);
        if !who.is_empty() {
            let password = match who {
                "admin" => ADMIN_PASSWORD,
                _ => USER_PASSWORD,
            };
            let signed = visitor.sign_in(who, password).await;
            assert_eq!(signed.status(), StatusCode::SEE_OTHER, "{who} signs in");
        }
        for (page, status) in pages.iter().zip(statuses) {
            let response = visitor.get(page).await;
            assert_eq!(response.status().as_u16(), status, "{who} at {page}");
            if status == 303 {
                assert!(
                    location(&response).starts_with("/sign-in?next="),
                    "{page}: {}",
                    location(&response)
                );
            }
            if status == 403 {
                let body = response.text().await.unwrap();
                assert!(body.contains("Request id"), "{who} at {page}: {body}");
            }
        }
    }
    // A browser asking for an address that is no page gets a page saying so; a program
    // asking for one under the API gets the API's JSON.
    let mut visitor = Visitor::new(&app);
    let missing = visitor
        .client
        .get(app.url("/no-such-page"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("no page at this address"));
    let wrong_method = visitor
        .client
        .get(app.url("/sign-out"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.text().await.unwrap().contains("Request id"));
    let api = visitor.get("/api/v1/no-such-route").await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert!(api.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // The API takes no cookie: a browser's session authorizes no API call.
    let mut visitor = Visitor::new(&app);
    visitor.sign_in("audrey", USER_PASSWORD).await;
    assert_eq!(
        visitor.get("/api/v1/audit").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn forms_from_other_sites_or_without_their_token_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let mut visitor = Visitor::new(&app);
    visitor.get("/sign-in").await;
    let csrf = visitor.csrf();
    let own = app.base_url.clone();
    let login = |token: &'static str| {
        [
            ("username", "olivia"),
            ("password", USER_PASSWORD),
            ("csrf", token),
        ]
    };
    // No token, a wrong one, the right one from another site.
    assert_eq!(
        visitor
            .post("/sign-in", &login("")[..2], Some(&own))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        visitor
            .post("/sign-in", &login("forged"), Some(&own))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let with_token = [
        ("username", "olivia"),
        ("password", USER_PASSWORD),
        ("csrf", csrf.as_str()),
    ];
    assert_eq!(
        visitor
            .post("/sign-in", &with_token, Some("http://evil.example"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(!visitor.cookies.contains_key("switchyard_session"));
    // Signed in, the session survives a forged sign-out and ends with a real one.
    assert_eq!(
        visitor.sign_in("olivia", USER_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let fresh = visitor.csrf();
    assert_ne!(fresh, csrf, "signing in gives a new CSRF token");
    let refused = visitor
        .post("/sign-out", &[("csrf", csrf.as_str())], Some(&own))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = visitor
        .post("/sign-out", &[("csrf", fresh.as_str())], Some("null"))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(visitor.get("/").await.status(), StatusCode::OK);
    let out = visitor
        .post("/sign-out", &[("csrf", fresh.as_str())], Some(&own))
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(visitor.get("/").await.status(), StatusCode::SEE_OTHER);
    // A wrong password is said on the form, and nothing more.
    let csrf = visitor.csrf();
    let wrong = visitor
        .post(
            "/sign-in",
            &[
                ("username", "olivia"),
                ("password", "not it"),
                ("csrf", csrf.as_str()),
            ],
            Some(&own),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("wrong"));
}

async fn a_session_is_renewed_from_its_refresh_cookie_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_in("olivia", USER_PASSWORD).await;
    let refresh = visitor.cookies["switchyard_refresh"].clone();
    // The browser dropped the access cookie (its Max-Age ends before the token).
    visitor.cookies.remove("switchyard_session");
    assert_eq!(visitor.get("/").await.status(), StatusCode::OK);
    assert!(visitor.cookies.contains_key("switchyard_session"));
    assert_ne!(visitor.cookies["switchyard_refresh"], refresh);
    // A copy of the used refresh token, presented again, ends the session.
    let mut thief = Visitor::new(&app);
    thief
        .cookies
        .insert("switchyard_refresh".into(), refresh.clone());
    let refused = thief.get("/").await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert!(!thief.cookies.contains_key("switchyard_refresh"));
    visitor.cookies.remove("switchyard_session");
    assert_eq!(visitor.get("/").await.status(), StatusCode::SEE_OTHER);
}

async fn what_a_role_may_not_do_is_refused_when_posted_anyway(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let own = app.base_url.clone();
    // dave and audrey read staging, oscar operates production only: none may change staging.
    for (who, environment) in [
        ("dave", "staging"),
        ("audrey", "staging"),
        ("oscar", "staging"),
    ] {
        let mut visitor = Visitor::new(&app);
        visitor.sign_in(who, USER_PASSWORD).await;
        let csrf = visitor.csrf();
        let base = format!("/environments/{environment}/profiles/baseline");
        let attempts = [
            (
                format!("{base}/draft/npm"),
                vec![("registry", "https://evil.example/"), ("revision", "0")],
            ),
            (
                format!("{base}/publish"),
                vec![("message", "mine"), ("revision", "0")],
            ),
            (
                format!("{base}/rollback"),
                vec![
                    ("message", "mine"),
                    ("based_on_version", "2"),
                    ("to_version", "1"),
                ],
            ),
            (
                format!(
                    "/environments/{environment}/rollouts/{}/pause",
                    uuid::Uuid::nil()
                ),
                vec![("reason", "mine")],
            ),
            (
                format!(
                    "/environments/{environment}/machines/{}/revoke",
                    uuid::Uuid::nil()
                ),
                vec![],
            ),
            (
                format!("/environments/{environment}/enrollment-tokens"),
                vec![
                    ("machine_role", "workstation"),
                    ("expires_in_hours", "24"),
                    ("max_uses", "5"),
                ],
            ),
            (
                format!(
                    "/environments/{environment}/enrollment-tokens/{}/revoke",
                    uuid::Uuid::nil()
                ),
                vec![],
            ),
        ];
        for (path, mut fields) in attempts {
            fields.push(("csrf", csrf.as_str()));
            let refused = visitor.post(&path, &fields, Some(&own)).await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{who}: {path}");
            assert!(
                refused.text().await.unwrap().contains("ops role"),
                "{who}: {path}"
            );
        }
    }
    // Only admins change users: ops and the auditor are refused whatever they post.
    for who in ["olivia", "audrey"] {
        let mut visitor = Visitor::new(&app);
        visitor.sign_in(who, USER_PASSWORD).await;
        let csrf = visitor.csrf();
        let password = "a long enough password";
        let attempts = [
            (
                "/users",
                vec![
                    ("username", "mallory"),
                    ("password", password),
                    ("global_role", "admin"),
                ],
            ),
            ("/users/dave/role", vec![("global_role", "admin")]),
            (
                "/users/dave/grants",
                vec![("environment", "production"), ("role", "ops")],
            ),
            ("/users/dave/grants/staging/remove", vec![]),
            ("/users/admin/disable", vec![]),
            ("/users/admin/password", vec![("password", password)]),
        ];
        for (path, mut fields) in attempts {
            fields.push(("csrf", csrf.as_str()));
            let refused = visitor.post(path, &fields, Some(&own)).await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{who}: {path}");
        }
    }
    // Someone else's API token is as good as unknown to anyone but an admin.
    let olivia = app.login("olivia", USER_PASSWORD).await.access_token;
    let token: serde_json::Value = app
        .call(
            reqwest::Method::POST,
            "/api/v1/tokens",
            Some(&olivia),
            Some(&json!({ "name": "olivia's ci" })),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut dave = Visitor::new(&app);
    dave.sign_in("dave", USER_PASSWORD).await;
    let csrf = dave.csrf();
    let revoke = format!("/tokens/{}/revoke", token["id"].as_str().unwrap());
    let refused = dave.post(&revoke, &[("csrf", &csrf)], Some(&own)).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    // Nothing changed: staging still has two versions and an untouched draft, dave his role.
    let admin = app.admin_token().await;
    let dave: serde_json::Value = app
        .get_as(&admin, "/api/v1/users/dave")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dave["global_role"], serde_json::Value::Null);
    assert_eq!(dave["grants"].as_array().unwrap().len(), 1);
    let tokens: Vec<serde_json::Value> = app
        .get_as(&olivia, "/api/v1/tokens")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens[0]["revoked"], false);
    let versions: Vec<serde_json::Value> = app
        .get_as(
            &admin,
            "/api/v1/environments/staging/profiles/baseline/versions",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
}

async fn an_admin_manages_users_with_the_api_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let mut admin = Visitor::new(&app);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let good = "a long enough password";
    // Problems at their fields; the password never comes back in the page.
    let (status, _, body) = admin
        .submit(
            "/users",
            &[("username", "Erin Smith"), ("password", "too short")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"id="username" name="username" value="Erin Smith""#));
    assert!(body.contains(r#"aria-describedby="p-username""#));
    assert!(body.contains(r#"aria-describedby="p-password""#));
    assert!(!body.contains("too short"));
    let (status, location, _) = admin
        .submit("/users", &[("username", "erin"), ("password", good)])
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/users/erin")
    );
    // Refusals of the whole form are said above it.
    let (status, _, body) = admin
        .submit("/users", &[("username", "erin"), ("password", good)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains(r#"class="error" role="alert""#), "{body}");
    let (status, _, body) = admin
        .submit("/users/admin/role", &[("global_role", "")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("no enabled administrator"), "{body}");
    let (status, _, _) = admin.submit("/users/admin/disable", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Grants, the global role, the password, disabling: each as the API does it.
    let redirected = (StatusCode::SEE_OTHER, "/users/erin".to_owned());
    for (path, fields) in [
        (
            "/users/erin/grants",
            vec![("environment", "staging"), ("role", "ops")],
        ),
        (
            "/users/erin/grants",
            vec![("environment", "production"), ("role", "developer")],
        ),
        ("/users/erin/grants/staging/remove", vec![]),
        ("/users/erin/role", vec![("global_role", "auditor")]),
    ] {
        let (status, location, _) = admin.submit(path, &fields).await;
        assert_eq!((status, location), redirected, "{path}");
    }
    let (status, _, body) = admin
        .submit("/users/erin/grants", &[("role", "owner")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"aria-describedby="p-role""#));
    let (status, _, _) = admin.submit("/users/erin/promote", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let token = app.admin_token().await;
    let erin: serde_json::Value = app
        .get_as(&token, "/api/v1/users/erin")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(erin["global_role"], "auditor");
    assert_eq!(
        erin["grants"],
        json!([{ "environment": "production", "role": "developer" }])
    );
    let (status, _, body) = admin
        .submit(
            "/users/erin/password",
            &[("password", "new enough password")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Password set"));
    app.login("erin", "new enough password").await;
    let (status, location, _) = admin.submit("/users/erin/disable", &[]).await;
    assert_eq!((status, location), redirected);
    let refused = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({ "username": "erin", "password": "new enough password" })),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (status, location, _) = admin.submit("/users/erin/enable", &[]).await;
    assert_eq!((status, location), redirected);
    app.login("erin", "new enough password").await;
    // Every change is in the audit trail, by the admin, without the password.
    let page: serde_json::Value = app
        .get_as(&token, "/api/v1/audit?actor=admin&limit=500")
        .await
        .json()
        .await
        .unwrap();
    let events: Vec<&serde_json::Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["target"] == "user:erin")
        .collect();
    // Made; two grants and one taken away; the role; the password; disabled and enabled.
    assert_eq!(events.len(), 8, "{events:?}");
    assert!(!serde_json::to_string(&events)
        .unwrap()
        .contains("new enough"));
}

for_each_store!(
    console_pages_are_shown_only_to_roles_that_may_see_them,
    what_a_role_may_not_do_is_refused_when_posted_anyway,
    forms_from_other_sites_or_without_their_token_are_refused,
    a_session_is_renewed_from_its_refresh_cookie_once,
    an_admin_manages_users_with_the_api_rules,
);

/// Signs in through the form in `browser`.
async fn sign_in(browser: &Browser, app: &TestApp, username: &str) {
    browser.goto(&app.url("/sign-in")).await;
    browser.fill("#username", username).await;
    let password = match username {
        "admin" => ADMIN_PASSWORD,
        _ => USER_PASSWORD,
    };
    browser.fill("#password", password).await;
    browser.click("form button[type=submit]").await;
    let text = browser.main_text().await;
    assert!(
        text.contains("Environments"),
        "{username} signed in: {text}"
    );
}

/// Asserts axe-core finds nothing serious on the page now shown.
async fn accessible(browser: &Browser, page: &str) {
    let problems = browser.accessibility_problems().await;
    assert!(
        problems.is_empty(),
        "{page}: serious accessibility problems: {problems:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_compare_two_versions_side_by_side_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    accessible(&browser, "sign-in").await;
    browser.screenshot("sign-in").await;
    sign_in(&browser, &app, "olivia").await;
    accessible(&browser, "environments").await;
    browser.screenshot("environments").await;
    browser.click("a[href='/environments/staging']").await;
    let text = browser.main_text().await;
    assert!(text.contains("baseline") && text.contains("2"), "{text}");
    accessible(&browser, "environment").await;
    browser.screenshot("environment").await;
    browser
        .click("a[href='/environments/staging/profiles/baseline']")
        .await;
    accessible(&browser, "versions").await;
    browser.screenshot("versions").await;
    browser.click("main form button[type=submit]").await;
    let text = browser.main_text().await;
    assert!(text.contains("version 1 → 2"), "{text}");
    for expected in [
        "npm.registry",
        "https://npm.old.example/",
        "https://npm.corp.example/",
        "go.proxy",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(browser.has("table.diff td.old").await);
    accessible(&browser, "diff").await;
    browser.screenshot("diff").await;
    // A narrow window: nothing wider than the window but the tables, which scroll.
    browser
        .client
        .set_window_size(400, 800)
        .await
        .expect("resize the window");
    let overflow = browser
        .client
        .execute(
            "return document.body.scrollWidth > window.innerWidth;",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        json!(false),
        "the page is wider than a narrow window"
    );
    browser.screenshot("diff-narrow").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_sees_staging_but_no_way_to_change_it_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "dave").await;
    assert!(!browser.has("a[href='/audit']").await, "no audit link");
    browser.goto(&app.url("/environments/staging")).await;
    let text = browser.main_text().await;
    assert!(text.contains("changing it needs the ops role"), "{text}");
    assert!(!browser.has("main form[method=post]").await);
    browser.goto(&app.url("/audit")).await;
    let text = browser.main_text().await;
    assert!(
        text.contains("Forbidden") && text.contains("Request id"),
        "{text}"
    );
    accessible(&browser, "error").await;
    browser.goto(&app.url("/environments/production")).await;
    assert!(browser.main_text().await.contains("no role on environment"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_filters_the_audit_trail_and_exports_it_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    // olivia's sign-in is an event of hers.
    sign_in(&browser, &app, "olivia").await;
    browser.click("button.link").await;
    sign_in(&browser, &app, "audrey").await;
    browser.click("a[href='/audit']").await;
    browser.click("a[href='/audit?verify=1']").await;
    let text = browser.main_text().await;
    assert!(text.contains("The chain holds"), "{text}");
    browser.fill("#f-actor", "olivia").await;
    browser.click("form.filters button[type=submit]").await;
    let rows = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('table.events tbody tr'))
                    .map(row => row.cells[2].textContent);",
            Vec::new(),
        )
        .await
        .unwrap();
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty(), "olivia's events are listed");
    for who in rows {
        assert!(who.as_str().unwrap().contains("olivia"), "{who}");
    }
    accessible(&browser, "audit").await;
    browser.screenshot("audit").await;
    // The export link carries the filters: every line it gives is olivia's.
    let csv = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = Array.from(document.querySelectorAll('a'))
                          .find(a => a.textContent === 'CSV');
             fetch(link.href).then(r => r.text()).then(done);",
            Vec::new(),
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines.len() > 1, "{csv}");
    assert!(lines[0].starts_with("seq,"), "{csv}");
    for line in &lines[1..] {
        assert!(line.contains(",olivia,"), "{line}");
    }
    // A filter the API refuses is shown at its field.
    browser.fill("#f-actor", "").await;
    browser.fill("#f-role", "Not A Role!").await;
    browser.click("form.filters button[type=submit]").await;
    assert!(browser.has("#f-role[aria-invalid=true]").await);
    assert!(browser.has("#p-role").await);
    accessible(&browser, "audit with a problem").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_fix_a_field_error_publish_and_see_the_diff_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "olivia").await;
    browser
        .goto(&app.url("/environments/staging/profiles/baseline"))
        .await;
    browser
        .click("a[href='/environments/staging/profiles/baseline/draft']")
        .await;
    accessible(&browser, "draft").await;
    browser.screenshot("draft").await;
    // A registry that is no URL: the API's own problem, at the field.
    browser
        .fill("#npm-registry", "ftp://npm.corp.example")
        .await;
    browser.click("#npm form button[type=submit]").await;
    assert!(browser.has("#npm-registry[aria-invalid=true]").await);
    let problem = browser
        .client
        .find(fantoccini::Locator::Css("#npm-registry-problem"))
        .await
        .expect("the problem is shown at the field")
        .text()
        .await
        .unwrap();
    assert!(problem.contains("http"), "{problem}");
    accessible(&browser, "draft with a problem").await;
    browser
        .client
        .execute(
            "document.getElementById('npm').scrollIntoView();",
            Vec::new(),
        )
        .await
        .unwrap();
    browser.screenshot("draft-problem").await;
    // Fixed, saved, published: the browser lands on what changed.
    browser
        .fill("#npm-registry", "https://npm.new.example/")
        .await;
    browser.click("#npm form button[type=submit]").await;
    assert!(browser.main_text().await.contains("Saved npm"));
    browser.fill("#message", "npm from the new registry").await;
    browser.click(".publish form button[type=submit]").await;
    let text = browser.main_text().await;
    assert!(text.contains("version 2 → 3"), "{text}");
    assert!(
        text.contains("https://npm.corp.example/") && text.contains("https://npm.new.example/"),
        "{text}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_person_approves_a_protected_change_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "olivia").await;
    browser
        .goto(&app.url("/environments/production/profiles/baseline/draft"))
        .await;
    browser
        .client
        .find(fantoccini::Locator::Css("#npm summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .fill("#npm-registry", "https://npm.corp.example/")
        .await;
    browser.click("#npm form button[type=submit]").await;
    browser
        .fill("#message", "production uses our registry")
        .await;
    browser.click(".publish form button[type=submit]").await;
    // Proposed, not published: olivia is shown no way to approve her own request.
    let text = browser.main_text().await;
    assert!(text.contains("You proposed this"), "{text}");
    assert!(!browser.has("form[action$='/approve']").await);
    browser.click("button.link").await;
    sign_in(&browser, &app, "oscar").await;
    browser
        .goto(&app.url("/environments/production/change-requests"))
        .await;
    let text = browser.main_text().await;
    assert!(
        text.contains("production uses our registry") && text.contains("https://npm.corp.example/"),
        "{text}"
    );
    accessible(&browser, "change requests").await;
    browser.screenshot("change-requests").await;
    browser
        .fill(
            "form[action$='/approve'] input[name=reason]",
            "checked with the registry team",
        )
        .await;
    browser.click("form[action$='/approve'] button").await;
    let text = browser.main_text().await;
    assert!(text.contains("version 0 → 1"), "{text}");
    assert!(text.contains("npm.registry"), "{text}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_make_an_enrollment_token_and_revoke_the_machine_it_enrolled_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "olivia").await;
    browser
        .goto(&app.url("/environments/staging/machines"))
        .await;
    assert!(browser
        .main_text()
        .await
        .contains("No machine has enrolled"));
    browser
        .click("a[href='/environments/staging/enrollment-tokens']")
        .await;
    // A number that is none: the problem at its field, the token not made.
    browser.fill("#max_uses", "many").await;
    browser.fill("#labels", "ring").await;
    browser
        .click("form[action$='/enrollment-tokens'] button")
        .await;
    assert!(browser.has("#max_uses[aria-invalid=true]").await);
    assert!(browser.has("#labels[aria-invalid=true]").await);
    assert!(browser.main_text().await.contains("name=value"));
    browser.fill("#max_uses", "2").await;
    browser.fill("#labels", "ring=canary").await;
    browser
        .click("form[action$='/enrollment-tokens'] button")
        .await;
    let secret = browser
        .client
        .find(fantoccini::Locator::Css("#new-secret"))
        .await
        .expect("the secret is shown once")
        .text()
        .await
        .unwrap();
    assert!(
        browser
            .has("button[aria-label='Copy the enrollment token']")
            .await
    );
    // The command to run on a machine, with this server's address as the browser reached it.
    let server = app.url("");
    assert!(
        browser.main_text().await.contains(&format!(
            "switchyard-agent enroll --server {} --token {secret}",
            server.trim_end_matches('/')
        )),
        "{}",
        browser.main_text().await
    );
    accessible(&browser, "enrollment tokens").await;
    browser.screenshot("enrollment-tokens").await;
    browser
        .goto(&app.url("/environments/staging/enrollment-tokens"))
        .await;
    assert!(!browser.has("#new-secret").await, "shown once only");
    assert!(!browser.client.source().await.unwrap().contains(&secret));
    // A machine enrolls with it, and appears; ops revoke it.
    let device = switchyard_tests::TestDevice::enroll(&app, &secret)
        .await
        .expect("the token enrolls a machine");
    browser
        .goto(&app.url("/environments/staging/machines"))
        .await;
    let text = browser.main_text().await;
    assert!(
        text.contains("build-07.corp.example")
            && text.contains("never reported")
            && text.contains("ring=canary"),
        "{text}"
    );
    accessible(&browser, "machines").await;
    browser.screenshot("machines").await;
    browser
        .click(&format!(
            "form[action$='/machines/{}/revoke'] button",
            device.id
        ))
        .await;
    assert!(browser.main_text().await.contains("revoked"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_makes_an_api_token_and_an_admin_grants_them_a_role_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "dave").await;
    browser.click("a[href='/tokens']").await;
    // A name that is none: the problem at its field.
    browser.fill("#name", " ").await;
    browser.click("form[action='/tokens'] button").await;
    assert!(browser.has("#name[aria-invalid=true]").await);
    browser.fill("#name", "laptop scripts").await;
    browser.fill("#expires_in_days", "30").await;
    browser.click("form[action='/tokens'] button").await;
    let secret = browser
        .client
        .find(fantoccini::Locator::Css("#new-secret"))
        .await
        .expect("the secret is shown once")
        .text()
        .await
        .unwrap();
    assert!(browser.has("button[aria-label='Copy the API token']").await);
    accessible(&browser, "API tokens").await;
    browser.screenshot("api-tokens").await;
    // The secret works as dave, until he revokes it.
    assert_eq!(
        app.get_as(&secret, "/api/v1/me").await.status(),
        StatusCode::OK
    );
    browser.goto(&app.url("/tokens")).await;
    assert!(!browser.client.source().await.unwrap().contains(&secret));
    browser
        .click("button[aria-label='Revoke laptop scripts of dave']")
        .await;
    assert!(browser.main_text().await.contains("revoked"));
    assert_eq!(
        app.get_as(&secret, "/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    browser.click("form[action='/sign-out'] button").await;
    // The admin makes dave ops on production.
    sign_in(&browser, &app, "admin").await;
    browser.click("a[href='/users']").await;
    accessible(&browser, "users").await;
    browser.screenshot("users").await;
    browser.click("a[href='/users/dave']").await;
    browser.select("#environment", "production").await;
    browser.select("#role", "ops").await;
    browser
        .click("form[action='/users/dave/grants'] button")
        .await;
    let text = browser.main_text().await;
    assert!(
        text.contains("production") && text.contains("ops"),
        "{text}"
    );
    assert!(
        browser
            .has("button[aria-label='Remove the grant on production']")
            .await
    );
    accessible(&browser, "a user").await;
    browser.screenshot("user").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_publish_in_waves_and_pause_resume_and_abort_the_rollout_in_a_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "olivia").await;
    browser
        .goto(&app.url("/environments/staging/profiles/baseline/draft"))
        .await;
    browser
        .fill("#npm-registry", "https://npm.waves.example/")
        .await;
    browser.click("#npm form button[type=submit]").await;
    // A share over 100 percent: the API's own rule, at the field.
    browser
        .fill("#message", "npm through the wave mirror")
        .await;
    browser.tick("#how-waves").await;
    browser.fill("#waves", "10, 150").await;
    browser.click(".publish form button[type=submit]").await;
    assert!(browser.has("#waves[aria-invalid=true]").await);
    assert!(
        browser.has("#how-waves:checked").await,
        "the choice is kept"
    );
    browser.fill("#waves", "10, 50").await;
    browser.fill("#soak_minutes", "30").await;
    browser.click(".publish form button[type=submit]").await;
    let text = browser.main_text().await;
    assert!(
        text.contains("version 2 → 3") && text.contains("running") && text.contains("1 of 2"),
        "{text}"
    );
    assert!(
        text.contains("waiting"),
        "the gate waits for reports: {text}"
    );
    accessible(&browser, "rollouts").await;
    browser.screenshot("rollouts").await;
    // Moves are checked as the API checks them: a reason is needed, an ended rollout stays.
    let mut visitor = Visitor::new(&app);
    visitor.sign_in("olivia", USER_PASSWORD).await;
    let token = app.admin_token().await;
    let rollouts: Vec<serde_json::Value> = app
        .get_as(&token, "/api/v1/environments/staging/rollouts")
        .await
        .json()
        .await
        .unwrap();
    let id = rollouts[0]["id"].as_str().unwrap().to_owned();
    let pause = format!("/environments/staging/rollouts/{id}/pause");
    let (status, _, body) = visitor.submit(&pause, &[("reason", " ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(&format!(r#"aria-describedby="p-reason-{id}""#)),
        "the problem at the rollout's reason: {body}"
    );
    assert!(body.contains(r#"value=" "#) || body.contains(r#"value="""#));
    // A publish that cannot be made now (a rollout runs, nothing is new): refused on the
    // form, what was typed kept.
    let draft: serde_json::Value = app
        .get_as(
            &token,
            "/api/v1/environments/staging/profiles/baseline/draft",
        )
        .await
        .json()
        .await
        .unwrap();
    let revision = draft["revision"].to_string();
    let publish = "/environments/staging/profiles/baseline/publish";
    let (status, _, body) = visitor
        .submit(
            publish,
            &[
                ("revision", revision.as_str()),
                ("message", "everyone at once"),
                ("how", "everyone"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains(r#"value="everyone at once""#), "{body}");
    assert!(body.contains(r#"class="error" role="alert""#), "{body}");
    for (button, state) in [
        ("pause", "paused"),
        ("resume", "running"),
        ("abort", "aborted"),
    ] {
        browser
            .fill("input[name=reason]", &format!("{button} by hand"))
            .await;
        browser
            .click(&format!("button[formaction$='/{button}']"))
            .await;
        let text = browser.main_text().await;
        assert!(text.contains(state), "{button}: {text}");
    }
    assert!(browser
        .main_text()
        .await
        .contains("No rollout is under way"));
    browser.close().await;
    let resume = format!("/environments/staging/rollouts/{id}/resume");
    let (status, _, body) = visitor.submit(&resume, &[("reason", "again")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains(r#"class="error" role="alert""#), "{body}");
    let (status, _, _) = visitor
        .submit(
            &format!("/environments/staging/rollouts/{id}/skip"),
            &[("reason", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
