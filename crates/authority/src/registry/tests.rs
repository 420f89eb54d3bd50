use inkan_store::{CertificateStore, NewCertificate, RegistryStore, SqliteStore};

use super::*;

async fn registry() -> (tempfile::TempDir, Registry) {
    let tmp = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&tmp.path().join("t.db")).await.unwrap();
    let issuer = inkan_store::IssuerRecord {
        id: "issuer".into(),
        role: "issuing".into(),
        subject: "CN=ca".into(),
        not_after: 10,
        der: vec![9],
        created_at_ms: 5,
    };
    store.register_issuer(&issuer, "t").await.unwrap();
    let product = ProductRecord {
        id: "p1".into(),
        name: "thermo".into(),
        attributes: vec![],
        max_devices: None,
        device_validity_secs: 60,
        status: ProductStatus::Active,
        cert_serial: None,
        psk: false,
        created_at_ms: 1,
    };
    let cert = NewCertificate {
        serial: "pc1".into(),
        issuer_id: "issuer".into(),
        subject: "CN=p".into(),
        sans: vec![],
        spki_sha256: "00".into(),
        not_before: 1,
        not_after: 2,
        profile: "product".into(),
        method: "admin".into(),
        evidence: serde_json::json!({}),
        der: vec![1],
        actor: "t".into(),
        bootstrap_serial: None,
        approval: None,
        device_id: None,
        level: None,
        tpm: None,
        tee: None,
    };
    assert!(store
        .create_product(&product, &cert, None, "t")
        .await
        .unwrap());
    (tmp, Registry::new(Arc::new(store)))
}

#[tokio::test]
async fn status_changes_say_whether_anything_changed_and_miss_unknown_ids() {
    let (_tmp, registry) = registry().await;
    let (product, changed) = registry
        .set_product_status("thermo", ProductStatus::Disabled, "t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((product.status, changed), (ProductStatus::Disabled, true));
    let (_, changed) = registry
        .set_product_status("p1", ProductStatus::Disabled, "t")
        .await
        .unwrap()
        .unwrap();
    assert!(!changed);
    assert!(registry
        .set_product_status("nope", ProductStatus::Active, "t")
        .await
        .unwrap()
        .is_none());
    assert!(registry
        .set_device_status("nope", DeviceStatus::Disabled, "t")
        .await
        .unwrap()
        .is_none());
    assert_eq!(registry.count_devices("p1").await.unwrap(), 0);
}

#[tokio::test]
async fn psk_keys_rotate_and_derive_per_registration_id() {
    let (_tmp, registry) = registry().await;
    let product = registry.product("thermo").await.unwrap().unwrap();
    assert!(matches!(
        registry.psk_device_key(&product, "unit-1").await,
        Err(AuthorityError::Rejected(Rejection::NoPskKey { .. }))
    ));
    let first = registry.enable_psk(&product, "t").await.unwrap();
    let key = registry.psk_device_key(&product, "unit-1").await.unwrap();
    assert_eq!(
        key,
        derive_device_key(&hex::decode(&first).unwrap(), "unit-1")
    );
    let second = registry.enable_psk(&product, "t").await.unwrap();
    assert_ne!(first, second);
    assert_ne!(
        registry.psk_device_key(&product, "unit-1").await.unwrap(),
        key
    );
    registry.disable_psk(&product, "t").await.unwrap();
    assert!(registry.psk_group_key(&product).await.unwrap().is_none());
}
