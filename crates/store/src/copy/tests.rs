use super::*;
use crate::conformance::{cert, device, issuer, rule, thermo};
use crate::postgres::tests::{drop_schemas, fresh_store, test_server};
use crate::{
    CertificateStore, ChainVerifier, NewCertificate, RecordOutcome, RegistryStore, Revocation,
    SecretStore, Store, TaProfile, TeeAttestation, TeeChallenge, TeeDevice, TeeModel, TeeStore,
    TpmBinding,
};

async fn chain<S: Store>(store: &S) -> Vec<crate::AuditEvent> {
    store.audit_events(0, 100_000).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_authority_moves_to_postgres_whole_and_verified() {
    let Some(server) = test_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
    source.register_issuer(&issuer(), "test").await.unwrap();
    thermo(&source, Some(10)).await;
    let batch: Vec<_> = (0..2500).map(|i| cert(&format!("c{i:05}"))).collect();
    source.record_issued(&batch, 7).await.unwrap();
    let devices = vec![(device("d1", "k1"), "test".to_string())];
    source.register_devices(&devices, &rule).await.unwrap();
    source
        .revoke(
            Revocation {
                serial: "c00001",
                reason: "keyCompromise",
                revoked_at: 9,
                actor: "test",
            },
            None,
        )
        .await
        .unwrap();
    source
        .set_est_secret("device", "$argon2id$x", "test", 8)
        .await
        .unwrap();
    source
        .create_admin_token("ab".repeat(32).as_str(), "ops", "test", 8)
        .await
        .unwrap();
    source
        .consume_psk_nonce("p1", "n1", i64::MAX, 1)
        .await
        .unwrap();
    tee_provisioning(&source).await;

    let (target, schema) = fresh_store(&server).await;
    let mut pages = 0;
    let report = copy_to_postgres(&source, &target, |_, _| pages += 1)
        .await
        .unwrap();
    assert!(pages >= 3, "certificates come in pages of {PAGE}");
    let rows = |t: &str| report.tables.iter().find(|c| c.table == t).unwrap().rows;
    assert_eq!(rows("certificates"), 2502);
    assert_eq!(rows("devices"), 1);
    assert_eq!(rows("revocations"), 1);

    // Everything reads back the same, the audit chain byte for byte.
    let events = chain(&target).await;
    assert_eq!(events, chain(&source).await);
    assert_eq!(report.audit_events, events.len() as i64);
    let mut verifier = ChainVerifier::default();
    events.iter().for_each(|e| verifier.push(e).unwrap());
    assert_eq!(report.audit_head, verifier.head());
    for serial in ["pc1", "c00000", "c00001", "c02499"] {
        assert_eq!(
            target.certificate(serial).await.unwrap(),
            source.certificate(serial).await.unwrap()
        );
    }
    assert_eq!(
        target.product("thermo").await.unwrap(),
        source.product("thermo").await.unwrap()
    );
    assert_eq!(target.count_devices("p1").await.unwrap(), 1);
    assert_eq!(
        target.device("d1").await.unwrap(),
        source.device("d1").await.unwrap()
    );
    assert_eq!(target.latest_revocation_seq().await.unwrap(), 1);
    assert_eq!(
        target
            .admin_token(&"ab".repeat(32))
            .await
            .unwrap()
            .as_deref(),
        Some("ops")
    );
    assert!(
        !target
            .consume_psk_nonce("p1", "n1", i64::MAX, 1)
            .await
            .unwrap(),
        "nonces move too"
    );
    for table in [
        "tee_profiles",
        "tee_models",
        "tee_devices",
        "tee_challenges",
        "tee_attestations",
    ] {
        assert_eq!(rows(table), 1, "{table}");
    }
    let versions = target.ta_profile_versions("ta1").await.unwrap();
    assert_eq!(versions, source.ta_profile_versions("ta1").await.unwrap());
    assert_eq!(
        versions[0].sk_csr_sealed,
        [0, 1, 255],
        "sealed bytes as stored"
    );
    assert_eq!(
        target.tee_model("m1").await.unwrap(),
        source.tee_model("m1").await.unwrap()
    );
    assert_eq!(
        target.tee_device("u1").await.unwrap(),
        source.tee_device("u1").await.unwrap()
    );
    let used = target.tee_challenge("tn1").await.unwrap();
    assert_eq!(used, source.tee_challenge("tn1").await.unwrap());
    assert_eq!(used.unwrap().serial.as_deref(), Some("tee1"));
    assert_eq!(
        target.tee_attestation("tee1").await.unwrap(),
        source.tee_attestation("tee1").await.unwrap()
    );
    assert_eq!(
        target.record_issued(&[tee_cert("tee2")], 8).await.unwrap(),
        [RecordOutcome::ActivationUnavailable],
        "a used challenge stays used"
    );
    // The target goes on from where the source stopped.
    target.record_issued(&[cert("after")], 10).await.unwrap();
    let events = chain(&target).await;
    let mut verifier = ChainVerifier::default();
    events.iter().for_each(|e| verifier.push(e).unwrap());

    // A second copy into the now non-empty target is refused and changes nothing.
    let before = chain(&target).await.len();
    let refused = copy_to_postgres(&source, &target, |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused}");
    assert_eq!(chain(&target).await.len(), before);
    drop(target);
    drop_schemas(&server, &[schema]).await;
}

/// A certificate issued on TEE evidence, naming challenge `tn1` of device `u1`.
fn tee_cert(serial: &str) -> NewCertificate {
    NewCertificate {
        tee: Some(TeeAttestation {
            serial: serial.into(),
            uid: "u1".into(),
            model: "m1".into(),
            profile: "ta1".into(),
            version: 1,
            challenge: "tn1".into(),
            key_storage: "software".into(),
            identity: vec![("serial".into(), "SN1".into())],
            checks: vec!["csr-mac".into()],
            verified_at_ms: 7,
        }),
        ..cert(serial)
    }
}

/// A TA profile, a model, a device and a challenge consumed by certificate `tee1`.
async fn tee_provisioning<S: Store>(store: &S) {
    let profile = TaProfile {
        name: "ta1".into(),
        version: 1,
        sk_csr_sealed: vec![0, 1, 255],
        identity_fields: vec!["serial".into()],
        key_algorithm: "p256".into(),
        certificate_profile: "device".into(),
        created_at_ms: 1,
        accepted_until_ms: None,
        revoked_at_ms: None,
    };
    store.create_ta_profile(&profile, "test").await.unwrap();
    let model = TeeModel {
        name: "m1".into(),
        master_sealed: vec![7; 32],
        created_at_ms: 1,
    };
    store.create_tee_model(&model, "test").await.unwrap();
    let device = TeeDevice {
        uid: "u1".into(),
        model: "m1".into(),
        created_at_ms: 1,
        ek_public: Some(vec![3; 90]),
    };
    store.register_tee_device(&device, "test").await.unwrap();
    let challenge = TeeChallenge {
        nonce: "tn1".into(),
        uid: "u1".into(),
        created_at_ms: 1,
        expires_at_ms: 100,
        used_at_ms: None,
        serial: None,
        tpm_key: None,
        tpm_secret_sealed: None,
    };
    store
        .create_tee_challenge(&challenge, "test")
        .await
        .unwrap();
    let binding = TpmBinding {
        nonce: "tn1".into(),
        key_public: vec![4; 88],
        secret_sealed: vec![5; 60],
    };
    let bound = store
        .record_ta_delivery("u1", "p1", 1, Some(&binding), 50, "test")
        .await
        .unwrap();
    assert!(bound);
    let out = store.record_issued(&[tee_cert("tee1")], 7).await.unwrap();
    assert_eq!(out, [RecordOutcome::Recorded]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_source_chain_copies_nothing() {
    let Some(server) = test_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
    source.register_issuer(&issuer(), "test").await.unwrap();
    source
        .record_issued(&[cert("a"), cert("b")], 7)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
        .execute(&source.pool)
        .await
        .unwrap();
    let (target, schema) = fresh_store(&server).await;
    let refused = copy_to_postgres(&source, &target, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("does not verify at event 2"),
        "{refused}"
    );
    assert!(chain(&target).await.is_empty(), "nothing was committed");
    assert!(target.certificate("a").await.unwrap().is_none());
    drop(target);
    drop_schemas(&server, &[schema]).await;
}
