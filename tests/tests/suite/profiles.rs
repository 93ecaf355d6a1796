//! Profiles over HTTP: drafts, publishing, versions, diff, rollback, secrets and the effective
//! profile, on both stores.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchyard_proto::{ErrorBody, ProfileDiff, ProfileDraft, VersionSummary};
use switchyard_server::config::SettingDuration;
use switchyard_server::domain::profiles::ProfileTarget;
use switchyard_tests::{for_each_store, Backend, TestApp};

const BASELINE: &str = "/api/v1/environments/staging/profiles/baseline";

async fn put_draft(
    app: &TestApp,
    token: &str,
    path: &str,
    revision: u64,
    profile: Value,
) -> reqwest::Response {
    app.client
        .put(app.url(&format!("{path}/draft")))
        .bearer_auth(token)
        .header("if-match", format!("\"{revision}\""))
        .json(&profile)
        .send()
        .await
        .unwrap()
}

async fn publish(
    app: &TestApp,
    token: &str,
    path: &str,
    revision: u64,
    message: &str,
) -> reqwest::Response {
    app.call(
        Method::POST,
        &format!("{path}/publish"),
        Some(token),
        Some(&json!({ "message": message, "draft_revision": revision })),
    )
    .await
}

async fn code(response: reqwest::Response) -> (StatusCode, ErrorBody) {
    (response.status(), response.json().await.unwrap())
}

async fn setup(backend: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(backend).await;
    app.create_environment("staging", false).await;
    let ops = app.user_token("olivia", None).await;
    app.grant("olivia", "staging", "ops").await;
    (app, ops)
}

async fn edit_publish_diff_and_roll_back(backend: Backend) {
    let (app, ops) = setup(backend).await;
    let mut events = app.events.subscribe();
    let draft: ProfileDraft = app
        .get_as(&ops, &format!("{BASELINE}/draft"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((draft.revision, draft.based_on_version), (0, 0));

    let v1 = json!({"go": {"proxy": [{"source": "https://goproxy.corp.example/"}, {"source": "direct"}]}});
    let saved = put_draft(&app, &ops, BASELINE, 0, v1).await;
    assert_eq!(saved.status(), StatusCode::OK);
    assert_eq!(saved.headers()["etag"], "\"1\"");
    let published = publish(&app, &ops, BASELINE, 1, "Use the corporate Go proxy").await;
    assert_eq!(published.status(), StatusCode::CREATED);
    let first: VersionSummary = published.json().await.unwrap();
    assert_eq!((first.version, first.author.as_str()), (1, "olivia"));
    let event = events.try_recv().expect("publishing is announced");
    assert_eq!(
        (event.version, &event.target),
        (1, &ProfileTarget::Baseline)
    );

    // Written under `pip`, the name `pypi` had before sections were ecosystems: still taken.
    let v2 = json!({"go": {"proxy": [{"source": "https://goproxy2.corp.example/"}]}, "pip": {"timeout": 30}});
    assert_eq!(
        put_draft(&app, &ops, BASELINE, 1, v2).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        publish(&app, &ops, BASELINE, 2, "New proxy").await.status(),
        StatusCode::CREATED
    );

    let diff: ProfileDiff = app
        .get_as(&ops, &format!("{BASELINE}/diff?from=1&to=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        diff.text,
        "go.proxy: https://goproxy.corp.example/,direct -> https://goproxy2.corp.example/\n\
         pypi.timeout: (unset) -> 30"
    );
    assert_eq!(diff.changes.len(), 2);

    let rollback = app
        .call(
            Method::POST,
            &format!("{BASELINE}/rollback"),
            Some(&ops),
            Some(&json!({"to_version": 1, "based_on_version": 2, "message": "Proxy 2 is down"})),
        )
        .await;
    assert_eq!(rollback.status(), StatusCode::CREATED);
    let third: VersionSummary = rollback.json().await.unwrap();
    assert_eq!((third.version, third.rollback_of), (3, Some(1)));
    assert_eq!(third.content_hash, first.content_hash);

    let versions: Vec<VersionSummary> = app
        .get_as(&ops, &format!("{BASELINE}/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let version_two: Value = app
        .get_as(&ops, &format!("{BASELINE}/versions/2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(version_two["profile"]["pypi"]["timeout"], 30);
    assert!(version_two["profile"].get("pip").is_none());
    // The draft follows the rollback, so the next publish does not undo it silently.
    let draft: ProfileDraft = app
        .get_as(&ops, &format!("{BASELINE}/draft"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft.based_on_version, 3);
    assert!(draft.profile.pypi.is_none());

    // Developers read but do not write.
    let dev = app.user_token("dora", None).await;
    app.grant("dora", "staging", "developer").await;
    assert_eq!(
        app.get_as(&dev, &format!("{BASELINE}/versions"))
            .await
            .status(),
        200
    );
    assert_eq!(
        put_draft(&app, &dev, BASELINE, draft.revision, json!({}))
            .await
            .status(),
        403
    );
}

async fn stale_and_unconditional_writes_are_refused(backend: Backend) {
    let (app, ops) = setup(backend).await;
    assert_eq!(
        put_draft(&app, &ops, BASELINE, 0, json!({"pypi": {"timeout": 5}}))
            .await
            .status(),
        200
    );
    let (status, body) =
        code(put_draft(&app, &ops, BASELINE, 0, json!({"pypi": {"timeout": 6}})).await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::CONFLICT, "stale_draft")
    );
    assert!(
        body.error.message.contains("revision 1"),
        "{}",
        body.error.message
    );

    let unconditional = app
        .client
        .put(app.url(&format!("{BASELINE}/draft")))
        .bearer_auth(&ops)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = code(unconditional).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::PRECONDITION_REQUIRED, "precondition_required")
    );

    let (status, body) = code(publish(&app, &ops, BASELINE, 7, "stale").await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::CONFLICT, "stale_draft")
    );
    assert_eq!(publish(&app, &ops, BASELINE, 1, "ok").await.status(), 201);
    let (status, body) = code(publish(&app, &ops, BASELINE, 1, "again").await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::CONFLICT, "no_changes")
    );
}

async fn concurrent_publishes_let_exactly_one_win(backend: Backend) {
    let (app, ops) = setup(backend).await;
    assert_eq!(
        put_draft(&app, &ops, BASELINE, 0, json!({"pypi": {"timeout": 9}}))
            .await
            .status(),
        200
    );
    // All five requests are in flight at once.
    let attempts = (0..5).map(|i| {
        publish(
            &app,
            &ops,
            BASELINE,
            1,
            if i % 2 == 0 { "even" } else { "odd" },
        )
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let versions: Vec<VersionSummary> = app
        .get_as(&ops, &format!("{BASELINE}/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
}

async fn a_rollback_never_discards_unpublished_edits(backend: Backend) {
    let (app, ops) = setup(backend).await;
    put_draft(&app, &ops, BASELINE, 0, json!({"pypi": {"timeout": 1}})).await;
    publish(&app, &ops, BASELINE, 1, "one").await;
    put_draft(&app, &ops, BASELINE, 1, json!({"pypi": {"timeout": 2}})).await;
    publish(&app, &ops, BASELINE, 2, "two").await;
    // Someone is half-way through the next change.
    put_draft(&app, &ops, BASELINE, 2, json!({"pypi": {"timeout": 3}})).await;
    let rollback = |based_on: u64| {
        let body = json!({"to_version": 1, "based_on_version": based_on, "message": "back"});
        let (app, ops) = (&app, ops.clone());
        async move {
            app.call(
                Method::POST,
                &format!("{BASELINE}/rollback"),
                Some(&ops),
                Some(&body),
            )
            .await
        }
    };
    let (status, body) = code(rollback(2).await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::CONFLICT, "draft_has_edits")
    );
    let draft: ProfileDraft = app
        .get_as(&ops, &format!("{BASELINE}/draft"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        draft.profile.pypi.unwrap().timeout,
        Some(3),
        "the edit survived"
    );

    // Once the draft is back to the latest version's content, the rollback goes through.
    put_draft(&app, &ops, BASELINE, 3, json!({"pypi": {"timeout": 2}})).await;
    assert_eq!(rollback(2).await.status(), StatusCode::CREATED);
    let (status, body) = code(rollback(2).await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::CONFLICT, "stale_version")
    );
}

async fn every_mistake_is_reported_at_once(backend: Backend) {
    let (app, ops) = setup(backend).await;
    let profile = json!({
        "go": {"proxy": [{"source": "off"}, {"source": "ftp://x/"}], "private": ["a b"], "sumdb": "a b c"},
        "npm": {"registry": "https://r/\nx=y", "scopes": {"corp": "https://r/", "@ok": "nope"}, "proxy": "http://u:p@h/"},
        "pypi": {"index-url": "https://p/#x", "extra-index-url": ["https://"], "trusted-host": ["a b"], "timeout": 0},
        "git": {"rewrites": [{"base": "git@github.com:", "instead-of": []}]},
        "proxy": {"http": "socks5://p:1", "no-proxy": ["a,b"]},
        "env": {"PATH": "/bin", "1X": "y", "GOPROXY": "https://x/", "OK": "a\nb", "N": 5},
        "golang": {},
        "npm-extra": true
    });
    let mut profile = profile;
    profile["npm"]["strict-ssl"] = json!("yes");
    profile["pypi"]["index_url"] = json!("https://p/");
    profile["go"]["proxy"][0]["fallback"] = json!("sometimes");
    let (status, body) = code(put_draft(&app, &ops, BASELINE, 0, profile).await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert!(
        body.error.problems.len() >= 20,
        "{:#?}",
        body.error.problems
    );
    let paths: Vec<&str> = body
        .error
        .problems
        .iter()
        .map(|p| p.path.as_str())
        .collect();
    // Wrong shapes and wrong values, all in the one answer.
    for expected in [
        "golang",
        "npm-extra",
        "npm.strict-ssl",
        "pypi.index_url",
        "go.proxy[0].fallback",
        "env.N",
        "env.PATH",
        "go.proxy[1].source",
        "npm.registry",
    ] {
        assert!(paths.contains(&expected), "{expected}: {paths:#?}");
    }
}

async fn secrets_are_write_only_and_sealed_at_rest(backend: Backend) {
    let (app, ops) = setup(backend).await;
    let registry = "https://npm.corp.example/";
    let proxy = "http://proxy.corp.example:3128";
    let with_token = json!({
        "npm": {"registry": registry, "auth-tokens": {registry: {"value": "tok-12345"}}},
        "proxy": {
            "https": proxy,
            "credentials": {proxy: {"username": "svc", "password": {"value": "tok-proxy"}}}
        },
        "env": {"CARGO_REGISTRIES_CORP_TOKEN": {"value": "tok-cargo"}}
    });
    assert_eq!(
        put_draft(&app, &ops, BASELINE, 0, with_token)
            .await
            .status(),
        200
    );
    let shown = app
        .get_as(&ops, &format!("{BASELINE}/draft"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!shown.contains("tok-"), "{shown}");
    assert_eq!(shown.matches(r#"{"set":true}"#).count(), 3, "{shown}");
    let env = switchyard_proto::EnvironmentName::parse("staging").unwrap();
    let stored = app
        .store
        .draft(&env, &ProfileTarget::Baseline)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.document.contains("tok-"), "sealed in the database");

    // Sending back what was read keeps the secret; a new value replaces it.
    let read_back: Value = serde_json::from_str::<Value>(&shown).unwrap()["profile"].clone();
    assert_eq!(
        put_draft(&app, &ops, BASELINE, 1, read_back.clone())
            .await
            .status(),
        200
    );
    assert_eq!(
        publish(&app, &ops, BASELINE, 2, "token").await.status(),
        201
    );
    let mut rotated = read_back.clone();
    rotated["npm"]["auth-tokens"][registry] = json!({"value": "tok-67890"});
    assert_eq!(
        put_draft(&app, &ops, BASELINE, 2, rotated).await.status(),
        200
    );
    assert_eq!(
        publish(&app, &ops, BASELINE, 3, "rotate").await.status(),
        201
    );
    let diff: ProfileDiff = app
        .get_as(&ops, &format!("{BASELINE}/diff"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        diff.text,
        format!("npm.auth-tokens.{registry}: (secret) -> (secret)")
    );
    let everything = format!(
        "{}{}",
        app.get_as(&ops, &format!("{BASELINE}/versions/1"))
            .await
            .text()
            .await
            .unwrap(),
        app.get_as(&ops, &format!("{BASELINE}/versions/2"))
            .await
            .text()
            .await
            .unwrap()
    );
    assert!(!everything.contains("tok-"), "{everything}");

    let nothing_to_keep =
        json!({"npm": {"auth-tokens": {"https://other.example/": {"set": true}}}});
    let (status, body) = code(put_draft(&app, &ops, BASELINE, 3, nothing_to_keep).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body.error.problems[0].path,
        "npm.auth-tokens.https://other.example/"
    );
}

async fn protected_environments_need_a_second_person(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_environment("production", true).await;
    let olivia = app.user_token("olivia", None).await;
    let oscar = app.user_token("oscar", None).await;
    let dora = app.user_token("dora", None).await;
    app.grant("olivia", "production", "ops").await;
    app.grant("oscar", "production", "ops").await;
    app.grant("dora", "production", "developer").await;
    let path = "/api/v1/environments/production/profiles/baseline";
    let mut events = app.events.subscribe();

    assert_eq!(
        put_draft(&app, &olivia, path, 0, json!({"pypi": {"timeout": 5}}))
            .await
            .status(),
        200
    );
    let proposed = publish(&app, &olivia, path, 1, "Shorter pip timeout").await;
    assert_eq!(proposed.status(), StatusCode::ACCEPTED);
    let request: Value = proposed.json().await.unwrap();
    assert_eq!(request["status"], "open");
    assert_eq!(request["changes"][0]["path"], "pypi.timeout");
    let id = request["id"].as_str().unwrap().to_owned();
    assert!(events.try_recv().is_err(), "nothing is published yet");
    let versions: Vec<Value> = app
        .get_as(&olivia, &format!("{path}/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert!(versions.is_empty());

    let decide = |token: &str, verdict: &str| {
        let url = format!("/api/v1/environments/production/change-requests/{id}/{verdict}");
        let token = token.to_owned();
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &url,
                Some(&token),
                Some(&json!({"reason": "looks right"})),
            )
            .await
        }
    };
    let (status, body) = code(decide(&olivia, "approve").await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::FORBIDDEN, "four_eyes_required")
    );
    assert_eq!(
        decide(&dora, "approve").await.status(),
        StatusCode::FORBIDDEN
    );
    let approved = decide(&oscar, "approve").await;
    assert_eq!(approved.status(), StatusCode::CREATED);
    let version: VersionSummary = approved.json().await.unwrap();
    assert_eq!((version.version, version.author.as_str()), (1, "olivia"));
    assert_eq!(events.try_recv().unwrap().version, 1);
    let (status, body) = code(decide(&oscar, "approve").await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::CONFLICT, "change_request_closed")
    );
    let shown: Value = app
        .get_as(
            &dora,
            &format!("/api/v1/environments/production/change-requests/{id}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (shown["status"].as_str(), shown["decided_by"].as_str()),
        (Some("approved"), Some("oscar"))
    );

    // Two proposals on the same base: once one is approved the other is stale.
    let mut proposals = Vec::new();
    for timeout in [6, 7] {
        let draft: ProfileDraft = app
            .get_as(&olivia, &format!("{path}/draft"))
            .await
            .json()
            .await
            .unwrap();
        let edit = json!({"pypi": {"timeout": timeout}});
        let saved = put_draft(&app, &olivia, path, draft.revision, edit).await;
        assert_eq!(saved.status(), StatusCode::OK);
        let proposed = publish(&app, &olivia, path, draft.revision + 1, "change").await;
        assert_eq!(proposed.status(), StatusCode::ACCEPTED);
        proposals.push(proposed.json::<Value>().await.unwrap());
    }
    let (first, second) = (proposals[0].clone(), proposals[1].clone());
    let approve = |id: &Value| {
        let url = format!(
            "/api/v1/environments/production/change-requests/{}/approve",
            id["id"].as_str().unwrap()
        );
        let (app, oscar) = (&app, oscar.clone());
        async move {
            app.call(
                Method::POST,
                &url,
                Some(&oscar),
                Some(&json!({"reason": "ok"})),
            )
            .await
        }
    };
    assert_eq!(approve(&second).await.status(), StatusCode::CREATED);
    let (status, body) = code(approve(&first).await).await;
    assert_eq!(
        (status, body.error.code.as_str()),
        (StatusCode::CONFLICT, "stale_version")
    );

    // Rejection closes a request with a reason.
    let reject_url = format!(
        "/api/v1/environments/production/change-requests/{}/reject",
        first["id"].as_str().unwrap()
    );
    let rejected = app
        .call(
            Method::POST,
            &reject_url,
            Some(&oscar),
            Some(&json!({"reason": "superseded"})),
        )
        .await;
    assert_eq!(rejected.status(), StatusCode::OK);
    let rejected: Value = rejected.json().await.unwrap();
    assert_eq!(
        (rejected["status"].as_str(), rejected["reason"].as_str()),
        (Some("rejected"), Some("superseded"))
    );
}

async fn change_requests_expire(backend: Backend) {
    let clock = switchyard_tests::ManualClock::new();
    let app = TestApp::spawn_with_clock(backend, std::sync::Arc::new(clock.clone()), |settings| {
        settings.change_request_ttl_secs = SettingDuration::seconds(3600);
    })
    .await;
    app.create_environment("production", true).await;
    let admin = app.admin_token().await;
    app.user_token("oscar", None).await;
    app.grant("oscar", "production", "ops").await;
    let path = "/api/v1/environments/production/profiles/baseline";
    put_draft(&app, &admin, path, 0, json!({"pypi": {"timeout": 5}})).await;
    let request: Value = publish(&app, &admin, path, 1, "later")
        .await
        .json()
        .await
        .unwrap();
    clock.advance(time::Duration::hours(2));
    let oscar = app
        .login("oscar", switchyard_tests::USER_PASSWORD)
        .await
        .access_token;
    let url = format!(
        "/api/v1/environments/production/change-requests/{}",
        request["id"].as_str().unwrap()
    );
    let shown: Value = app.get_as(&oscar, &url).await.json().await.unwrap();
    assert_eq!(shown["status"], "expired");
    let approve = app
        .call(
            Method::POST,
            &format!("{url}/approve"),
            Some(&oscar),
            Some(&json!({"reason": "late"})),
        )
        .await;
    assert_eq!(code(approve).await.1.error.code, "change_request_closed");
}

async fn effective_profile_applies_the_overlay_and_names_origins(backend: Backend) {
    let (app, ops) = setup(backend).await;
    let admin = app.admin_token().await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/machine-roles",
            Some(&admin),
            Some(&json!({"name": "data-science"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let overlay = "/api/v1/environments/staging/profiles/data-science";
    put_draft(
        &app,
        &ops,
        BASELINE,
        0,
        json!({"pypi": {"index-url": "https://pypi.corp.example/simple", "timeout": 10}}),
    )
    .await;
    publish(&app, &ops, BASELINE, 1, "baseline").await;
    put_draft(
        &app,
        &ops,
        overlay,
        0,
        json!({"pypi": {"timeout": 60}, "env": {"CONDA_CHANNEL": "https://conda.corp.example"}}),
    )
    .await;
    assert_eq!(
        publish(&app, &ops, overlay, 1, "overlay").await.status(),
        201
    );

    let effective: Value = app
        .get_as(
            &ops,
            "/api/v1/environments/staging/effective?role=data-science",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(effective["profile"]["pypi"]["timeout"], 60);
    assert_eq!(
        effective["profile"]["pypi"]["index-url"],
        "https://pypi.corp.example/simple"
    );
    assert_eq!(effective["origins"]["pypi.timeout"], "overlay");
    assert_eq!(effective["origins"]["pypi.index-url"], "baseline");
    assert_eq!(effective["origins"]["env.CONDA_CHANNEL"], "overlay");
    assert_eq!(
        (
            effective["baseline_version"].as_u64(),
            effective["overlay_version"].as_u64()
        ),
        (Some(1), Some(1))
    );

    let unknown = app
        .get_as(&ops, "/api/v1/environments/staging/effective?role=nope")
        .await;
    assert_eq!(code(unknown).await.1.error.code, "machine_role_not_found");
    let bad_target = app
        .get_as(&ops, "/api/v1/environments/staging/profiles/Bad/draft")
        .await;
    assert_eq!(code(bad_target).await.1.error.code, "invalid_parameter");
}

async fn a_key_named_twice_or_an_array_for_an_object_is_refused_where_it_is(backend: Backend) {
    let (app, ops) = setup(backend).await;
    // Read last-wins, this would pass a review of the first value and deliver the second.
    let body = r#"{"npm": {"registry": "https://npm.corp.example/",
                           "registry": "https://npm.attacker.example/"}}"#;
    let sent = |body: &'static str| {
        app.client
            .put(app.url(&format!("{BASELINE}/draft")))
            .bearer_auth(&ops)
            .header("if-match", "\"0\"")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, refused) = code(sent(body).await.unwrap()).await;
    assert_eq!(
        (status, refused.error.code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(refused.error.problems.len(), 1, "{refused:?}");
    assert_eq!(refused.error.problems[0].path, "npm.registry");
    assert!(refused.error.problems[0].message.contains("named twice"));
    // Spelled with an escape, it is the same key.
    let escaped = r#"{"env": {"CORP": "a", "C\u004fRP": "b"}}"#;
    let (status, refused) = code(sent(escaped).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error.problems[0].path, "env.CORP");

    // An array where an object belongs is not read by position, at any depth: a client that
    // sends one has another idea of the API.
    for (body, path) in [
        ("[]", "."),
        (r#"{"npm": ["https://npm.corp.example/"]}"#, "npm"),
        (
            r#"{"go": {"proxy": [["https://goproxy.corp.example/"]]}}"#,
            "go.proxy[0]",
        ),
    ] {
        let (status, refused) = code(sent(body).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(refused.error.problems[0].path, path, "{refused:?}");
    }
    let environment = app
        .call(
            reqwest::Method::POST,
            "/api/v1/environments",
            Some(&app.admin_token().await),
            Some(&json!(["arrays"])),
        )
        .await;
    assert_eq!(environment.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let draft: Value = app
        .get_as(&ops, &format!("{BASELINE}/draft"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["profile"], json!({}), "nothing was kept: {draft}");
}

async fn variables_that_run_code_or_change_tls_need_an_admins_allowance(backend: Backend) {
    let (app, ops) = setup(backend).await;
    let admin = app.admin_token().await;
    app.create_environment("production", false).await;
    app.grant("olivia", "production", "ops").await;
    let allowances = "/api/v1/environments/staging/variable-allowances";
    let allow = |name: &'static str, token: String| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                &format!("{allowances}/{name}"),
                Some(&token),
                Some(&json!({ "reason": "TLS-inspecting proxy: node must use the system store" })),
            )
            .await
        }
    };
    let options = json!({"env": {"NODE_OPTIONS": "--use-openssl-ca"}});

    // Not allowed: refused where it is, saying how it gets allowed.
    let (status, refused) = code(put_draft(&app, &ops, BASELINE, 0, options.clone()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.error.problems[0].path, "env.NODE_OPTIONS");
    assert!(
        refused.error.problems[0]
            .message
            .contains("variable-allowances/NODE_OPTIONS"),
        "{refused:?}"
    );
    for (name, why) in [("LD_AUDIT", "loads code"), ("Git_Ssl_No_Verify", "TLS")] {
        let body = json!({"env": {name: "1"}});
        let (status, refused) = code(put_draft(&app, &ops, BASELINE, 0, body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            refused.error.problems[0].message.contains(why),
            "{refused:?}"
        );
    }

    // Ops cannot allow it; an admin can, for this environment alone.
    assert_eq!(allow("NODE_OPTIONS", ops.clone()).await.status(), 403);
    let allowed = allow("node_options", admin.clone()).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let allowed: Value = allowed.json().await.unwrap();
    assert_eq!(allowed["name"], "NODE_OPTIONS");
    assert_eq!(allowed["kind"], "runs-code");
    assert_eq!(allowed["allowed_by"], "admin");
    // What can never be set, or needs nothing, is not taken.
    for (name, why) in [
        ("LD_AUDIT", "no allowance changes that"),
        ("CORP_REGION", "needs no allowance"),
    ] {
        let (status, refused) = code(allow(name, admin.clone()).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            refused.error.problems[0].message.contains(why),
            "{refused:?}"
        );
    }
    let listed: Vec<Value> = app.get_as(&ops, allowances).await.json().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");

    assert_eq!(
        put_draft(&app, &ops, BASELINE, 0, options.clone())
            .await
            .status(),
        200
    );
    assert_eq!(
        publish(&app, &ops, BASELINE, 1, "system CA store")
            .await
            .status(),
        201
    );
    let production = "/api/v1/environments/production/profiles/baseline";
    let (status, _) = code(put_draft(&app, &ops, production, 0, options.clone()).await).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "production allows nothing"
    );

    // Withdrawn only once no profile of the environment sets it.
    let node_options = format!("{allowances}/NODE_OPTIONS");
    let withdraw = || app.call(Method::DELETE, &node_options, Some(&admin), None);
    let (status, refused) = code(withdraw().await).await;
    assert_eq!(
        (status, refused.error.code.as_str()),
        (StatusCode::CONFLICT, "variable_in_use")
    );
    assert!(
        refused.error.message.contains("version 1 of baseline"),
        "{refused:?}"
    );
    assert_eq!(
        put_draft(&app, &ops, BASELINE, 1, json!({})).await.status(),
        200
    );
    let (status, refused) = code(withdraw().await).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the latest version still sets it"
    );
    assert!(refused.error.message.contains("version 1"), "{refused:?}");
    assert_eq!(
        publish(&app, &ops, BASELINE, 2, "without").await.status(),
        201
    );
    assert_eq!(withdraw().await.status(), StatusCode::NO_CONTENT);
    assert_eq!(withdraw().await.status(), StatusCode::NOT_FOUND);

    // Both are in the audit trail, with who, why and the kind.
    let page: Value = app
        .get_as(&admin, "/api/v1/audit?environment=staging")
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"variable.allow"), "{actions:?}");
    assert!(actions.contains(&"variable.withdraw"), "{actions:?}");
    let allowed = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["action"] == "variable.allow")
        .unwrap();
    assert_eq!(allowed["actor"], "admin");
    assert_eq!(allowed["detail"]["kind"], "runs-code");
    assert!(allowed["changes"][0]["new"]
        .as_str()
        .unwrap()
        .contains("TLS-inspecting"));
}

for_each_store!(
    variables_that_run_code_or_change_tls_need_an_admins_allowance,
    a_key_named_twice_or_an_array_for_an_object_is_refused_where_it_is,
    edit_publish_diff_and_roll_back,
    stale_and_unconditional_writes_are_refused,
    concurrent_publishes_let_exactly_one_win,
    every_mistake_is_reported_at_once,
    a_rollback_never_discards_unpublished_edits,
    secrets_are_write_only_and_sealed_at_rest,
    protected_environments_need_a_second_person,
    change_requests_expire,
    effective_profile_applies_the_overlay_and_names_origins,
);
