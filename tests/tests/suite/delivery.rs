//! Signed delivery over HTTP: signing keys and their rotation, on both stores.

use reqwest::Method;
use switchyard_proto::delivery::{SigningKeyInfo, TrustedKeys};
use switchyard_proto::signing::Signed;
use switchyard_proto::AuditPage;
use switchyard_tests::{for_each_store, Backend, TestApp};

async fn key_sets(app: &TestApp, after: u64) -> Vec<Signed> {
    let response = app
        .get(&format!("/api/v1/agent/key-sets?after={after}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn machines_follow_key_rotations_without_enrolling_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // The first start made a key; a machine pins its key set.
    let chain = key_sets(&app, 0).await;
    assert_eq!(chain.len(), 1);
    let mut trusted = TrustedKeys::pin(&chain[0]).unwrap();
    let first = trusted.version();

    let response = app
        .call(Method::POST, "/api/v1/keys/rotate", Some(&admin), None)
        .await;
    assert_eq!(response.status(), 201);
    let new_key: SigningKeyInfo = response.json().await.unwrap();
    assert_eq!(new_key.version, 2);

    let newer = key_sets(&app, first).await;
    assert_eq!(newer.len(), 1);
    let old_key = chain[0].key_id.clone();
    trusted.advance(&newer[0]).unwrap();
    assert!(trusted.key(&new_key.key_id).is_some());
    assert!(
        trusted.key(&old_key).is_none(),
        "the old key is trusted no more"
    );

    let keys: Vec<SigningKeyInfo> = app
        .get_as(&admin, "/api/v1/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys.iter().map(|k| k.version).collect::<Vec<_>>(), [1, 2]);
    let events: AuditPage = app
        .get_as(&admin, "/api/v1/audit?action=signing-key.rotate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events.events.len(), 1);
    assert_eq!(events.events[0].actor, "admin");
    assert_eq!(events.events[0].detail["retired_key_id"], old_key);
}

for_each_store!(machines_follow_key_rotations_without_enrolling_again);
