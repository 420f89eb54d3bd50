use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::{CertificateStore, ChainVerifier, NewCertificate};

/// The conformance suite against SQLite: one fresh database file per case.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    crate::conformance::run(|| {
        let path = dir
            .path()
            .join(format!("{}.db", n.fetch_add(1, Ordering::Relaxed)));
        async move { SqliteStore::open(&path).await.unwrap() }
    })
    .await;
}

fn cert(serial: &str) -> NewCertificate {
    NewCertificate {
        serial: serial.into(),
        issuer_id: "issuer".into(),
        subject: "CN=x".into(),
        sans: vec![],
        spki_sha256: "00".into(),
        not_before: 1,
        not_after: 2,
        profile: "device".into(),
        method: "admin".into(),
        evidence: serde_json::json!({}),
        der: vec![1],
        actor: "test".into(),
        bootstrap_serial: None,
        approval: None,
        tpm: None,
        tee: None,
        device_id: None,
        level: None,
    }
}

#[tokio::test]
async fn reopening_keeps_data_and_two_handles_share_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let other = SqliteStore::open(&path).await.unwrap();
    let issuer = crate::IssuerRecord {
        id: "issuer".into(),
        role: "issuing".into(),
        subject: "CN=ca".into(),
        not_after: 10,
        der: vec![9],
        created_at_ms: 5,
    };
    store.register_issuer(&issuer, "test").await.unwrap();
    store.record_issued(&[cert("a1")], 1).await.unwrap();
    other.record_issued(&[cert("b1")], 2).await.unwrap();
    store.record_issued(&[cert("c1")], 3).await.unwrap();
    let mut v = ChainVerifier::default();
    for e in &crate::AuditStore::audit_events(&store, 0, 100)
        .await
        .unwrap()
    {
        v.push(e).unwrap();
    }
    assert_eq!(v.verified(), 4);
}

#[tokio::test]
async fn an_unknown_stored_status_is_corrupt_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    // The schema's CHECK keeps such rows out; a restored or hand-edited file may not.
    sqlx::query(
        "INSERT INTO issuers (id, role, subject, not_after, der, created_at)
         VALUES ('i', 'issuing', 'CN=ca', 1, x'00', 1)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let mut conn = store.pool.acquire().await.unwrap();
    sqlx::query("PRAGMA ignore_check_constraints = ON")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO certificates (serial, issuer_id, subject, sans, spki_sha256, not_before,
            not_after, profile, method, evidence, status, der, created_at, audit_seq)
         VALUES ('a1', 'i', 'CN=x', '[]', '00', 1, 2, 'device', 'admin', '{}', 'suspended', x'00', 1, 1)",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    assert!(matches!(
        store.certificate("a1").await,
        Err(StoreError::Corrupt(_))
    ));
}
