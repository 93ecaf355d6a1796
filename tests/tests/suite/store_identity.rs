//! Conformance of users, grants and tokens: every test runs against SQLite and Postgres alike.

use switchyard_proto::{
    Description, EnvironmentName, EnvironmentRole, GlobalRole, Grant, NewEnvironment, TokenName,
    Username,
};
use switchyard_server::domain::identity::{
    ApiTokenRecord, RefreshTokenRecord, RefreshUse, UserChange, UserRecord,
};
use switchyard_server::store::{SharedStore, StoreError};
use switchyard_tests::{audit, for_each_store, Backend, TestDatabase};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: Uuid::new_v4(),
        username: Username::parse(name).unwrap(),
        password_hash: format!("$argon2id$hash-of-{name}"),
        global_role: None,
        disabled: false,
        created_at: NOW,
        sessions_valid_after: None,
    }
}

async fn environment(store: &SharedStore, name: &str) -> EnvironmentName {
    let name = EnvironmentName::parse(name).unwrap();
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

async fn users_are_created_found_and_unique(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    assert_eq!(store.count_users().await.unwrap(), 0);
    let ada = UserRecord {
        global_role: Some(GlobalRole::Auditor),
        ..user("ada")
    };
    store.create_user(&ada, &audit()).await.unwrap();
    store.create_user(&user("bob"), &audit()).await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 2);
    assert_eq!(store.user_by_name(&ada.username).await.unwrap(), ada);
    assert_eq!(store.user_by_id(ada.id).await.unwrap(), ada);
    let names: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username.to_string())
        .collect();
    assert_eq!(names, ["ada", "bob"]);

    let error = store.create_user(&user("ada"), &audit()).await.unwrap_err();
    assert!(matches!(error, StoreError::UserExists(_)), "{error:?}");
    let error = store
        .user_by_name(&Username::parse("nobody").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::UserNotFound(_)), "{error:?}");
    store.close().await;
}

async fn user_changes_touch_only_what_they_name(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let ada = UserRecord {
        global_role: Some(GlobalRole::Admin),
        ..user("ada")
    };
    store.create_user(&ada, &audit()).await.unwrap();

    let disabled = store
        .update_user(
            &ada.username,
            &UserChange {
                disabled: Some(true),
                ..UserChange::default()
            },
            &audit(),
        )
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.global_role, Some(GlobalRole::Admin));
    assert_eq!(disabled.password_hash, ada.password_hash);

    let changed = store
        .update_user(
            &ada.username,
            &UserChange {
                password_hash: Some("$argon2id$new".into()),
                global_role: Some(None),
                ..UserChange::default()
            },
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert_eq!(changed.global_role, None);
    assert!(changed.disabled, "unchanged fields stay");
    store.close().await;
}

async fn grants_are_per_environment_and_replaceable(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let staging = environment(&store, "staging").await;
    let production = environment(&store, "production").await;
    let ada = user("ada");
    store.create_user(&ada, &audit()).await.unwrap();
    assert!(
        store.grants(ada.id).await.unwrap().is_empty(),
        "new users have no grants"
    );

    store
        .put_grant(ada.id, &staging, EnvironmentRole::Ops, NOW, &audit())
        .await
        .unwrap();
    store
        .put_grant(ada.id, &production, EnvironmentRole::Ops, NOW, &audit())
        .await
        .unwrap();
    store
        .put_grant(
            ada.id,
            &production,
            EnvironmentRole::Developer,
            NOW,
            &audit(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.grants(ada.id).await.unwrap(),
        [
            Grant {
                environment: production.clone(),
                role: EnvironmentRole::Developer
            },
            Grant {
                environment: staging.clone(),
                role: EnvironmentRole::Ops
            },
        ]
    );
    assert!(store
        .remove_grant(ada.id, &staging, &audit())
        .await
        .unwrap());
    assert!(!store
        .remove_grant(ada.id, &staging, &audit())
        .await
        .unwrap());
    assert_eq!(store.grants(ada.id).await.unwrap().len(), 1);

    let missing = EnvironmentName::parse("nowhere").unwrap();
    let error = store
        .put_grant(ada.id, &missing, EnvironmentRole::Ops, NOW, &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::EnvironmentNotFound(_)),
        "{error:?}"
    );
    store.close().await;
}

fn refresh_token(user_id: Uuid, family: Uuid, hash: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash.into(),
        family,
        user_id,
        issued_at: NOW,
        expires_at: NOW + Duration::days(1),
    }
}

async fn refresh_tokens_are_single_use_and_replay_is_detected(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let ada = user("ada");
    store.create_user(&ada, &audit()).await.unwrap();
    let family = Uuid::new_v4();
    let token = refresh_token(ada.id, family, "hash-1");
    store.insert_refresh_token(&token, &audit()).await.unwrap();

    let later = NOW + Duration::minutes(5);
    assert_eq!(
        store.refresh_token("hash-1", later).await.unwrap(),
        RefreshUse::Fresh(token)
    );
    let next = RefreshTokenRecord {
        issued_at: later,
        ..refresh_token(ada.id, family, "hash-1b")
    };
    store
        .rotate_refresh_token("hash-1", &next, &audit())
        .await
        .unwrap();
    assert_eq!(
        store.refresh_token("hash-1", later).await.unwrap(),
        RefreshUse::Replayed { family }
    );
    assert!(matches!(
        store.rotate_refresh_token("hash-1", &next, &audit()).await,
        Err(StoreError::RefreshTokenSpent)
    ));
    assert_eq!(
        store.refresh_token("unknown", later).await.unwrap(),
        RefreshUse::Invalid
    );

    // Expired and revoked tokens are invalid.
    store
        .insert_refresh_token(&refresh_token(ada.id, family, "hash-2"), &audit())
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh_token("hash-2", NOW + Duration::days(2))
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    store
        .revoke_refresh_family(family, later, &audit())
        .await
        .unwrap();
    assert_eq!(
        store.refresh_token("hash-2", later).await.unwrap(),
        RefreshUse::Invalid
    );

    let other_family = Uuid::new_v4();
    store
        .insert_refresh_token(&refresh_token(ada.id, other_family, "hash-3"), &audit())
        .await
        .unwrap();
    // A change that ends the user's sessions revokes their refresh tokens with it.
    let sessions_ended = UserChange {
        sessions_valid_after: Some(later),
        ..UserChange::default()
    };
    store
        .update_user(&ada.username, &sessions_ended, &audit())
        .await
        .unwrap();
    assert_eq!(
        store.refresh_token("hash-3", later).await.unwrap(),
        RefreshUse::Invalid
    );
    store.close().await;
}

async fn concurrent_uses_of_one_refresh_token_let_exactly_one_win(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let ada = user("ada");
    store.create_user(&ada, &audit()).await.unwrap();
    store
        .insert_refresh_token(
            &refresh_token(ada.id, Uuid::new_v4(), "contested"),
            &audit(),
        )
        .await
        .unwrap();
    let attempts: Vec<_> = (0..8)
        .map(|attempt| {
            let store = store.clone();
            let next = refresh_token(ada.id, Uuid::new_v4(), &format!("next-{attempt}"));
            tokio::spawn(async move {
                store
                    .rotate_refresh_token("contested", &next, &audit())
                    .await
            })
        })
        .collect();
    let mut rotated = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => rotated += 1,
            Err(StoreError::RefreshTokenSpent) => {}
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!(rotated, 1);
    store.close().await;
}

async fn revoked_access_tokens_are_remembered(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let jti = Uuid::new_v4();
    assert!(!store.access_token_ended(jti, None).await.unwrap());
    store
        .end_session(jti, NOW, None, NOW, &audit())
        .await
        .unwrap();
    store
        .end_session(jti, NOW, None, NOW, &audit())
        .await
        .unwrap();
    assert!(store.access_token_ended(jti, None).await.unwrap());
    assert!(!store
        .access_token_ended(Uuid::new_v4(), None)
        .await
        .unwrap());

    // Entries long past their expiry are dropped as new ones arrive.
    let later = Uuid::new_v4();
    store
        .end_session(later, NOW + Duration::days(2), None, NOW, &audit())
        .await
        .unwrap();
    assert!(store.access_token_ended(later, None).await.unwrap());
    assert!(!store.access_token_ended(jti, None).await.unwrap());
    store.close().await;
}

async fn api_tokens_are_found_by_hash_listed_and_revoked(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    let ada = user("ada");
    let bob = user("bob");
    store.create_user(&ada, &audit()).await.unwrap();
    store.create_user(&bob, &audit()).await.unwrap();
    let token = |owner: &UserRecord, name: &str, hash: &str, age: i64| ApiTokenRecord {
        id: Uuid::new_v4(),
        owner_id: owner.id,
        owner: owner.username.clone(),
        name: TokenName::parse(name).unwrap(),
        token_hash: hash.into(),
        created_at: NOW - Duration::minutes(age),
        expires_at: NOW + Duration::days(90),
        revoked_at: None,
    };
    let older = token(&ada, "ci publish", "h1", 10);
    let newer = token(&ada, "laptop", "h2", 1);
    let bobs = token(&bob, "bob's", "h3", 5);
    for t in [&older, &newer, &bobs] {
        store.create_api_token(t, &audit()).await.unwrap();
    }
    assert_eq!(
        store.api_token_by_hash("h1").await.unwrap(),
        Some(older.clone())
    );
    assert_eq!(store.api_token_by_hash("nope").await.unwrap(), None);
    assert_eq!(
        store.api_tokens(Some(ada.id)).await.unwrap(),
        [newer.clone(), older.clone()]
    );
    assert_eq!(store.api_tokens(None).await.unwrap().len(), 3);

    let revoked = store
        .revoke_api_token(older.id, NOW, &audit())
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW));
    let again = store
        .revoke_api_token(older.id, NOW + Duration::hours(1), &audit())
        .await
        .unwrap();
    assert_eq!(
        again.revoked_at,
        Some(NOW),
        "the first revocation time stays"
    );
    let error = store
        .revoke_api_token(Uuid::new_v4(), NOW, &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::ApiTokenNotFound(_)),
        "{error:?}"
    );
    store.close().await;
}

async fn two_admins_disabling_each_other_leave_one(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open_store().await;
    for name in ["ada", "bob"] {
        let admin = UserRecord {
            global_role: Some(GlobalRole::Admin),
            ..user(name)
        };
        store.create_user(&admin, &audit()).await.unwrap();
    }
    let disable = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    let attempts: Vec<_> = ["ada", "bob"]
        .into_iter()
        .map(|name| {
            let (store, change) = (store.clone(), disable.clone());
            tokio::spawn(async move {
                let name = Username::parse(name).unwrap();
                store
                    .update_user_keeping_an_admin(&name, &change, &audit())
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap());
    }
    let done = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(done, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .any(|outcome| matches!(outcome, Err(StoreError::LastAdmin))));
    let enabled_admins = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.global_role == Some(GlobalRole::Admin) && !u.disabled)
        .count();
    assert_eq!(enabled_admins, 1);
    store.close().await;
}

for_each_store!(
    two_admins_disabling_each_other_leave_one,
    users_are_created_found_and_unique,
    user_changes_touch_only_what_they_name,
    grants_are_per_environment_and_replaceable,
    refresh_tokens_are_single_use_and_replay_is_detected,
    concurrent_uses_of_one_refresh_token_let_exactly_one_win,
    revoked_access_tokens_are_remembered,
    api_tokens_are_found_by_hash_listed_and_revoked,
);
