use super::*;
use crate::ChainVerifier;

fn cert(serial: &str) -> NewCertificate {
    NewCertificate {
        serial: serial.into(),
        issuer_id: "issuer".into(),
        subject: "CN=x".into(),
        sans: vec!["DNS:x.example".into()],
        spki_sha256: "00".into(),
        not_before: 1,
        not_after: 2,
        profile: "device".into(),
        method: "admin".into(),
        evidence: serde_json::json!({"k": "v"}),
        der: vec![1, 2, 3],
        actor: "test".into(),
        bootstrap_serial: None,
        tpm: None,
        device_id: None,
    }
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    store
        .register_issuer(
            &IssuerRecord {
                id: "issuer".into(),
                role: "issuing".into(),
                subject: "CN=ca".into(),
                not_after: 10,
                der: vec![9],
                created_at_ms: 5,
            },
            "test",
        )
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_batch_is_recorded_with_chained_audit_events() {
    let (_dir, store) = store().await;
    let out = store
        .record_issued(&[cert("a1"), cert("b2")], 100)
        .await
        .unwrap();
    assert_eq!(out, vec![RecordOutcome::Recorded, RecordOutcome::Recorded]);
    let got = store.certificate("a1").await.unwrap().unwrap();
    assert_eq!(got.sans, vec!["DNS:x.example".to_string()]);
    assert_eq!(got.status, CertificateStatus::Valid);
    let events = store.audit_events(0, 100).await.unwrap();
    assert_eq!(events.len(), 3);
    let mut v = ChainVerifier::default();
    for e in &events {
        v.push(e).unwrap();
    }
    assert_eq!(events[got.audit_seq as usize - 1].subject, "a1");
}

#[tokio::test]
async fn a_duplicate_serial_is_skipped_not_fatal() {
    let (_dir, store) = store().await;
    store.record_issued(&[cert("a1")], 100).await.unwrap();
    let out = store
        .record_issued(&[cert("a1"), cert("c3")], 101)
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![RecordOutcome::DuplicateSerial, RecordOutcome::Recorded]
    );
    assert_eq!(
        store
            .list_certificates(&CertificateQuery::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn est_secrets_are_replaced_and_audited() {
    let (_dir, store) = store().await;
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

#[tokio::test]
async fn reopening_keeps_data_and_two_handles_share_the_chain() {
    let (dir, store) = store().await;
    let other = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    store.record_issued(&[cert("a1")], 1).await.unwrap();
    other.record_issued(&[cert("b1")], 2).await.unwrap();
    store.record_issued(&[cert("c1")], 3).await.unwrap();
    let mut v = ChainVerifier::default();
    for e in &store.audit_events(0, 100).await.unwrap() {
        v.push(e).unwrap();
    }
    assert_eq!(v.verified(), 4);
}

#[tokio::test]
async fn revocation_is_idempotent_audited_and_fed() {
    let (_dir, store) = store().await;
    store.record_issued(&[cert("a1")], 1).await.unwrap();
    let first = store
        .revoke("a1", "keyCompromise", 100, "admin", false)
        .await
        .unwrap();
    let RevokeOutcome::Revoked(rec) = first.outcome else {
        panic!("{first:?}")
    };
    assert_eq!(
        (rec.seq, rec.revoked_at, rec.reason.as_str()),
        (1, 100, "keyCompromise")
    );
    let again = store
        .revoke("a1", "superseded", 200, "admin", false)
        .await
        .unwrap();
    assert_eq!(again.outcome, RevokeOutcome::AlreadyRevoked(rec.clone()));
    assert_eq!(
        store
            .revoke("zz", "unspecified", 1, "a", false)
            .await
            .unwrap()
            .outcome,
        RevokeOutcome::NotFound
    );
    assert_eq!(store.revocations_since(0, 10).await.unwrap(), vec![rec]);
    let row = store.certificate("a1").await.unwrap().unwrap();
    assert_eq!(row.status, CertificateStatus::Revoked);
    assert_eq!(row.revocation_reason.as_deref(), Some("keyCompromise"));
    assert_eq!(store.revoked_entries("issuer", 0).await.unwrap().len(), 1);
    assert!(
        store.revoked_entries("issuer", 5).await.unwrap().is_empty(),
        "expired entries drop out"
    );
    let mut v = ChainVerifier::default();
    for e in &store.audit_events(0, 100).await.unwrap() {
        v.push(e).unwrap();
    }
}

#[tokio::test]
async fn cascade_follows_bootstrap_links_only_when_asked() {
    let (_dir, store) = store().await;
    let mut child = cert("c1");
    child.bootstrap_serial = Some("p1".into());
    let mut grandchild = cert("g1");
    grandchild.bootstrap_serial = Some("c1".into());
    store
        .record_issued(&[cert("p1"), child, grandchild], 1)
        .await
        .unwrap();
    let plain = store
        .revoke("p1", "cessationOfOperation", 10, "a", false)
        .await
        .unwrap();
    assert!(plain.cascaded.is_empty());
    assert_eq!(
        store.certificate("c1").await.unwrap().unwrap().status,
        CertificateStatus::Valid
    );

    let mut child2 = cert("c2");
    child2.bootstrap_serial = Some("p2".into());
    store.record_issued(&[cert("p2"), child2], 2).await.unwrap();
    let all = store
        .revoke("p2", "cessationOfOperation", 11, "a", true)
        .await
        .unwrap();
    assert_eq!(all.cascaded.len(), 1);
    assert_eq!(
        store.certificate("c2").await.unwrap().unwrap().status,
        CertificateStatus::Revoked
    );
}

#[tokio::test]
async fn crl_numbers_only_go_up() {
    let (_dir, store) = store().await;
    let crl = |n| CrlRecord {
        issuer_id: "issuer".into(),
        number: n,
        this_update: 1,
        next_update: 2,
        der: vec![n as u8],
    };
    assert!(store.save_crl(&crl(2)).await.unwrap());
    assert!(!store.save_crl(&crl(1)).await.unwrap());
    assert!(store.save_crl(&crl(3)).await.unwrap());
    assert_eq!(store.crl("issuer").await.unwrap().unwrap().number, 3);
}

fn activation(id: &str, expires_at_ms: i64) -> TpmActivation {
    TpmActivation {
        id: id.into(),
        ek_cert_sha256: None,
        ek_issuer: None,
        ek_public_sha256: "ee".into(),
        ak_name: "000b11".into(),
        ak_public: vec![1, 2],
        secret_sha256: "ss".into(),
        nonce: vec![7; 32],
        created_at_ms: 50,
        expires_at_ms,
        used_at_ms: None,
        serial: None,
    }
}

fn tpm_cert(serial: &str, activation_id: &str) -> NewCertificate {
    NewCertificate {
        method: "tpm2".into(),
        tpm: Some(TpmAttestation {
            serial: serial.into(),
            activation_id: activation_id.into(),
            ek_cert_sha256: None,
            ek_issuer: None,
            ek_public_sha256: "ee".into(),
            ak_name: "000b11".into(),
            key_name: "000b22".into(),
            checks: vec!["ek-chain".into()],
            verified_at_ms: 100,
        }),
        ..cert(serial)
    }
}

#[tokio::test]
async fn a_tpm_activation_is_consumed_once_with_its_certificate() {
    let (_dir, store) = store().await;
    store
        .create_tpm_activation(&activation("act1", 1_000), "test")
        .await
        .unwrap();
    store
        .create_tpm_activation(&activation("act2", 90), "test")
        .await
        .unwrap();
    let out = store
        .record_issued(&[tpm_cert("a1", "act1"), tpm_cert("b2", "act1")], 100)
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            RecordOutcome::Recorded,
            RecordOutcome::ActivationUnavailable
        ]
    );
    assert!(store.certificate("b2").await.unwrap().is_none());
    // A later enrollment with the same activation is refused too, and an expired one.
    let out = store
        .record_issued(&[tpm_cert("c3", "act1")], 101)
        .await
        .unwrap();
    assert_eq!(out, vec![RecordOutcome::ActivationUnavailable]);
    let out = store
        .record_issued(&[tpm_cert("d4", "act2")], 101)
        .await
        .unwrap();
    assert_eq!(out, vec![RecordOutcome::ActivationUnavailable]);

    let used = store.tpm_activation("act1").await.unwrap().unwrap();
    assert_eq!(
        (used.used_at_ms, used.serial.as_deref()),
        (Some(100), Some("a1"))
    );
    assert!(store
        .tpm_activation("act2")
        .await
        .unwrap()
        .unwrap()
        .used_at_ms
        .is_none());
    let evidence = store.tpm_attestation("a1").await.unwrap().unwrap();
    assert_eq!(evidence.key_name, "000b22");
    assert!(store.tpm_attestation("c3").await.unwrap().is_none());

    let events = store.audit_events(0, 100).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds[1..],
        [
            "tpm.activation.created",
            "tpm.activation.created",
            "certificate.issued",
            "tpm.activation.used"
        ]
    );
    let mut v = ChainVerifier::default();
    for e in &events {
        v.push(e).unwrap();
    }
}

fn device(id: &str, key: &str) -> DeviceRecord {
    DeviceRecord {
        id: id.into(),
        product_id: "p1".into(),
        attributes: serde_json::json!({}),
        spki_sha256: key.into(),
        registration_id: None,
        status: "active".into(),
        created_at_ms: 1,
        last_seen_ms: 1,
    }
}

#[tokio::test]
async fn a_registration_batch_applies_the_cap_and_key_rules_in_order() {
    let (_dir, store) = store().await;
    assert!(store
        .create_product(
            &ProductRecord {
                id: "p1".into(),
                name: "thermo".into(),
                attributes: vec![],
                max_devices: Some(2),
                device_validity_secs: 60,
                status: "active".into(),
                cert_serial: None,
                psk: false,
                created_at_ms: 1,
            },
            &cert("pc1"),
            None,
            "test",
        )
        .await
        .unwrap());
    let actor = "product:p1".to_string();
    let outcomes = store
        .register_devices(&[
            (device("d1", "k1"), actor.clone()),
            (device("d1b", "k1"), actor.clone()),
            (device("d2", "k2"), actor.clone()),
            (device("d3", "k3"), actor.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes[0], RegisterOutcome::Registered(device("d1", "k1")));
    // The same key again in the same batch is the same device, not a second one.
    assert_eq!(outcomes[1], RegisterOutcome::Existing(device("d1", "k1")));
    assert!(matches!(outcomes[2], RegisterOutcome::Registered(_)));
    assert_eq!(outcomes[3], RegisterOutcome::CapReached(2));
    assert_eq!(store.devices(Some("p1"), 10).await.unwrap().len(), 2);
    // A disabled device's key is refused, not re-registered.
    assert!(store
        .set_device_status("d1", "disabled", "test", 2)
        .await
        .unwrap());
    assert_eq!(
        store
            .register_device(&device("d9", "k1"), &actor)
            .await
            .unwrap(),
        RegisterOutcome::DeviceDisabled
    );
}

fn product(id: &str, name: &str) -> ProductRecord {
    ProductRecord {
        id: id.into(),
        name: name.into(),
        attributes: vec![],
        max_devices: None,
        device_validity_secs: 60,
        status: "active".into(),
        cert_serial: None,
        psk: false,
        created_at_ms: 1,
    }
}

#[tokio::test]
async fn a_product_comes_with_its_cert_and_psk_key_in_one_transaction() {
    let (_dir, store) = store().await;
    assert!(store
        .create_product(&product("p1", "thermo"), &cert("pc1"), Some("00ff"), "t")
        .await
        .unwrap());
    let stored = store.product("thermo").await.unwrap().unwrap();
    assert_eq!(stored.cert_serial.as_deref(), Some("pc1"));
    assert!(stored.psk);
    assert_eq!(
        store.product_psk_key("p1").await.unwrap().as_deref(),
        Some("00ff")
    );
    assert!(store.certificate("pc1").await.unwrap().is_some());
    let kinds: Vec<String> = store
        .audit_events(1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "product.created",
            "certificate.issued",
            "product.psk-enabled"
        ]
    );
}

#[tokio::test]
async fn a_refused_product_writes_nothing() {
    let (_dir, store) = store().await;
    assert!(store
        .create_product(&product("p1", "thermo"), &cert("pc1"), None, "t")
        .await
        .unwrap());
    let head = store.audit_events(0, 100).await.unwrap().len();
    // The name is taken; so is an existing product's id used as a name.
    assert!(!store
        .create_product(&product("p2", "thermo"), &cert("pc2"), None, "t")
        .await
        .unwrap());
    assert!(!store
        .create_product(&product("p3", "p1"), &cert("pc3"), None, "t")
        .await
        .unwrap());
    // A serial that is taken rolls the product back with it.
    assert!(store
        .create_product(&product("p4", "meter"), &cert("pc1"), None, "t")
        .await
        .is_err());
    assert_eq!(store.products().await.unwrap().len(), 1);
    assert!(store.certificate("pc2").await.unwrap().is_none());
    assert!(store.certificate("pc3").await.unwrap().is_none());
    assert_eq!(store.audit_events(0, 100).await.unwrap().len(), head);
}
