//! Conformance of machine roles, drafts and versions: every test runs on SQLite and Postgres.

use switchyard_proto::{
    Description, EnvironmentName, MachineRole, MachineRoleName, NewEnvironment,
};
use switchyard_server::domain::profiles::{
    DraftRecord, ProfileTarget, PublishKind, Reach, VersionRecord,
};
use switchyard_server::store::{DatabaseUrl, SharedStore, StoreError};
use switchyard_tests::{audit, for_each_store, Backend, TestDatabase};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

async fn staging(store: &SharedStore) -> EnvironmentName {
    let name = EnvironmentName::parse("staging").unwrap();
    store
        .create_environment(
            &NewEnvironment {
                name: name.clone(),
                description: Description::default(),
                protected: false,
            },
            NOW,
            &audit(),
        )
        .await
        .unwrap();
    name
}

fn draft(document: &str) -> DraftRecord {
    DraftRecord {
        document: document.into(),
        revision: 0,
        based_on_version: 0,
        updated_by: "ada".into(),
        updated_at: NOW,
    }
}

fn version(number: u64, document: &str) -> VersionRecord {
    VersionRecord {
        version: number,
        document: document.into(),
        content_hash: format!("hash-{document}"),
        author: "ada".into(),
        message: format!("version {number}"),
        rollback_of: None,
        published_at: NOW,
    }
}

async fn machine_roles_are_created_listed_and_unique(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let role = MachineRole {
        name: MachineRoleName::parse("backend").unwrap(),
        description: Description::parse("API servers").unwrap(),
        created_at: NOW,
    };
    store.create_machine_role(&role, &audit()).await.unwrap();
    assert_eq!(store.machine_role(&role.name).await.unwrap(), role);
    assert_eq!(
        store.machine_roles().await.unwrap(),
        std::slice::from_ref(&role)
    );
    let error = store
        .create_machine_role(&role, &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::MachineRoleExists(_)),
        "{error:?}"
    );
    let missing = MachineRoleName::parse("frontend").unwrap();
    let error = store.machine_role(&missing).await.unwrap_err();
    assert!(
        matches!(error, StoreError::MachineRoleNotFound(_)),
        "{error:?}"
    );
    store.close().await;
}

async fn drafts_move_on_only_from_the_revision_they_were_read_at(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let env = staging(&store).await;
    let target = ProfileTarget::Baseline;
    assert_eq!(store.draft(&env, &target).await.unwrap(), None);

    let first = store
        .save_draft(&env, &target, 0, &draft("{\"a\":1}"), &audit())
        .await
        .unwrap();
    assert_eq!(first.revision, 1);
    let error = store
        .save_draft(&env, &target, 0, &draft("{}"), &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::StaleDraft { current: 1 }),
        "{error:?}"
    );
    let second = store
        .save_draft(&env, &target, 1, &draft("{\"a\":2}"), &audit())
        .await
        .unwrap();
    assert_eq!(second.revision, 2);
    let error = store
        .save_draft(&env, &target, 1, &draft("{}"), &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::StaleDraft { current: 2 }),
        "{error:?}"
    );
    assert_eq!(
        store.draft(&env, &target).await.unwrap().unwrap().document,
        "{\"a\":2}"
    );

    // Overlays are separate profiles.
    let overlay = ProfileTarget::Role(MachineRoleName::parse("backend").unwrap());
    assert_eq!(store.draft(&env, &overlay).await.unwrap(), None);
    let error = store
        .save_draft(&env, &overlay, 7, &draft("{}"), &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::StaleDraft { current: 0 }),
        "{error:?}"
    );
    store.close().await;
}

async fn publishing_adds_immutable_versions_in_order(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let env = staging(&store).await;
    let target = ProfileTarget::Baseline;
    store
        .save_draft(&env, &target, 0, &draft("one"), &audit())
        .await
        .unwrap();
    store
        .publish(
            &env,
            &target,
            &version(1, "one"),
            &PublishKind::Draft { revision: 1 },
            Reach::Everyone,
            &[audit()],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .draft(&env, &target)
            .await
            .unwrap()
            .unwrap()
            .based_on_version,
        1
    );

    // A publish of a draft revision that is no longer current is refused, whole.
    store
        .save_draft(&env, &target, 1, &draft("two"), &audit())
        .await
        .unwrap();
    let error = store
        .publish(
            &env,
            &target,
            &version(2, "two"),
            &PublishKind::Draft { revision: 1 },
            Reach::Everyone,
            &[audit()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::StaleDraft { current: 2 }),
        "{error:?}"
    );
    assert_eq!(store.versions(&env, &target).await.unwrap().len(), 1);

    store
        .publish(
            &env,
            &target,
            &version(2, "two"),
            &PublishKind::Draft { revision: 2 },
            Reach::Everyone,
            &[audit()],
        )
        .await
        .unwrap();
    let error = store
        .publish(
            &env,
            &target,
            &version(2, "again"),
            &PublishKind::Draft { revision: 2 },
            Reach::Everyone,
            &[audit()],
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::VersionTaken(2)), "{error:?}");

    // A rollback publishes old content and makes it the draft.
    let rollback = VersionRecord {
        rollback_of: Some(1),
        ..version(3, "one")
    };
    store
        .publish(
            &env,
            &target,
            &rollback,
            &PublishKind::Rollback { draft_revision: 2 },
            Reach::Everyone,
            &[audit()],
        )
        .await
        .unwrap();
    let draft_now = store.draft(&env, &target).await.unwrap().unwrap();
    assert_eq!(
        (draft_now.document.as_str(), draft_now.based_on_version),
        ("one", 3)
    );

    let versions = store.versions(&env, &target).await.unwrap();
    let numbers: Vec<u64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(versions[2].rollback_of, Some(1));
    assert_eq!(
        store
            .latest_version(&env, &target)
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    assert_eq!(
        store.version(&env, &target, 2).await.unwrap(),
        version(2, "two")
    );
    let error = store.version(&env, &target, 9).await.unwrap_err();
    assert!(matches!(error, StoreError::VersionNotFound(9)), "{error:?}");
    store.close().await;
}

async fn concurrent_publishes_of_one_version_let_exactly_one_win(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let env = staging(&store).await;
    let attempts: Vec<_> = (0..6)
        .map(|i| {
            let (store, env) = (store.clone(), env.clone());
            tokio::spawn(async move {
                let record = version(1, &format!("attempt-{i}"));
                store
                    .publish(
                        &env,
                        &ProfileTarget::Baseline,
                        &record,
                        &PublishKind::Rollback { draft_revision: 0 },
                        Reach::Everyone,
                        &[audit()],
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::VersionTaken(1)) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        store
            .versions(&env, &ProfileTarget::Baseline)
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
}

/// Runs the migrations before `0011_pypi.sql` on `database`, as a server of before that
/// migration left it, and runs `statements` there.
async fn at_the_schema_before_pypi(database: &TestDatabase, statements: &[&str]) {
    let folder = tempfile::tempdir().unwrap();
    let source = match database.url() {
        DatabaseUrl::Sqlite(_) => "sqlite",
        DatabaseUrl::Postgres(_) => "postgres",
    };
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(source);
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0011" {
            std::fs::copy(&path, folder.path().join(name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(folder.path()).await.unwrap();
    macro_rules! run_on {
        ($pool:expr) => {{
            let pool = $pool.await.unwrap();
            migrator.run(&pool).await.unwrap();
            for statement in statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }};
    }
    match database.url() {
        DatabaseUrl::Sqlite(path) => run_on!(sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
        )),
        DatabaseUrl::Postgres(url) => run_on!(sqlx::PgPool::connect(url)),
    }
}

async fn profiles_kept_under_pip_are_migrated_to_pypi_where_not_yet_published(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let uuid = |n: u8| match backend {
        Backend::Sqlite => format!("X'{:032x}'", n),
        Backend::Postgres => format!("'{:032x}'", n),
    };
    let old = r#"{"npm":{"registry":"https://npm.corp.example/"},"pip":{"index-url":"https://pypi.corp.example/simple/","timeout":30}}"#;
    let request = |n: u8, status: &str| {
        format!(
            "INSERT INTO change_requests (id, environment, machine_role, document, content_hash, \
             base_version, proposer, message, created_at, expires_at, status) VALUES ({}, \
             'staging', '', '{old}', 'h', 1, 'ada', 'm', '2026-11-25T12:00:00.000000Z', \
             '2026-11-26T12:00:00.000000Z', '{status}')",
            uuid(n)
        )
    };
    at_the_schema_before_pypi(
        &database,
        &[
            "INSERT INTO environments (name, description, protected, created_at) \
             VALUES ('staging', '', TRUE, '2026-11-25T12:00:00.000000Z')",
            &format!(
                "INSERT INTO profile_drafts (environment, machine_role, document, revision, \
                 based_on_version, updated_by, updated_at) VALUES ('staging', '', '{old}', 2, 1, \
                 'ada', '2026-11-25T12:00:00.000000Z')"
            ),
            &format!(
                "INSERT INTO profile_versions (environment, machine_role, version, document, \
                 content_hash, author, message, published_at) VALUES ('staging', '', 1, '{old}', \
                 'h', 'ada', 'm', '2026-11-25T12:00:00.000000Z')"
            ),
            &request(1, "open"),
            &request(2, "rejected"),
        ],
    )
    .await;

    let store = database.open_store().await;
    let env = EnvironmentName::parse("staging").unwrap();
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let migrated = serde_json::json!({
        "npm": {"registry": "https://npm.corp.example/"},
        "pypi": {"index-url": "https://pypi.corp.example/simple/", "timeout": 30}
    });
    let draft = store
        .draft(&env, &ProfileTarget::Baseline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(json(&draft.document), migrated);
    assert_eq!(
        draft.revision, 2,
        "a draft's revision stays: nobody edited it"
    );
    let requests = store.change_requests(&env).await.unwrap();
    let document_of = |n: u8| {
        let id = uuid::Uuid::from_u128(u128::from(n));
        json(&requests.iter().find(|r| r.id == id).unwrap().document)
    };
    assert_eq!(
        document_of(1),
        migrated,
        "an open request is still to be published"
    );
    assert_eq!(document_of(2), json(old), "a decided request is a record");
    let version = store
        .version(&env, &ProfileTarget::Baseline, 1)
        .await
        .unwrap();
    assert_eq!(version.document, old, "versions are immutable");
    let read: switchyard_proto::Profile = serde_json::from_str(&version.document).unwrap();
    assert_eq!(read, serde_json::from_value(migrated).unwrap());
    store.close().await;
}

for_each_store!(
    profiles_kept_under_pip_are_migrated_to_pypi_where_not_yet_published,
    machine_roles_are_created_listed_and_unique,
    drafts_move_on_only_from_the_revision_they_were_read_at,
    publishing_adds_immutable_versions_in_order,
    concurrent_publishes_of_one_version_let_exactly_one_win,
);
