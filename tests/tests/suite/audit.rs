//! The audit trail over HTTP and in the database: every change leaves one event written with
//! it, events answer auditors' questions, and tampering behind the server's back is found.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_proto::{AuditEvent, AuditPage, AuditVerification, ErrorBody};
use switchyard_server::http::origin::TrustedProxies;
use switchyard_tests::{for_each_store, Backend, TestApp, USER_PASSWORD};

const PRODUCTION: &str = "/api/v1/environments/production/profiles/baseline";

/// Every event, oldest first, as an auditor sees them.
async fn all_events(app: &TestApp, token: &str) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/audit?limit=7&cursor={cursor}"),
            None => "/api/v1/audit?limit=7".to_owned(),
        };
        let response = app.get_as(token, &path).await;
        assert_eq!(response.status(), 200);
        let page: AuditPage = response.json().await.unwrap();
        events.extend(page.events);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    events.reverse();
    events
}

async fn verify(app: &TestApp, token: &str) -> AuditVerification {
    let response = app.get_as(token, "/api/v1/audit/verify").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn put_draft(app: &TestApp, token: &str, revision: u64, profile: Value) {
    let response = app
        .client
        .put(app.url(&format!("{PRODUCTION}/draft")))
        .bearer_auth(token)
        .header("if-match", format!("\"{revision}\""))
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// Production, protected; olivia and oscar are ops there; edits, a change request, its
/// approval. Returns (admin, auditor, olivia, oscar) tokens.
async fn production_history(app: &TestApp) -> (String, String, String, String) {
    app.create_environment("production", true).await;
    let auditor = app.user_token("audrey", Some("auditor")).await;
    let olivia = app.user_token("olivia", None).await;
    let oscar = app.user_token("oscar", None).await;
    app.grant("olivia", "production", "ops").await;
    app.grant("oscar", "production", "ops").await;
    let admin = app.admin_token().await;
    put_draft(
        app,
        &olivia,
        0,
        json!({
            "go": {"proxy": [{"source": "https://goproxy.corp.example/"}, {"source": "direct"}]},
            "npm": {"auth-tokens": {"https://npm.corp.example/": {"value": "npm-s3cret"}}}
        }),
    )
    .await;
    let response = app
        .call(
            Method::POST,
            &format!("{PRODUCTION}/publish"),
            Some(&olivia),
            Some(&json!({"message": "first proxy", "draft_revision": 1})),
        )
        .await;
    assert_eq!(response.status(), 202);
    let request: Value = response.json().await.unwrap();
    let approve = format!(
        "/api/v1/environments/production/change-requests/{}/approve",
        request["id"].as_str().unwrap()
    );
    let response = app
        .call(
            Method::POST,
            &approve,
            Some(&oscar),
            Some(&json!({"reason": "checked the proxy"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    (admin, auditor, olivia, oscar)
}

async fn every_change_leaves_one_event_saying_who_what_and_from_where(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, auditor, _, _) = production_history(&app).await;
    // A failed login, from a named client.
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", "audit-test/1.0")
        .header("x-request-id", "req-audit-1")
        .json(&json!({"username": "olivia", "password": "not her password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let events = all_events(&app, &auditor).await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "user.create",
        "auth.login",
        "environment.create",
        "grant.put",
        "profile.edit",
        "change-request.open",
        "change-request.approve",
    ] {
        assert!(actions.contains(&expected), "{expected}: {actions:?}");
    }
    // The bootstrap admin comes first, by the system.
    assert_eq!(events[0].action.as_str(), "user.create");
    assert_eq!(events[0].actor_kind.as_str(), "system");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());

    let failed = events.last().unwrap();
    assert_eq!(
        (failed.action.as_str(), failed.outcome.as_str()),
        ("auth.login", "failure")
    );
    assert_eq!(failed.target, "user:olivia");
    assert_eq!(failed.source.as_deref(), Some("127.0.0.1"));
    assert_eq!(failed.user_agent.as_deref(), Some("audit-test/1.0"));
    assert_eq!(failed.request_id.as_deref(), Some("req-audit-1"));

    let edit = events
        .iter()
        .find(|e| e.action.as_str() == "profile.edit")
        .unwrap();
    assert_eq!(edit.actor, "olivia");
    assert_eq!(edit.environment.as_deref(), Some("production"));
    let changes: Vec<String> = edit.changes.iter().map(ToString::to_string).collect();
    assert!(
        changes.contains(&"go.proxy: (unset) -> https://goproxy.corp.example/,direct".to_owned()),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"npm.auth-tokens.https://npm.corp.example/: (unset) -> (secret)".into()),
        "{changes:?}"
    );
    let approval = events
        .iter()
        .find(|e| e.action.as_str() == "change-request.approve")
        .unwrap();
    assert_eq!(approval.actor, "oscar");
    assert_eq!(approval.detail["proposer"], "olivia");
    assert_eq!(approval.detail["reason"], "checked the proxy");
    assert_eq!(approval.target, "profile:production/baseline@1");

    // Secrets never reach the trail, in any form.
    let everything = app
        .get_as(&admin, "/api/v1/audit/export")
        .await
        .text()
        .await
        .unwrap();
    assert!(!everything.contains("npm-s3cret"));
    assert!(!everything.contains(USER_PASSWORD));
    assert!(!everything.contains("not her password"));
    assert!(verify(&app, &auditor).await.intact);
}

async fn forwarded_addresses_are_believed_only_from_trusted_proxies(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.trusted_proxies =
            TrustedProxies::try_from("127.0.0.0/8".to_owned()).expect("a valid range");
    })
    .await;
    let untrusted = TestApp::spawn(backend).await;
    for server in [&app, &untrusted] {
        let response = server
            .client
            .post(server.url("/api/v1/auth/login"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .json(&json!({"username": "admin", "password": "wrong password, sorry"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let source_of_last_failure = |events: Vec<AuditEvent>| {
        events
            .into_iter()
            .rev()
            .find(|e| e.outcome.as_str() == "failure")
            .and_then(|e| e.source)
    };
    let admin = app.admin_token().await;
    assert_eq!(
        source_of_last_failure(all_events(&app, &admin).await).as_deref(),
        Some("203.0.113.9"),
        "the proxy's peer added the nearest hop"
    );
    let admin = untrusted.admin_token().await;
    assert_eq!(
        source_of_last_failure(all_events(&untrusted, &admin).await).as_deref(),
        Some("127.0.0.1"),
        "without trusted proxies the header is the client's own claim"
    );
}

async fn who_changed_goproxy_in_production_is_one_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, auditor, olivia, _) = production_history(&app).await;
    // An unrelated change that must not match: the draft as read, with pypi added.
    let draft: Value = app
        .get_as(&olivia, &format!("{PRODUCTION}/draft"))
        .await
        .json()
        .await
        .unwrap();
    let mut profile = draft["profile"].clone();
    profile["pypi"] = json!({"timeout": 30});
    put_draft(&app, &olivia, 2, profile).await;

    let page: AuditPage = app
        .get_as(
            &auditor,
            "/api/v1/audit?setting=GOPROXY&environment=production&since=2000-01-01T00:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    let found: Vec<(&str, &str)> = page
        .events
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    // Newest first: approved by oscar, proposed and edited by olivia.
    assert_eq!(
        found,
        [
            ("change-request.approve", "oscar"),
            ("change-request.open", "olivia"),
            ("profile.edit", "olivia"),
        ]
    );
    // A path under a setting matches it: npm.auth-tokens covers each registry's token.
    let page: AuditPage = app
        .get_as(
            &auditor,
            "/api/v1/audit?setting=npm.auth-tokens&action=profile.edit",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
}

async fn ops_see_their_environments_and_developers_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, olivia, _) = production_history(&app).await;
    app.create_environment("staging", false).await;
    let dora = app.user_token("dora", None).await;
    app.grant("dora", "production", "developer").await;

    let page: AuditPage = app
        .get_as(&olivia, "/api/v1/audit?limit=500")
        .await
        .json()
        .await
        .unwrap();
    assert!(!page.events.is_empty());
    assert!(page
        .events
        .iter()
        .all(|e| e.environment.as_deref() == Some("production")));
    assert_eq!(
        app.get_as(&olivia, "/api/v1/audit?environment=staging")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_as(&olivia, "/api/v1/audit/verify").await.status(),
        StatusCode::FORBIDDEN
    );
    for path in ["/api/v1/audit", "/api/v1/audit/export"] {
        assert_eq!(
            app.get_as(&dora, path).await.status(),
            StatusCode::FORBIDDEN
        );
    }
}

async fn bad_filters_are_named_in_one_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let response = app
        .get_as(
            &admin,
            "/api/v1/audit?since=yesterday&action=profile.delete&limit=1000000&colour=red\
             &cursor=abc&environment=Prod&until=2026-13-01T00:00:00Z",
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: ErrorBody = response.json().await.unwrap();
    let mut paths: Vec<&str> = body
        .error
        .problems
        .iter()
        .map(|p| p.path.as_str())
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "action",
            "colour",
            "cursor",
            "environment",
            "limit",
            "since",
            "until"
        ],
        "{:#?}",
        body.error.problems
    );
    let response = app
        .get_as(&admin, "/api/v1/audit/export?format=xml&limit=5")
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn exports_stream_every_matching_event_as_json_lines_and_csv(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // More than two export pages of events.
    for number in 0..1_100 {
        let record = switchyard_tests::audit().with_detail("number", number.to_string());
        app.store.record_audit(&record).await.unwrap();
    }
    let response = app.get_as(&admin, "/api/v1/audit/export").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let events: Vec<AuditEvent> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let total = events.len();
    assert!(total >= 1_102, "{total}");
    let mut seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first, no repeats"
    );
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());

    let csv = app
        .get_as(&admin, "/api/v1/audit/export?format=csv&action=user.create")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("seq,id,at,actor_kind,actor,"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 2, "the header and the bootstrap admin: {csv}");
    assert!(lines[1].contains(",system,"), "{}", lines[1]);
}

/// Runs `tamper` on a fresh trail of a few events and returns what verification says.
async fn tampered(backend: Backend, tamper: &str) -> AuditVerification {
    let app = TestApp::spawn(backend).await;
    let (_, auditor, _, _) = production_history(&app).await;
    assert!(verify(&app, &auditor).await.intact);
    let unguard = match backend {
        Backend::Postgres => "ALTER TABLE audit_events DISABLE TRIGGER USER;",
        Backend::Sqlite => {
            "DROP TRIGGER audit_events_are_append_only_update; \
             DROP TRIGGER audit_events_are_append_only_delete;"
        }
    };
    app.database().execute(&format!("{unguard} {tamper}")).await;
    verify(&app, &auditor).await
}

async fn edits_deletions_and_reorderings_in_the_database_are_found(backend: Backend) {
    let edited = tampered(
        backend,
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 5",
    )
    .await;
    assert!(!edited.intact);
    let broken = edited.first_broken.unwrap();
    assert_eq!(broken.seq, 5, "{broken:?}");
    assert!(broken.problem.contains("changed"), "{broken:?}");

    let deleted = tampered(backend, "DELETE FROM audit_events WHERE seq = 4").await;
    let broken = deleted.first_broken.unwrap();
    assert_eq!(broken.seq, 5, "{broken:?}");
    assert!(broken.problem.contains("missing"), "{broken:?}");

    let reordered = tampered(
        backend,
        "UPDATE audit_events SET seq = 1000 WHERE seq = 3; \
         UPDATE audit_events SET seq = 3 WHERE seq = 4; \
         UPDATE audit_events SET seq = 4 WHERE seq = 1000;",
    )
    .await;
    assert_eq!(reordered.first_broken.unwrap().seq, 3);

    let garbled = tampered(
        backend,
        "UPDATE audit_events SET action = 'profile.delete' WHERE seq = 2",
    )
    .await;
    assert_eq!(garbled.first_broken.unwrap().seq, 2);
}

async fn the_database_refuses_to_change_or_remove_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.admin_token().await;
    for statement in [
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events",
    ] {
        let refusal = app.database().try_execute(statement).await.unwrap_err();
        assert!(refusal.contains("append-only"), "{statement}: {refusal}");
    }
}

/// SQL for a trigger `name` that makes every `statement` on `table` fail.
fn refusal(backend: Backend, name: &str, statement: &str, table: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN \
             RAISE EXCEPTION '{name}'; END; $$ LANGUAGE plpgsql; \
             CREATE TRIGGER {name} BEFORE {statement} ON {table} \
             FOR EACH ROW EXECUTE FUNCTION {name}();"
        ),
        Backend::Sqlite => format!(
            "CREATE TRIGGER {name} BEFORE {statement} ON {table} \
             BEGIN SELECT RAISE(ABORT, '{name}'); END;"
        ),
    }
}

async fn a_change_and_its_event_are_written_together_or_not_at_all(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let events_before = all_events(&app, &admin).await.len();

    // The event cannot be written: the change does not happen either.
    app.database()
        .execute(&refusal(backend, "refuse_events", "INSERT", "audit_events"))
        .await;
    let response = app
        .call(
            Method::POST,
            "/api/v1/environments",
            Some(&admin),
            Some(&json!({"name": "lost"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        app.get_as(&admin, "/api/v1/environments/lost")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let allow_events = match backend {
        Backend::Postgres => "DROP TRIGGER refuse_events ON audit_events",
        Backend::Sqlite => "DROP TRIGGER refuse_events",
    };
    app.database().execute(allow_events).await;

    // The change fails half-way (its version is written, then the draft cannot be): neither
    // the version nor its event remains.
    app.create_environment("staging", false).await;
    let response = app
        .client
        .put(app.url("/api/v1/environments/staging/profiles/baseline/draft"))
        .bearer_auth(&admin)
        .header("if-match", "\"0\"")
        .json(&json!({"pypi": {"timeout": 10}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.database()
        .execute(&refusal(
            backend,
            "refuse_drafts",
            "UPDATE",
            "profile_drafts",
        ))
        .await;
    let response = app
        .call(
            Method::POST,
            "/api/v1/environments/staging/profiles/baseline/publish",
            Some(&admin),
            Some(&json!({"message": "half-way", "draft_revision": 1})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let versions: Vec<Value> = app
        .get_as(
            &admin,
            "/api/v1/environments/staging/profiles/baseline/versions",
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(versions.is_empty(), "{versions:?}");
    let recorded: Vec<(String, String)> = all_events(&app, &admin)
        .await
        .iter()
        .skip(events_before)
        .map(|e| (e.action.as_str().to_owned(), e.target.clone()))
        .collect();
    let environments_created: Vec<&str> = recorded
        .iter()
        .filter(|(action, _)| action == "environment.create")
        .map(|(_, target)| target.as_str())
        .collect();
    assert_eq!(
        environments_created,
        ["environment:staging"],
        "{recorded:?}"
    );
    assert!(
        recorded
            .iter()
            .all(|(action, _)| action != "profile.publish"),
        "{recorded:?}"
    );
    assert!(verify(&app, &admin).await.intact);
}

for_each_store!(
    every_change_leaves_one_event_saying_who_what_and_from_where,
    forwarded_addresses_are_believed_only_from_trusted_proxies,
    who_changed_goproxy_in_production_is_one_request,
    ops_see_their_environments_and_developers_nothing,
    bad_filters_are_named_in_one_answer,
    exports_stream_every_matching_event_as_json_lines_and_csv,
    edits_deletions_and_reorderings_in_the_database_are_found,
    the_database_refuses_to_change_or_remove_events,
    a_change_and_its_event_are_written_together_or_not_at_all,
);
