use super::*;

#[test]
fn secrets_are_long_and_distinct() {
    let a = generate_secret();
    assert_eq!(a.len(), 43);
    assert_ne!(a, generate_secret());
}

#[tokio::test]
async fn only_the_current_secret_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        inkan_store::SqliteStore::open(&tmp.path().join("t.db"))
            .await
            .unwrap(),
    );
    let secret = generate_secret();
    store
        .set_est_secret("device", &hash_secret(&secret).unwrap(), "t", 1)
        .await
        .unwrap();
    let v = SecretVerifier::new(store.clone());
    assert!(v.verify("device", &secret).await.unwrap());
    assert!(v.verify("device", &secret).await.unwrap(), "cached path");
    assert!(!v.verify("device", "wrong").await.unwrap());
    assert!(!v.verify("other", &secret).await.unwrap());
}
