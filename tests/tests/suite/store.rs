//! The storage conformance suite: every test runs against SQLite and Postgres alike.

use switchyard_proto::{Description, EnvironmentName, EnvironmentUpdate, NewEnvironment};
use switchyard_server::store::StoreError;
use switchyard_tests::{audit, for_each_store, Backend, TestDatabase};
use time::macros::datetime;

fn name(text: &str) -> EnvironmentName {
    EnvironmentName::parse(text).unwrap()
}

fn new_environment(text: &str, protected: bool) -> NewEnvironment {
    NewEnvironment {
        name: name(text),
        description: Description::parse(format!("the {text} environment")).unwrap(),
        protected,
    }
}

async fn created_environment_reads_back_as_written(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    // Nanoseconds are beyond what both databases keep: they come back as microseconds.
    let created_at = datetime!(2026-11-25 13:45:12.123456789 UTC);
    let created = store
        .create_environment(&new_environment("production", true), created_at, &audit())
        .await
        .unwrap();
    assert_eq!(created.name.as_str(), "production");
    assert_eq!(created.description.as_str(), "the production environment");
    assert!(created.protected);
    assert_eq!(
        created.created_at,
        datetime!(2026-11-25 13:45:12.123456 UTC)
    );

    let read = store.environment(&name("production")).await.unwrap();
    assert_eq!(read, created);
    store.close().await;
}

async fn environments_are_listed_by_name(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    assert!(store.environments().await.unwrap().is_empty());
    let now = datetime!(2026-01-01 00:00 UTC);
    for text in ["staging", "dev", "production"] {
        store
            .create_environment(&new_environment(text, false), now, &audit())
            .await
            .unwrap();
    }
    let names: Vec<String> = store
        .environments()
        .await
        .unwrap()
        .into_iter()
        .map(|environment| environment.name.to_string())
        .collect();
    assert_eq!(names, ["dev", "production", "staging"]);
    store.close().await;
}

async fn duplicate_name_is_refused_and_keeps_the_first(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let now = datetime!(2026-01-01 00:00 UTC);
    store
        .create_environment(&new_environment("staging", false), now, &audit())
        .await
        .unwrap();
    let error = store
        .create_environment(&new_environment("staging", true), now, &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::EnvironmentExists(n) if n.as_str() == "staging"),
        "{error:?}"
    );
    assert!(!store.environment(&name("staging")).await.unwrap().protected);
    store.close().await;
}

async fn concurrent_creates_of_one_name_let_exactly_one_win(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let now = datetime!(2026-01-01 00:00 UTC);
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_environment(&new_environment("race", false), now, &audit())
                .await
        })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::EnvironmentExists(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.environments().await.unwrap().len(), 1);
    store.close().await;
}

async fn missing_environment_is_not_found(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let error = store.environment(&name("nowhere")).await.unwrap_err();
    assert!(
        matches!(error, StoreError::EnvironmentNotFound(_)),
        "{error:?}"
    );
    let error = store
        .update_environment(&name("nowhere"), &EnvironmentUpdate::default(), &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::EnvironmentNotFound(_)),
        "{error:?}"
    );
    store.close().await;
}

async fn update_changes_only_the_given_fields(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let created = store
        .create_environment(
            &new_environment("staging", false),
            datetime!(2026-01-01 00:00 UTC),
            &audit(),
        )
        .await
        .unwrap();

    let protected = store
        .update_environment(
            &name("staging"),
            &EnvironmentUpdate {
                protected: Some(true),
                ..EnvironmentUpdate::default()
            },
            &audit(),
        )
        .await
        .unwrap();
    assert!(protected.protected);
    assert_eq!(protected.description, created.description);
    assert_eq!(protected.created_at, created.created_at);

    let described = store
        .update_environment(
            &name("staging"),
            &EnvironmentUpdate {
                description: Some(Description::parse("shared\ncluster").unwrap()),
                protected: None,
            },
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(described.description.as_str(), "shared\ncluster");
    assert!(described.protected, "unchanged fields stay as they were");
    assert_eq!(
        store.environment(&name("staging")).await.unwrap(),
        described
    );
    store.close().await;
}

async fn data_survives_reopening_the_database(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    store
        .create_environment(
            &new_environment("dev", false),
            datetime!(2026-01-01 00:00 UTC),
            &audit(),
        )
        .await
        .unwrap();
    store.close().await;

    // Opening again applies the migrations again: they must be idempotent.
    let reopened = database.open_store().await;
    assert_eq!(reopened.environments().await.unwrap().len(), 1);
    reopened.ping().await.unwrap();
    reopened.close().await;
}

async fn closed_store_reports_the_database_gone(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    store.ping().await.unwrap();
    store.close().await;
    let error = store.ping().await.unwrap_err();
    assert!(matches!(error, StoreError::Database(_)), "{error:?}");
}

for_each_store!(
    created_environment_reads_back_as_written,
    environments_are_listed_by_name,
    duplicate_name_is_refused_and_keeps_the_first,
    concurrent_creates_of_one_name_let_exactly_one_win,
    missing_environment_is_not_found,
    update_changes_only_the_given_fields,
    data_survives_reopening_the_database,
    closed_store_reports_the_database_gone,
);
