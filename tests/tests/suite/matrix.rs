//! The authorization matrix: every route of the OpenAPI description, called by every kind of
//! caller, answers with exactly the expected status. Routes come from the generated
//! description, so a new endpoint that is missing from the table below fails this test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};
use switchyard_proto::{CreatedApiToken, Username};
use switchyard_server::auth::jwt::AccessTokens;
use switchyard_tests::{
    for_each_store, Backend, TestApp, TestDevice, ADMIN_PASSWORD, USER_PASSWORD,
};
use time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    Anonymous,
    ExpiredToken,
    ForeignKeyToken,
    AlgNoneToken,
    TamperedToken,
    DisabledUser,
    Admin,
    Auditor,
    OpsGranted,
    OpsElsewhere,
    DeveloperGranted,
    DeveloperElsewhere,
    NoGrants,
    OpsApiToken,
}

const CALLERS: [Caller; 14] = [
    Caller::Anonymous,
    Caller::ExpiredToken,
    Caller::ForeignKeyToken,
    Caller::AlgNoneToken,
    Caller::TamperedToken,
    Caller::DisabledUser,
    Caller::Admin,
    Caller::Auditor,
    Caller::OpsGranted,
    Caller::OpsElsewhere,
    Caller::DeveloperGranted,
    Caller::DeveloperElsewhere,
    Caller::NoGrants,
    Caller::OpsApiToken,
];

/// Who may call a route, and the status they get.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Anyone(u16),
    Authenticated(u16),
    /// Authenticated with a login session; API tokens get 403.
    Session(u16),
    Admin(u16),
    ReadAll(u16),
    ReadEnvironment(u16),
    OperateEnvironment(u16),
    /// Admins and auditors, and ops of any environment (who see their environments' events).
    ReadAudit(u16),
    /// Enrolled machines' signed requests only: every bearer credential is refused.
    Device,
}

impl Rule {
    fn expected(self, caller: Caller) -> u16 {
        use Caller::*;
        if let Rule::Anyone(status) = self {
            return status;
        }
        if let Rule::Device = self {
            return 401;
        }
        if matches!(
            caller,
            Anonymous
                | ExpiredToken
                | ForeignKeyToken
                | AlgNoneToken
                | TamperedToken
                | DisabledUser
        ) {
            return 401;
        }
        let allowed = match self {
            Rule::Anyone(_) | Rule::Authenticated(_) => true,
            Rule::Session(_) => caller != OpsApiToken,
            Rule::Admin(_) => caller == Admin,
            Rule::ReadAll(_) => matches!(caller, Admin | Auditor),
            Rule::ReadEnvironment(_) => matches!(
                caller,
                Admin | Auditor | OpsGranted | DeveloperGranted | OpsApiToken
            ),
            Rule::OperateEnvironment(_) => matches!(caller, Admin | OpsGranted | OpsApiToken),
            Rule::ReadAudit(_) => matches!(
                caller,
                Admin | Auditor | OpsGranted | OpsElsewhere | OpsApiToken
            ),
            Rule::Device => false,
        };
        match (allowed, self) {
            (true, Rule::Anyone(s) | Rule::Authenticated(s) | Rule::Session(s))
            | (true, Rule::Admin(s) | Rule::ReadAll(s))
            | (true, Rule::ReadEnvironment(s) | Rule::OperateEnvironment(s))
            | (true, Rule::ReadAudit(s)) => s,
            (true, Rule::Device) | (false, Rule::Device) => 401,
            (false, _) => 403,
        }
    }

    /// What the OpenAPI description must say about the route.
    fn documented_roles(self) -> Vec<&'static str> {
        match self {
            Rule::Anyone(_) => vec!["anyone"],
            Rule::Authenticated(_) | Rule::Session(_) => vec!["authenticated"],
            Rule::Admin(_) => vec!["admin"],
            Rule::ReadAll(_) => vec!["admin", "auditor"],
            Rule::ReadEnvironment(_) => vec![
                "admin",
                "auditor",
                "ops on the environment",
                "developer on the environment",
            ],
            Rule::OperateEnvironment(_) => vec!["admin", "ops on the environment"],
            Rule::ReadAudit(_) => vec!["admin", "auditor", "ops (their environments)"],
            Rule::Device => vec!["enrolled device"],
        }
    }
}

/// The table: every route and its rule.
fn rule(method: &str, path: &str) -> Option<Rule> {
    Some(match (method, path) {
        ("GET", "/healthz" | "/readyz" | "/api/v1/version" | "/api/v1/openapi.json") => {
            Rule::Anyone(200)
        }
        ("POST", "/api/v1/auth/login" | "/api/v1/auth/refresh") => Rule::Anyone(200),
        ("POST", "/api/v1/auth/logout") => Rule::Session(204),
        ("GET", "/api/v1/me") => Rule::Authenticated(200),
        ("GET", "/api/v1/users" | "/api/v1/users/{username}") => Rule::ReadAll(200),
        ("POST", "/api/v1/users") => Rule::Admin(201),
        ("POST", "/api/v1/users/{username}/disable" | "/api/v1/users/{username}/enable") => {
            Rule::Admin(200)
        }
        ("PUT", "/api/v1/users/{username}/password") => Rule::Admin(204),
        ("PUT", "/api/v1/users/{username}/role") => Rule::Admin(200),
        ("PUT" | "DELETE", "/api/v1/users/{username}/grants/{environment}") => Rule::Admin(200),
        ("GET", "/api/v1/environments") => Rule::Authenticated(200),
        ("POST", "/api/v1/environments") => Rule::Admin(201),
        ("GET", "/api/v1/environments/{environment}") => Rule::ReadEnvironment(200),
        ("PATCH", "/api/v1/environments/{environment}") => Rule::Admin(200),
        ("POST", "/api/v1/tokens") => Rule::Session(201),
        ("GET", "/api/v1/tokens") => Rule::Authenticated(200),
        ("DELETE", "/api/v1/tokens/{id}") => Rule::Authenticated(204),
        ("GET", "/api/v1/machine-roles") => Rule::Authenticated(200),
        ("POST", "/api/v1/machine-roles") => Rule::Admin(201),
        (
            "GET",
            "/api/v1/environments/{environment}/profiles/{target}/draft"
            | "/api/v1/environments/{environment}/profiles/{target}/versions"
            | "/api/v1/environments/{environment}/profiles/{target}/versions/{version}"
            | "/api/v1/environments/{environment}/profiles/{target}/diff"
            | "/api/v1/environments/{environment}/effective",
        ) => Rule::ReadEnvironment(200),
        ("PUT", "/api/v1/environments/{environment}/profiles/{target}/draft") => {
            Rule::OperateEnvironment(200)
        }
        (
            "POST",
            "/api/v1/environments/{environment}/profiles/{target}/publish"
            | "/api/v1/environments/{environment}/profiles/{target}/rollback",
        ) => Rule::OperateEnvironment(202),
        (
            "GET",
            "/api/v1/environments/{environment}/change-requests"
            | "/api/v1/environments/{environment}/change-requests/{id}",
        ) => Rule::ReadEnvironment(200),
        ("POST", "/api/v1/environments/{environment}/change-requests/{id}/approve") => {
            Rule::OperateEnvironment(201)
        }
        ("POST", "/api/v1/environments/{environment}/change-requests/{id}/reject") => {
            Rule::OperateEnvironment(200)
        }
        ("GET", "/api/v1/audit" | "/api/v1/audit/export") => Rule::ReadAudit(200),
        ("GET", "/api/v1/audit/verify") => Rule::ReadAll(200),
        ("GET", "/api/v1/keys") => Rule::ReadAll(200),
        ("POST", "/api/v1/keys/rotate") => Rule::Admin(201),
        ("GET", "/api/v1/agent/key-sets") => Rule::Anyone(200),
        ("POST", "/api/v1/agent/enroll") => Rule::Anyone(201),
        ("GET", "/api/v1/agent/profile")
        | ("POST", "/api/v1/agent/status" | "/api/v1/agent/leave") => Rule::Device,
        ("POST", "/api/v1/environments/{environment}/enrollment-tokens") => {
            Rule::OperateEnvironment(201)
        }
        ("GET", "/api/v1/environments/{environment}/enrollment-tokens") => {
            Rule::OperateEnvironment(200)
        }
        ("DELETE", "/api/v1/environments/{environment}/enrollment-tokens/{id}") => {
            Rule::OperateEnvironment(204)
        }
        (
            "GET",
            "/api/v1/environments/{environment}/devices"
            | "/api/v1/environments/{environment}/rollout"
            | "/api/v1/environments/{environment}/mirror-health",
        ) => Rule::ReadEnvironment(200),
        ("POST", "/api/v1/environments/{environment}/devices/{id}/revoke") => {
            Rule::OperateEnvironment(204)
        }
        ("POST", "/api/v1/environments/{environment}/devices/{id}/move")
        | ("PUT", "/api/v1/environments/{environment}/devices/{id}/labels") => {
            Rule::OperateEnvironment(200)
        }
        (
            "GET",
            "/api/v1/environments/{environment}/rollouts"
            | "/api/v1/environments/{environment}/rollouts/{id}"
            | "/api/v1/environments/{environment}/overrides"
            | "/api/v1/environments/{environment}/variable-allowances",
        ) => Rule::ReadEnvironment(200),
        ("PUT", "/api/v1/environments/{environment}/variable-allowances/{name}") => {
            Rule::Admin(200)
        }
        ("DELETE", "/api/v1/environments/{environment}/variable-allowances/{name}") => {
            Rule::Admin(204)
        }
        // A protected environment: the first promotion by hand asks for a second person.
        ("POST", "/api/v1/environments/{environment}/rollouts/{id}/promote") => {
            Rule::OperateEnvironment(202)
        }
        (
            "POST",
            "/api/v1/environments/{environment}/rollouts/{id}/pause"
            | "/api/v1/environments/{environment}/rollouts/{id}/resume"
            | "/api/v1/environments/{environment}/rollouts/{id}/abort",
        ) => Rule::OperateEnvironment(200),
        _ => return None,
    })
}

struct Fixture {
    app: TestApp,
    /// The bearer token each caller presents (none for anonymous).
    tokens: HashMap<Caller, String>,
    /// The user behind each valid caller, to log in again where a call ends a session.
    usernames: HashMap<Caller, &'static str>,
    admin: String,
    counter: AtomicU32,
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let app = TestApp::spawn(backend).await;
        // Protected, so publishing goes through change requests and their routes are covered.
        app.create_environment("staging", true).await;
        app.create_environment("other", true).await;
        let admin = app.admin_token().await;
        let mut tokens = HashMap::new();
        let mut usernames = HashMap::new();
        // (caller, username, global role, grant as (environment, role))
        type Member = (
            Caller,
            &'static str,
            Option<&'static str>,
            Option<(&'static str, &'static str)>,
        );
        let users: [Member; 7] = [
            (Caller::Auditor, "auditor", Some("auditor"), None),
            (
                Caller::OpsGranted,
                "ops-granted",
                None,
                Some(("staging", "ops")),
            ),
            (
                Caller::OpsElsewhere,
                "ops-elsewhere",
                None,
                Some(("other", "ops")),
            ),
            (
                Caller::DeveloperGranted,
                "dev-granted",
                None,
                Some(("staging", "developer")),
            ),
            (
                Caller::DeveloperElsewhere,
                "dev-elsewhere",
                None,
                Some(("other", "developer")),
            ),
            (Caller::NoGrants, "no-grants", None, None),
            (Caller::DisabledUser, "disabled", None, None),
        ];
        for (caller, name, global_role, grant) in users {
            tokens.insert(caller, app.user_token(name, global_role).await);
            usernames.insert(caller, name);
            if let Some((environment, role)) = grant {
                app.grant(name, environment, role).await;
            }
        }
        app.user_token("target", None).await;
        let role = app
            .call(
                Method::POST,
                "/api/v1/machine-roles",
                Some(&admin),
                Some(&json!({ "name": "backend" })),
            )
            .await;
        assert_eq!(role.status(), 201);
        let disabled = app
            .call(
                Method::POST,
                "/api/v1/users/disabled/disable",
                Some(&admin),
                Some(&json!({})),
            )
            .await;
        assert_eq!(disabled.status(), 200);
        tokens.insert(Caller::Admin, admin.clone());
        usernames.insert(Caller::Admin, "admin");
        usernames.insert(Caller::OpsApiToken, "ops-granted");

        let api_token: CreatedApiToken = app
            .call(
                Method::POST,
                "/api/v1/tokens",
                Some(&tokens[&Caller::OpsGranted]),
                Some(&json!({ "name": "matrix" })),
            )
            .await
            .json()
            .await
            .unwrap();
        tokens.insert(Caller::OpsApiToken, api_token.secret);

        // Forged tokens, all naming the admin.
        let admin_id = app
            .store
            .user_by_name(&Username::parse("admin").unwrap())
            .await
            .unwrap()
            .id;
        let secret = std::fs::read_to_string(app.data_dir.path().join("jwt-secret")).unwrap();
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .unwrap();
        let now = switchyard_server::clock::Clock::now(&switchyard_server::clock::SystemClock);
        let ours = AccessTokens::new(&secret, Duration::minutes(15));
        let expired = ours
            .issue(admin_id, uuid::Uuid::new_v4(), now - Duration::hours(1))
            .unwrap()
            .token;
        let foreign = AccessTokens::new(&[42; 32], Duration::minutes(15))
            .issue(admin_id, uuid::Uuid::new_v4(), now)
            .unwrap()
            .token;
        let claims = URL_SAFE_NO_PAD.encode(
            json!({
                "sub": admin_id, "iat": now.unix_timestamp(),
                "exp": now.unix_timestamp() + 600, "jti": uuid::Uuid::new_v4(),
            })
            .to_string(),
        );
        let unsigned_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let nobody = tokens[&Caller::NoGrants].clone();
        let parts: Vec<&str> = nobody.split('.').collect();
        // A real signature over other claims: the payload now names the admin.
        let tampered = format!("{}.{claims}.{}", parts[0], parts[2]);
        tokens.insert(Caller::ExpiredToken, expired);
        tokens.insert(Caller::ForeignKeyToken, foreign);
        tokens.insert(Caller::AlgNoneToken, format!("{unsigned_header}.{claims}."));
        tokens.insert(Caller::TamperedToken, tampered);
        let fixture = Self {
            app,
            tokens,
            usernames,
            admin,
            counter: AtomicU32::new(0),
        };
        fixture.publish_something_new().await;
        fixture
    }

    const BASELINE: &'static str = "/api/v1/environments/staging/profiles/baseline";

    /// The baseline draft's current revision.
    async fn draft_revision(&self) -> u64 {
        self.draft_revision_of(Self::BASELINE).await
    }

    /// The current revision of the draft of the profile at `profile`.
    async fn draft_revision_of(&self, profile: &str) -> u64 {
        let draft: Value = self
            .app
            .get_as(&self.admin, &format!("{profile}/draft"))
            .await
            .json()
            .await
            .unwrap();
        draft["revision"].as_u64().unwrap()
    }

    /// A baseline draft edit nobody has published yet; returns the new revision.
    async fn edit_draft(&self) -> u64 {
        self.edit_draft_of(Self::BASELINE, "MATRIX_MARK").await
    }

    /// An edit of the draft of the profile at `profile`, setting `variable` to a value of its
    /// own; returns the new revision.
    async fn edit_draft_of(&self, profile: &str, variable: &str) -> u64 {
        let revision = self.draft_revision_of(profile).await;
        let response = self
            .app
            .client
            .put(self.app.url(&format!("{profile}/draft")))
            .bearer_auth(&self.admin)
            .header("if-match", format!("\"{revision}\""))
            .json(&json!({ "env": { variable: self.unique("mark") } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        revision + 1
    }

    /// Proposes a new baseline as `proposer` (admin, or ops-granted when the admin is the one
    /// to decide); returns the change request's id.
    async fn propose(&self, proposer: Caller) -> String {
        let revision = self.edit_draft().await;
        let token = &self.tokens[&proposer];
        let response = self
            .app
            .call(
                Method::POST,
                &format!("{}/publish", Self::BASELINE),
                Some(token),
                Some(&json!({ "message": "matrix", "draft_revision": revision })),
            )
            .await;
        assert_eq!(response.status(), 202);
        let request: Value = response.json().await.unwrap();
        request["id"].as_str().unwrap().to_owned()
    }

    /// A change request that `caller` did not propose, so they may decide it.
    async fn request_for(&self, caller: Caller) -> String {
        let proposer = match caller {
            Caller::OpsGranted | Caller::OpsApiToken => Caller::Admin,
            _ => Caller::OpsGranted,
        };
        self.propose(proposer).await
    }

    /// Proposes and approves a new baseline; returns the new version number.
    async fn publish_something_new(&self) -> u64 {
        let id = self.propose(Caller::Admin).await;
        let response = self
            .app
            .call(
                Method::POST,
                &format!("/api/v1/environments/staging/change-requests/{id}/approve"),
                Some(&self.tokens[&Caller::OpsGranted]),
                Some(&json!({ "reason": "matrix" })),
            )
            .await;
        assert_eq!(response.status(), 201);
        let summary: Value = response.json().await.unwrap();
        summary["version"].as_u64().unwrap()
    }

    const OVERLAY: &'static str = "/api/v1/environments/staging/profiles/backend";

    /// A running rollout of a new `backend` overlay (a role's, so that publishing the baseline
    /// goes on meanwhile), after aborting any other; paused if `paused`. Answers its id.
    async fn fresh_rollout(&self, paused: bool) -> String {
        let admin = Some(self.admin.as_str());
        let active: Vec<Value> = self
            .app
            .get_as(&self.admin, "/api/v1/environments/staging/rollouts")
            .await
            .json()
            .await
            .unwrap();
        for rollout in &active {
            if ["running", "paused", "halted"].contains(&rollout["state"].as_str().unwrap()) {
                let path = format!(
                    "/api/v1/environments/staging/rollouts/{}/abort",
                    rollout["id"].as_str().unwrap()
                );
                let aborted = self
                    .app
                    .call(
                        Method::POST,
                        &path,
                        admin,
                        Some(&json!({"reason": "matrix"})),
                    )
                    .await;
                assert_eq!(aborted.status(), 200);
            }
        }
        // The first version of the overlay goes to everyone; the next ones roll out.
        let versions: Vec<Value> = self
            .app
            .get_as(&self.admin, &format!("{}/versions", Self::OVERLAY))
            .await
            .json()
            .await
            .unwrap();
        let plans = match versions.is_empty() {
            true => vec![None, Some(())],
            false => vec![Some(())],
        };
        let mut started = None;
        for plan in plans {
            let revision = self.edit_draft_of(Self::OVERLAY, "MATRIX_ROLLOUT").await;
            let mut body = json!({ "message": "matrix", "draft_revision": revision });
            if plan.is_some() {
                body["rollout"] = json!({"waves": [{"percent": 50, "soak_secs": 3600}]});
            }
            let proposed: Value = self
                .app
                .call(
                    Method::POST,
                    &format!("{}/publish", Self::OVERLAY),
                    admin,
                    Some(&body),
                )
                .await
                .json()
                .await
                .unwrap();
            let approved = self
                .app
                .call(
                    Method::POST,
                    &format!(
                        "/api/v1/environments/staging/change-requests/{}/approve",
                        proposed["id"].as_str().unwrap()
                    ),
                    Some(&self.tokens[&Caller::OpsGranted]),
                    Some(&json!({ "reason": "matrix" })),
                )
                .await;
            assert_eq!(approved.status(), 201);
            started = plan;
        }
        assert!(started.is_some());
        let rollouts: Vec<Value> = self
            .app
            .get_as(&self.admin, "/api/v1/environments/staging/rollouts")
            .await
            .json()
            .await
            .unwrap();
        let id = rollouts[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(rollouts[0]["state"], "running");
        if paused {
            let path = format!("/api/v1/environments/staging/rollouts/{id}/pause");
            let response = self
                .app
                .call(
                    Method::POST,
                    &path,
                    admin,
                    Some(&json!({"reason": "matrix"})),
                )
                .await;
            assert_eq!(response.status(), 200);
        }
        id
    }

    /// The newest rollout of staging, started if there is none.
    async fn some_rollout(&self) -> String {
        let rollouts: Vec<Value> = self
            .app
            .get_as(&self.admin, "/api/v1/environments/staging/rollouts")
            .await
            .json()
            .await
            .unwrap();
        match rollouts.first() {
            Some(rollout) => rollout["id"].as_str().unwrap().to_owned(),
            None => self.fresh_rollout(false).await,
        }
    }

    fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh session token of the caller's user (for calls that end the session).
    async fn fresh_session(&self, caller: Caller) -> Option<String> {
        if caller == Caller::DisabledUser {
            return None;
        }
        let name = self.usernames.get(&caller)?;
        let password = if *name == "admin" {
            ADMIN_PASSWORD
        } else {
            USER_PASSWORD
        };
        Some(self.app.login(name, password).await.access_token)
    }

    /// The concrete path, body and bearer token for `caller` calling the route.
    async fn request(
        &self,
        method: &str,
        template: &str,
        caller: Caller,
    ) -> (String, Option<Value>, Option<String>, Option<String>) {
        let mut token = self.tokens.get(&caller).cloned();
        let path = template
            .replace("{username}", "target")
            .replace("{environment}", "staging")
            .replace("{target}", "baseline")
            .replace("{version}", "1")
            .replace("{name}", "NODE_EXTRA_CA_CERTS");
        let path = match template {
            "/api/v1/environments/{environment}/effective" => format!("{path}?role=backend"),
            _ => path,
        };
        let body = match (method, template) {
            ("POST", "/api/v1/auth/login") => {
                Some(json!({ "username": "admin", "password": ADMIN_PASSWORD }))
            }
            ("POST", "/api/v1/auth/refresh") => {
                let pair = self.app.login("admin", ADMIN_PASSWORD).await;
                Some(json!({ "refresh_token": pair.refresh_token }))
            }
            ("POST", "/api/v1/auth/logout") => {
                // Logging out ends the token: valid callers use a session of their own here.
                if caller != Caller::OpsApiToken {
                    if let Some(session) = self.fresh_session(caller).await {
                        token = Some(session);
                    }
                }
                Some(json!({}))
            }
            ("POST", "/api/v1/users") => Some(json!({
                "username": self.unique("made"), "password": USER_PASSWORD,
            })),
            ("PUT", "/api/v1/users/{username}/password") => {
                Some(json!({ "password": "another long password" }))
            }
            ("PUT", "/api/v1/users/{username}/role") => Some(json!({ "global_role": "auditor" })),
            ("PUT", "/api/v1/users/{username}/grants/{environment}") => {
                Some(json!({ "role": "developer" }))
            }
            ("POST", "/api/v1/environments") => Some(json!({ "name": self.unique("env") })),
            ("PATCH", "/api/v1/environments/{environment}") => {
                Some(json!({ "description": "changed by the matrix" }))
            }
            ("POST", "/api/v1/tokens") => Some(json!({ "name": self.unique("token") })),
            ("POST", "/api/v1/machine-roles") => Some(json!({ "name": self.unique("role") })),
            ("POST", "/api/v1/environments/{environment}/enrollment-tokens") => {
                Some(json!({ "machine_role": "backend" }))
            }
            ("POST", "/api/v1/agent/enroll") => {
                let token = self.app.enrollment_token("staging", "backend", 1).await;
                Some(TestDevice::enroll_request(&TestDevice::new_key(), &token))
            }
            ("POST", "/api/v1/environments/{environment}/devices/{id}/move") => {
                Some(json!({ "environment": "staging", "machine_role": "backend" }))
            }
            ("POST", "/api/v1/environments/{environment}/change-requests/{id}/approve")
            | ("POST", "/api/v1/environments/{environment}/change-requests/{id}/reject") => {
                Some(json!({ "reason": "matrix" }))
            }
            ("POST", rollout)
                if rollout.starts_with("/api/v1/environments/{environment}/rollouts") =>
            {
                Some(json!({ "reason": "matrix" }))
            }
            ("PUT", "/api/v1/environments/{environment}/devices/{id}/labels") => {
                Some(json!({ "labels": { "site": "office-b" } }))
            }
            ("PUT", "/api/v1/environments/{environment}/variable-allowances/{name}") => {
                Some(json!({ "reason": "matrix" }))
            }
            ("DELETE", "/api/v1/environments/{environment}/variable-allowances/{name}") => {
                // There is one to withdraw whoever calls.
                let allowed = self
                    .app
                    .call(
                        Method::PUT,
                        &path,
                        Some(&self.admin),
                        Some(&json!({ "reason": "matrix" })),
                    )
                    .await;
                assert_eq!(allowed.status(), 200);
                None
            }
            ("POST", "/api/v1/environments/{environment}/profiles/{target}/publish") => {
                let revision = self.edit_draft().await;
                Some(json!({ "message": "matrix", "draft_revision": revision }))
            }
            ("POST", "/api/v1/environments/{environment}/profiles/{target}/rollback") => {
                let latest = self.publish_something_new().await;
                Some(json!({
                    "to_version": latest - 1, "based_on_version": latest, "message": "matrix"
                }))
            }
            ("POST", _) => Some(json!({})),
            _ => None,
        };
        let path =
            if template.starts_with("/api/v1/environments/{environment}/change-requests/{id}") {
                path.replace("{id}", &self.request_for(caller).await)
            } else if template == "/api/v1/environments/{environment}/enrollment-tokens/{id}" {
                let tokens: Vec<Value> = self
                    .app
                    .get_as(
                        &self.admin,
                        "/api/v1/environments/staging/enrollment-tokens",
                    )
                    .await
                    .json()
                    .await
                    .unwrap();
                let id = match tokens.first() {
                    Some(token) => token["id"].as_str().unwrap().to_owned(),
                    None => {
                        self.app.enrollment_token("staging", "backend", 1).await;
                        return Box::pin(self.request(method, template, caller)).await;
                    }
                };
                path.replace("{id}", &id)
            } else if template.starts_with("/api/v1/environments/{environment}/rollouts/{id}") {
                // A caller allowed to move one moves a rollout of its own, in the state its
                // move needs; the others (refused whatever the state) and readers share one.
                let moves = method == "POST"
                    && rule(method, template).is_some_and(|rule| rule.expected(caller) < 300);
                let id = match moves {
                    true => self.fresh_rollout(template.ends_with("/resume")).await,
                    false => self.some_rollout().await,
                };
                path.replace("{id}", &id)
            } else if template.starts_with("/api/v1/environments/{environment}/devices/{id}") {
                let token = self.app.enrollment_token("staging", "backend", 1).await;
                let device = TestDevice::enroll(&self.app, &token).await.unwrap();
                path.replace("{id}", &device.id.to_string())
            } else if template == "/api/v1/tokens/{id}" {
                // A token the caller owns, made from their owner's session.
                let id = match self.fresh_session(caller).await {
                    Some(session) => {
                        let created: CreatedApiToken = self
                            .app
                            .call(
                                Method::POST,
                                "/api/v1/tokens",
                                Some(&session),
                                Some(&json!({ "name": self.unique("doomed") })),
                            )
                            .await
                            .json()
                            .await
                            .unwrap();
                        created.token.id
                    }
                    _ => uuid::Uuid::new_v4(),
                };
                format!("/api/v1/tokens/{id}")
            } else {
                path
            };
        let if_match = match (method, template) {
            ("PUT", "/api/v1/environments/{environment}/profiles/{target}/draft") => {
                Some(format!("\"{}\"", self.draft_revision().await))
            }
            _ => None,
        };
        let body = match (method, template) {
            ("PUT", "/api/v1/environments/{environment}/profiles/{target}/draft") => {
                Some(json!({ "env": { "MATRIX_MARK": self.unique("put") } }))
            }
            _ => body,
        };
        (path, body, token, if_match)
    }
}

async fn every_route_answers_every_caller_as_the_table_says(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let description = serde_json::to_value(switchyard_server::http::api_description()).unwrap();
    let paths = description["paths"].as_object().unwrap();
    let mut failures = Vec::new();
    let mut calls = 0;
    for (template, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let Some(rule) = rule(&method, template) else {
                failures.push(format!(
                    "{method} {template} is missing from the matrix table"
                ));
                continue;
            };
            let roles: Vec<&str> = operation["x-roles"]
                .as_array()
                .map(|roles| roles.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if roles != rule.documented_roles() {
                failures.push(format!(
                    "{method} {template} documents roles {roles:?}, the table says {:?}",
                    rule.documented_roles()
                ));
            }
            if operation.get("security").is_none() {
                failures.push(format!("{method} {template} names no security scheme"));
            }
            for caller in CALLERS {
                let (path, body, token, if_match) =
                    fixture.request(&method, template, caller).await;
                let mut request = fixture.app.client.request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    fixture.app.url(&path),
                );
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = body {
                    request = request.json(&body);
                }
                if let Some(if_match) = if_match {
                    request = request.header("if-match", if_match);
                }
                let response = request.send().await.unwrap();
                calls += 1;
                let status = response.status().as_u16();
                let expected = rule.expected(caller);
                if status != expected {
                    let text = response.text().await.unwrap_or_default();
                    failures.push(format!(
                        "{method} {path} as {caller:?}: {status}, expected {expected}: {text}"
                    ));
                }
            }
        }
    }
    assert!(calls > 300, "only {calls} calls made");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The admin session survived the whole run.
    assert_eq!(
        fixture
            .app
            .get_as(&fixture.admin, "/api/v1/me")
            .await
            .status(),
        200
    );
}

for_each_store!(every_route_answers_every_caller_as_the_table_says);
