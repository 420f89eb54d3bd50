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
