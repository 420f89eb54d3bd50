//! Cases of [`crate::TpmStore`] (and TPM evidence recorded with certificates).

use std::sync::Arc;

use super::cert;
use crate::{NewCertificate, RecordOutcome, Store, TpmActivation, TpmAttestation};

pub(super) fn activation(id: &str, expires_at_ms: i64) -> TpmActivation {
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

pub(super) fn tpm_cert(serial: &str, activation_id: &str) -> NewCertificate {
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

pub(super) async fn a_tpm_activation_is_consumed_once_with_its_certificate<S: Store>(
    store: Arc<S>,
) {
    store
        .create_tpm_activation(&activation("act1", 1_000), "test")
        .await
        .unwrap();
    store
        .create_tpm_activation(&activation("act2", 90), "test")
        .await
        .unwrap();
    assert_eq!(
        store.tpm_activation("act2").await.unwrap(),
        Some(activation("act2", 90))
    );
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
    assert_eq!(evidence.checks, ["ek-chain"]);
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
}

pub(super) async fn parallel_enrollments_share_no_activation<S: Store>(store: Arc<S>) {
    store
        .create_tpm_activation(&activation("act1", 1_000), "test")
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_issued(&[tpm_cert(&format!("s{i}"), "act1")], 100)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut recorded = 0;
    for task in tasks {
        if task.await.unwrap() == [RecordOutcome::Recorded] {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
}

pub(super) async fn outstanding_activations_are_counted_and_expired_ones_purged<S: Store>(
    store: Arc<S>,
) {
    store
        .create_tpm_activation(&activation("p1", 1_000), "test")
        .await
        .unwrap();
    store
        .create_tpm_activation(&activation("p2", 90), "test")
        .await
        .unwrap();
    store
        .create_tpm_activation(&activation("p3", 1_000), "test")
        .await
        .unwrap();
    store
        .record_issued(&[tpm_cert("q1", "p3")], 50)
        .await
        .unwrap();
    // p1 counts; p2 expired; p3 is used.
    assert_eq!(
        store.outstanding_tpm_activations("ee", 100).await.unwrap(),
        1
    );
    assert_eq!(
        store.outstanding_tpm_activations("ff", 100).await.unwrap(),
        0
    );
    assert_eq!(store.purge_tpm_activations(100, "system").await.unwrap(), 1);
    assert!(store.tpm_activation("p2").await.unwrap().is_none());
    assert!(store.tpm_activation("p3").await.unwrap().is_some());
    assert_eq!(store.purge_tpm_activations(100, "system").await.unwrap(), 0);
    let events = store.audit_events(0, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "tpm.activations.purged")
            .count(),
        1
    );
}
