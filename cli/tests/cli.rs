//! The `switchyard` binary against the real server on a loopback port, on both stores: export,
//! plan and apply a folder; what moves between plan and apply; protected environments; roles
//! that may not apply; secrets from the environment; signing in.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use switchyard_tests::{for_each_store, Backend, TestApp, USER_PASSWORD};

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `switchyard args` against `app` as the holder of `token`, with `config` as its
/// configuration folder and `extra` in its environment.
async fn switchyard(
    app: &TestApp,
    token: Option<&str>,
    config: &Path,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SWITCHYARD_SERVER", &app.base_url)
        .env("SWITCHYARD_CONFIG_DIR", config)
        .env("NO_COLOR", "1")
        .envs(extra.iter().copied())
        .stdin(std::process::Stdio::null());
    if let Some(token) = token {
        command.env("SWITCHYARD_TOKEN", token);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the switchyard binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// staging (open) and production (protected), the role workstation; olivia ops on both,
/// oscar ops on production, dave a developer on staging; staging's baseline and
/// workstation overlay published.
async fn fleet(app: &TestApp) {
    app.create_environment("staging", false).await;
    app.create_environment("production", true).await;
    app.create_machine_role("workstation").await;
    for user in ["olivia", "oscar", "dave"] {
        app.user_token(user, None).await;
    }
    for (user, environment, role) in [
        ("olivia", "staging", "ops"),
        ("olivia", "production", "ops"),
        ("oscar", "production", "ops"),
        ("dave", "staging", "developer"),
    ] {
        app.grant(user, environment, role).await;
    }
    app.publish_profile(
        "staging",
        "baseline",
        json!({ "npm": { "registry": "https://npm.corp.example/" } }),
    )
    .await;
    app.publish_profile(
        "staging",
        "workstation",
        json!({ "pip": { "index-url": "https://pypi.corp.example/simple/" } }),
    )
    .await;
}

async fn token(app: &TestApp, user: &str) -> String {
    app.login(user, USER_PASSWORD).await.access_token
}

async fn latest_version(app: &TestApp, environment: &str, target: &str) -> u64 {
    let admin = app.admin_token().await;
    let versions: Vec<Value> = app
        .get_as(
            &admin,
            &format!("/api/v1/environments/{environment}/profiles/{target}/versions"),
        )
        .await
        .json()
        .await
        .unwrap();
    versions
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .max()
        .unwrap_or(0)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} holds {from}: {text}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

async fn an_exported_folder_plans_no_change_and_an_edit_is_applied_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let olivia = token(&app, "olivia").await;
    let config = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    let exported = switchyard(&app, Some(&olivia), config.path(), &["export", dir], &[]).await;
    assert_eq!(exported.code, 0, "{exported:?}");
    assert!(exported.stdout.contains("staging.toml"), "{exported:?}");
    let staging = folder.path().join("staging.toml");
    let text = std::fs::read_to_string(&staging).unwrap();
    assert!(
        text.contains("https://npm.corp.example/") && text.contains("[roles.workstation"),
        "{text}"
    );
    // Exported as it is: nothing to change.
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("no change"), "{plan:?}");
    // One edit: exactly that change, as lines and as JSON.
    edit(
        &staging,
        "https://npm.corp.example/",
        "https://npm.mirror.example/",
    );
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert_eq!(
        plan.stdout.lines().next().unwrap(),
        "~ staging/baseline npm.registry: https://npm.corp.example/ -> https://npm.mirror.example/"
    );
    assert!(plan.stdout.contains("1 change(s)"), "{plan:?}");
    let json_plan = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["plan", dir, "--output", "json"],
        &[],
    )
    .await;
    assert_eq!(json_plan.code, 2);
    let document: Value = serde_json::from_str(&json_plan.stdout).unwrap();
    assert_eq!(document["changes"], true);
    let changed: Vec<&Value> = document["plan"]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["profiles"].as_array().unwrap())
        .flat_map(|p| p["changes"].as_array().unwrap())
        .collect();
    assert_eq!(
        changed,
        [
            &json!({ "path": "npm.registry", "old": "https://npm.corp.example/", "new": "https://npm.mirror.example/" })
        ]
    );
    let before = latest_version(&app, "staging", "baseline").await;
    let applied = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["apply", dir, "-m", "Use the mirror"],
        &[],
    )
    .await;
    assert_eq!(applied.code, 0, "{applied:?}");
    assert_eq!(
        applied.stdout.trim(),
        format!("published staging/baseline as version {}", before + 1)
    );
    assert_eq!(
        latest_version(&app, "staging", "workstation").await,
        1,
        "untouched"
    );
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    // A role's overlay taken out of the folder is emptied, as the file is the whole state.
    edit(&staging, "[roles.workstation", "[unused");
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 1, "an unknown key is refused: {plan:?}");
    assert!(plan.stderr.contains("unknown key"), "{plan:?}");
}

async fn what_moved_between_plan_and_apply_is_refused_and_nothing_is_applied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let olivia = token(&app, "olivia").await;
    let config = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    switchyard(&app, Some(&olivia), config.path(), &["export", dir], &[]).await;
    let staging = folder.path().join("staging.toml");
    edit(
        &staging,
        "https://npm.corp.example/",
        "https://npm.mirror.example/",
    );
    let plan_file = folder.path().join("plan.json");
    let plan_path = plan_file.to_str().unwrap();
    let plan = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["plan", dir, "--out", plan_path],
        &[],
    )
    .await;
    assert_eq!(plan.code, 2, "{plan:?}");
    // Someone edits staging's draft meanwhile.
    let admin = app.admin_token().await;
    let draft: Value = app
        .get_as(
            &admin,
            "/api/v1/environments/staging/profiles/baseline/draft",
        )
        .await
        .json()
        .await
        .unwrap();
    let saved = reqwest::Client::new()
        .put(app.url("/api/v1/environments/staging/profiles/baseline/draft"))
        .bearer_auth(&admin)
        .header("if-match", format!("\"{}\"", draft["revision"]))
        .json(&json!({ "npm": { "registry": "https://npm.other.example/" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let before = latest_version(&app, "staging", "baseline").await;
    let refused = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["apply", dir, "--plan", plan_path],
        &[],
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("moved since the plan"),
        "{refused:?}"
    );
    assert!(
        refused.stderr.contains("nothing was applied"),
        "{refused:?}"
    );
    assert_eq!(latest_version(&app, "staging", "baseline").await, before);
    // A folder edited after its plan is refused too.
    let plan = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["plan", dir, "--out", plan_path],
        &[],
    )
    .await;
    assert_eq!(plan.code, 2);
    assert!(plan.stdout.contains("unpublished draft edits"), "{plan:?}");
    edit(
        &staging,
        "https://npm.mirror.example/",
        "https://npm.third.example/",
    );
    let refused = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["apply", dir, "--plan", plan_path],
        &[],
    )
    .await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("the folder changed since the plan"),
        "{refused:?}"
    );
    // The plan as made, applied: exactly it.
    let plan = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["plan", dir, "--out", plan_path],
        &[],
    )
    .await;
    assert_eq!(plan.code, 2);
    let applied = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["apply", dir, "--plan", plan_path],
        &[],
    )
    .await;
    assert_eq!(applied.code, 0, "{applied:?}");
    assert_eq!(
        latest_version(&app, "staging", "baseline").await,
        before + 1
    );
}

async fn a_protected_environment_gets_a_change_request_and_a_developer_cannot_apply(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let olivia = token(&app, "olivia").await;
    let config = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    let production = folder.path().join("production.toml");
    std::fs::write(
        &production,
        "[baseline.go]\nproxy = [{ source = \"https://goproxy.corp.example\" }]\n",
    )
    .unwrap();
    let applied = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["apply", dir, "-m", "Go through our proxy"],
        &[],
    )
    .await;
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(
        applied
            .stdout
            .contains("proposed production/baseline: change request"),
        "{applied:?}"
    );
    assert_eq!(
        latest_version(&app, "production", "baseline").await,
        0,
        "waits for approval"
    );
    let oscar = token(&app, "oscar").await;
    let requests: Vec<Value> = app
        .get_as(&oscar, "/api/v1/environments/production/change-requests")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["proposer"], "olivia");
    let id = requests[0]["id"].as_str().unwrap();
    let approved = switchyard(
        &app,
        Some(&oscar),
        config.path(),
        &["change-request", "approve", "production", id],
        &[],
    )
    .await;
    assert_eq!(approved.code, 0, "{approved:?}");
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(
        plan.code, 0,
        "approved, nothing is left to change: {plan:?}"
    );
    // A developer: refused by the server, with its code and request id, nothing applied.
    let dave = token(&app, "dave").await;
    let staging = folder.path().join("staging.toml");
    std::fs::remove_file(&production).unwrap();
    std::fs::write(
        &staging,
        "[baseline.npm]\nregistry = \"https://npm.dave.example/\"\n",
    )
    .unwrap();
    let before = latest_version(&app, "staging", "baseline").await;
    let refused = switchyard(&app, Some(&dave), config.path(), &["apply", dir], &[]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("HTTP 403") && refused.stderr.contains("request id"),
        "{refused:?}"
    );
    assert_eq!(latest_version(&app, "staging", "baseline").await, before);
}

async fn secrets_come_from_the_environment_at_apply_and_never_sit_in_the_folder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let olivia = token(&app, "olivia").await;
    let config = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    let staging = folder.path().join("staging.toml");
    std::fs::write(
        &staging,
        "[baseline.npm]\nregistry = \"https://npm.corp.example/\"\n\
         auth-tokens.\"https://npm.corp.example/\" = { from_env = \"NPM_TOKEN\" }\n\
         [roles.workstation.pip]\nindex-url = \"https://pypi.corp.example/simple/\"\n",
    )
    .unwrap();
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stdout
            .contains("+ staging/baseline npm.auth-tokens.https://npm.corp.example/"),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("(secret)"), "{plan:?}");
    // Unset: nothing is applied.
    let refused = switchyard(&app, Some(&olivia), config.path(), &["apply", dir], &[]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("NPM_TOKEN is not set"),
        "{refused:?}"
    );
    let secret = [("NPM_TOKEN", "npm_s3cr3t_token_value")];
    let applied = switchyard(&app, Some(&olivia), config.path(), &["apply", dir], &secret).await;
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(!applied.stdout.contains("s3cr3t") && !applied.stderr.contains("s3cr3t"));
    // Held now: no change, unless rotated.
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    let rotate = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["plan", dir, "--update-secrets"],
        &secret,
    )
    .await;
    assert_eq!(rotate.code, 2, "{rotate:?}");
    assert!(
        rotate
            .stdout
            .contains("(secret, from_env NPM_TOKEN: rotated)"),
        "{rotate:?}"
    );
    // A colleague's unpublished draft edit of a profile the folder does not change is left
    // alone: the plan stays quiet.
    let draft: Value = app
        .get_as(
            &olivia,
            "/api/v1/environments/staging/profiles/baseline/draft",
        )
        .await
        .json()
        .await
        .unwrap();
    let edited = reqwest::Client::new()
        .put(app.url("/api/v1/environments/staging/profiles/baseline/draft"))
        .bearer_auth(&olivia)
        .header("if-match", format!("\"{}\"", draft["revision"]))
        .json(&json!({ "npm": {
            "registry": "https://npm.colleague.example/",
            "auth-tokens": { "https://npm.corp.example/": { "set": true } },
        } }))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    // Rotated with the same value: applied, and said to change nothing.
    let rotated = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["apply", dir, "--update-secrets"],
        &secret,
    )
    .await;
    assert_eq!(rotated.code, 0, "{rotated:?}");
    assert!(
        rotated.stdout.contains("already held what was sent"),
        "{rotated:?}"
    );
    // Sources outside the folder, and the command's own token, are refused.
    for (source, said) in [
        ("{ from_file = \"/etc/hostname\" }", "relative path"),
        (
            "{ from_env = \"SWITCHYARD_TOKEN\" }",
            "may not read SWITCHYARD_TOKEN",
        ),
    ] {
        let text =
            format!("[baseline.npm]\nauth-tokens.\"https://npm.corp.example/\" = {source}\n");
        std::fs::write(folder.path().join("staging.toml"), text).unwrap();
        let refused = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
        assert_eq!(refused.code, 1, "{refused:?}");
        assert!(refused.stderr.contains(said), "{refused:?}");
    }
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("token"), "npm_outside").unwrap();
    let escape = "[baseline.npm]\nauth-tokens.\"https://npm.corp.example/\" = { from_file = \"link/token\" }\n";
    std::fs::write(folder.path().join("staging.toml"), escape).unwrap();
    std::os::unix::fs::symlink(outside.path(), folder.path().join("link")).unwrap();
    let refused = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["apply", dir, "--update-secrets"],
        &[],
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("outside the folder"), "{refused:?}");
    // Exported, the secret is kept, never written.
    let again = tempfile::tempdir().unwrap();
    let exported = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["export", again.path().to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(exported.code, 0);
    let text = std::fs::read_to_string(again.path().join("staging.toml")).unwrap();
    assert!(
        text.contains("set = true") && !text.contains("s3cr3t"),
        "{text}"
    );
    // A value in the folder is refused.
    std::fs::write(
        &staging,
        "[baseline.npm]\nauth-tokens.\"https://npm.corp.example/\" = { value = \"npm_in_git\" }\n",
    )
    .unwrap();
    let refused = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("never kept in the folder"),
        "{refused:?}"
    );
    assert!(!refused.stderr.contains("npm_in_git"));
}

async fn an_admin_manages_grants_and_creates_environments_from_the_folder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    fleet(&app).await;
    let admin = app.admin_token().await;
    let config = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    let exported = switchyard(
        &app,
        Some(&admin),
        config.path(),
        &["export", dir, "--format", "yaml"],
        &[],
    )
    .await;
    assert_eq!(exported.code, 0, "{exported:?}");
    let staging = folder.path().join("staging.yaml");
    let text = std::fs::read_to_string(&staging).unwrap();
    assert!(text.contains("dave: developer"), "{text}");
    edit(&staging, "dave: developer", "dave: ops");
    std::fs::write(
        folder.path().join("qa.toml"),
        "description = \"Testing\"\n[grants]\nnobody = \"ops\"\n",
    )
    .unwrap();
    let refused = switchyard(&app, Some(&admin), config.path(), &["plan", dir], &[]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("grants.nobody: no such user"),
        "{refused:?}"
    );
    std::fs::write(
        folder.path().join("qa.toml"),
        "description = \"Testing\"\nprotected = false\n[grants]\ndave = \"developer\"\n\
         [baseline.npm]\nregistry = \"https://npm.qa.example/\"\n",
    )
    .unwrap();
    let plan = switchyard(&app, Some(&admin), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stdout.contains("+ environment qa is created"),
        "{plan:?}"
    );
    assert!(
        plan.stdout
            .contains("~ staging grant dave: developer -> ops"),
        "{plan:?}"
    );
    let applied = switchyard(&app, Some(&admin), config.path(), &["apply", dir], &[]).await;
    assert_eq!(applied.code, 0, "{applied:?}");
    let dave: Value = app
        .get_as(&admin, "/api/v1/users/dave")
        .await
        .json()
        .await
        .unwrap();
    let mut grants: Vec<(String, String)> = dave["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["environment"].as_str().unwrap().to_owned(),
                g["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    grants.sort();
    assert_eq!(
        grants,
        [
            ("qa".into(), "developer".into()),
            ("staging".into(), "ops".into())
        ]
    );
    // The new environment exists before its profile is published.
    assert_eq!(latest_version(&app, "qa", "baseline").await, 1);
    let plan = switchyard(&app, Some(&admin), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    // Ops may not manage grants.
    let olivia = token(&app, "olivia").await;
    let refused = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("only admins"), "{refused:?}");
}

for_each_store!(
    an_exported_folder_plans_no_change_and_an_edit_is_applied_exactly,
    what_moved_between_plan_and_apply_is_refused_and_nothing_is_applied,
    a_protected_environment_gets_a_change_request_and_a_developer_cannot_apply,
    secrets_come_from_the_environment_at_apply_and_never_sit_in_the_folder,
    an_admin_manages_grants_and_creates_environments_from_the_folder,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_the_session_for_its_owner_and_the_commands_use_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let config = tempfile::tempdir().unwrap();
    let server = app.base_url.clone();
    let config_dir = config.path().to_owned();
    let login = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["login", "--server", &server, "--username", "olivia"])
            .env_clear()
            .env("SWITCHYARD_CONFIG_DIR", &config_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{USER_PASSWORD}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(login.status.success(), "{login:?}");
    let kept = config.path().join("credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The kept session serves the next command, with the server it was made for.
    let mut whoami = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    whoami
        .args(["whoami"])
        .env_clear()
        .env("SWITCHYARD_CONFIG_DIR", config.path());
    let shown = tokio::task::spawn_blocking(move || whoami.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success() && stdout.contains("olivia") && stdout.contains("ops on staging"),
        "{shown:?}"
    );
    // `profile edit` opens the draft in $EDITOR and saves what it wrote.
    let edited = switchyard(
        &app,
        None,
        config.path(),
        &["profile", "edit", "staging", "baseline"],
        &[("EDITOR", "sed -i s/npm.corp.example/npm.edited.example/")],
    )
    .await;
    assert_eq!(edited.code, 0, "{edited:?}");
    assert!(
        edited
            .stdout
            .contains("saved the draft of staging/baseline as revision"),
        "{edited:?}"
    );
    let olivia = token(&app, "olivia").await;
    let draft: Value = app
        .get_as(
            &olivia,
            "/api/v1/environments/staging/profiles/baseline/draft",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        draft["profile"]["npm"]["registry"],
        "https://npm.edited.example/"
    );
    let shown = switchyard(
        &app,
        None,
        config.path(),
        &["profile", "get", "staging", "baseline", "--draft"],
        &[],
    )
    .await;
    assert!(
        shown
            .stdout
            .contains("registry = \"https://npm.edited.example/\""),
        "{shown:?}"
    );
    let listed = switchyard(
        &app,
        None,
        config.path(),
        &["env", "list", "-o", "json"],
        &[],
    )
    .await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let names: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(names.len(), 2);
    // Usage mistakes exit 1 with a message; completions name every command.
    let wrong = switchyard(&app, None, config.path(), &["plan"], &[]).await;
    assert_eq!(wrong.code, 1);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = switchyard(&app, None, config.path(), &["completions", shell], &[]).await;
        assert_eq!(script.code, 0);
        assert!(
            script.stdout.contains("change-request") && script.stdout.contains("apply"),
            "{shell}"
        );
    }
    let out = switchyard(&app, None, config.path(), &["logout"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!kept.exists());
    let refused = switchyard(&app, None, config.path(), &["whoami"], &[]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("switchyard login"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_started_followed_and_aborted_from_the_command_line() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let olivia = token(&app, "olivia").await;
    let config = tempfile::tempdir().unwrap();
    let edited = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["profile", "edit", "staging", "baseline"],
        &[("EDITOR", "sed -i s/npm.corp.example/npm.waves.example/")],
    )
    .await;
    assert_eq!(edited.code, 0, "{edited:?}");
    let refused = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &[
            "rollout",
            "start",
            "staging",
            "baseline",
            "-m",
            "in waves",
            "--waves",
            "10,50",
            "--max-failed-applies",
            "150",
        ],
        &[],
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    let started = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &[
            "rollout",
            "start",
            "staging",
            "baseline",
            "-m",
            "in waves",
            "--waves",
            "10,50",
            "--soak-minutes",
            "30",
        ],
        &[],
    )
    .await;
    assert_eq!(started.code, 0, "{started:?}");
    assert!(
        started.stdout.contains("rolling out in waves"),
        "{started:?}"
    );
    let listed = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["rollout", "list", "staging", "-o", "json"],
        &[],
    )
    .await;
    let rollouts: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(rollouts.len(), 1);
    let id = rollouts[0]["id"].as_str().unwrap().to_owned();
    let status = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["rollout", "status", "staging", &id],
        &[],
    )
    .await;
    assert!(status.stdout.contains("running, wave 1 of 2"), "{status:?}");
    let dave = token(&app, "dave").await;
    let refused = switchyard(
        &app,
        Some(&dave),
        config.path(),
        &["rollout", "abort", "staging", &id, "--reason", "mine"],
        &[],
    )
    .await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("HTTP 403"), "{refused:?}");
    let aborted = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["rollout", "abort", "staging", &id, "--reason", "stop it"],
        &[],
    )
    .await;
    assert_eq!(aborted.code, 0, "{aborted:?}");
    assert!(aborted.stdout.contains("aborted"), "{aborted:?}");
    // Watching an ended rollout prints it once and stops.
    let watched = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["rollout", "status", "staging", &id, "--watch"],
        &[],
    )
    .await;
    assert_eq!(watched.code, 0);
    assert_eq!(watched.stdout.lines().count(), 1, "{watched:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_labels_are_planned_applied_and_exported() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    fleet(&app).await;
    let secret = app.enrollment_token("staging", "workstation", 1).await;
    let machine = switchyard_tests::TestDevice::enroll(&app, &secret)
        .await
        .expect("a machine enrolls");
    let olivia = token(&app, "olivia").await;
    let config = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    switchyard(&app, Some(&olivia), config.path(), &["export", dir], &[]).await;
    let staging = folder.path().join("staging.toml");
    let mut text = std::fs::read_to_string(&staging).unwrap();
    text.push_str(&format!(
        "\n[labels]\n\"{}\" = \"ring=canary, site=office-b\"\n",
        machine.id
    ));
    std::fs::write(&staging, &text).unwrap();
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stdout.contains(&format!(
            "+ staging labels of machine {}: (unset) -> ring=canary, site=office-b",
            machine.id
        )),
        "{plan:?}"
    );
    let applied = switchyard(&app, Some(&olivia), config.path(), &["apply", dir], &[]).await;
    assert_eq!(applied.code, 0, "{applied:?}");
    let machines: Vec<Value> = app.devices("staging").await;
    assert_eq!(
        machines[0]["labels"],
        json!({ "ring": "canary", "site": "office-b" })
    );
    let plan = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    // Exported, the labels come back as a table; a machine that is none is refused.
    let again = tempfile::tempdir().unwrap();
    switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["export", again.path().to_str().unwrap()],
        &[],
    )
    .await;
    let exported = std::fs::read_to_string(again.path().join("staging.toml")).unwrap();
    assert!(
        exported.contains(&machine.id.to_string()) && exported.contains("canary"),
        "{exported}"
    );
    let plan = switchyard(
        &app,
        Some(&olivia),
        config.path(),
        &["plan", again.path().to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(plan.code, 0, "{plan:?}");
    text.push_str(&format!("\"{}\" = {{ ring = \"late\" }}\n", uuid_nil()));
    std::fs::write(&staging, &text).unwrap();
    let refused = switchyard(&app, Some(&olivia), config.path(), &["plan", dir], &[]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("no such machine"), "{refused:?}");
}

fn uuid_nil() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
}
