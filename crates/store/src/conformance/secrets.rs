//! Cases of [`crate::SecretStore`].

use std::sync::Arc;

use crate::{Store, StoreError};

pub(super) async fn est_secrets_are_replaced_and_audited<S: Store>(store: Arc<S>) {
    store
        .set_est_secret("device", "phc1", "admin", 1)
        .await
        .unwrap();
    store
        .set_est_secret("device", "phc2", "admin", 2)
        .await
        .unwrap();
    assert_eq!(
        store.est_secret("device").await.unwrap().as_deref(),
        Some("phc2")
    );
    assert_eq!(store.est_secret("none").await.unwrap(), None);
    let kinds: Vec<_> = store
        .audit_events(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["issuer.registered", "est.secret.set", "est.secret.set"]
    );
}

pub(super) async fn admin_tokens_are_found_by_hash_and_unique<S: Store>(store: Arc<S>) {
    store
        .create_admin_token("abcd", "ops", "cli:root", 1)
        .await
        .unwrap();
    assert_eq!(
        store.admin_token("abcd").await.unwrap().as_deref(),
        Some("ops")
    );
    assert!(store.admin_token("ab").await.unwrap().is_none());
    let head = store.audit_events(0, 100).await.unwrap().len();
    assert!(matches!(
        store
            .create_admin_token("abcd", "other", "cli:root", 2)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.audit_events(0, 100).await.unwrap().len(), head);
}

pub(super) async fn a_single_use_admin_token_is_taken_once<S: Store>(store: Arc<S>) {
    store
        .create_admin_token("once", "console-link", "cli:root", 1)
        .await
        .unwrap();
    store
        .create_admin_token("durable", "ops", "cli:root", 1)
        .await
        .unwrap();
    assert!(
        !store
            .take_admin_token("durable", "console-link", "console", 2)
            .await
            .unwrap(),
        "another kind of token is not taken"
    );
    assert!(store.admin_token("durable").await.unwrap().is_some());
    let (first, second) = tokio::join!(
        store.take_admin_token("once", "console-link", "console", 2),
        store.take_admin_token("once", "console-link", "console", 2)
    );
    assert!(
        first.unwrap() ^ second.unwrap(),
        "exactly one of two parallel calls gets it"
    );
    assert!(store.admin_token("once").await.unwrap().is_none());
    assert!(!store
        .take_admin_token("never", "console-link", "console", 3)
        .await
        .unwrap());
    let kinds: Vec<String> = store
        .audit_events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "admin.token.consumed")
            .count(),
        1
    );
}

pub(super) async fn credentials_are_listed_and_revoked_with_an_audit_event<S: Store>(
    store: Arc<S>,
) {
    store
        .set_est_secret("meters", "$argon2id$x", "cli:root", 1)
        .await
        .unwrap();
    store
        .set_est_secret("cameras", "$argon2id$y", "cli:root", 2)
        .await
        .unwrap();
    store
        .create_admin_token("t1", "ops", "cli:root", 3)
        .await
        .unwrap();
    store
        .create_admin_token("t2", "ci", "cli:root", 4)
        .await
        .unwrap();
    let labels: Vec<String> = store
        .est_secrets()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.label)
        .collect();
    assert_eq!(labels, ["cameras", "meters"]);
    let tokens = store.admin_tokens().await.unwrap();
    assert_eq!(tokens[0].name, "ci", "newest first");
    assert_eq!(tokens[1].id, "t1");

    let head = store.audit_events(0, 100).await.unwrap().len();
    assert!(store
        .revoke_est_secret("meters", "console:token:ops", 5)
        .await
        .unwrap());
    assert!(store.est_secret("meters").await.unwrap().is_none());
    assert!(!store
        .revoke_est_secret("meters", "console:token:ops", 6)
        .await
        .unwrap());
    assert_eq!(
        store
            .revoke_admin_token("t2", "cli:root", 7)
            .await
            .unwrap()
            .as_deref(),
        Some("ci")
    );
    assert!(store.admin_token("t2").await.unwrap().is_none());
    assert!(store
        .revoke_admin_token("t2", "cli:root", 8)
        .await
        .unwrap()
        .is_none());
    let events = store.audit_events(0, 100).await.unwrap();
    let kinds: Vec<&str> = events[head..].iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["est.secret.revoked", "admin.token.revoked"],
        "only what changed"
    );
}
