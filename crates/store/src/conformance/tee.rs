//! Cases of [`crate::TeeStore`] (and TEE evidence recorded with certificates).

use std::sync::Arc;

use super::tpm::{activation, tpm_cert};
use super::{cert, verify_chain};
use crate::{
    AuditEvent, NewCertificate, RecordOutcome, Store, StoreError, TaProfile, TeeAttestation,
    TeeChallenge, TeeDevice, TeeModel, TpmBinding,
};

/// Sealed bytes no audit event may carry (hex `5ea1ed00ff`).
const SEALED: [u8; 5] = [0x5e, 0xa1, 0xed, 0x00, 0xff];

fn profile(name: &str, version: i64, created_at_ms: i64) -> TaProfile {
    let mut sk_csr_sealed = SEALED.to_vec();
    sk_csr_sealed.push(u8::try_from(version).unwrap());
    TaProfile {
        name: name.into(),
        version,
        sk_csr_sealed,
        identity_fields: vec!["serial".into(), "mac".into()],
        key_algorithm: "p256".into(),
        certificate_profile: "device".into(),
        created_at_ms,
        accepted_until_ms: None,
        revoked_at_ms: None,
    }
}

fn model(name: &str) -> TeeModel {
    TeeModel {
        name: name.into(),
        master_sealed: SEALED.iter().rev().copied().collect(),
        created_at_ms: 10,
    }
}

fn tee_device(uid: &str, model: &str) -> TeeDevice {
    TeeDevice {
        uid: uid.into(),
        model: model.into(),
        created_at_ms: 20,
        ek_public: None,
    }
}

fn challenge(nonce: &str, uid: &str, expires_at_ms: i64) -> TeeChallenge {
    TeeChallenge {
        nonce: nonce.into(),
        uid: uid.into(),
        created_at_ms: 50,
        expires_at_ms,
        used_at_ms: None,
        serial: None,
        tpm_key: None,
        tpm_secret_sealed: None,
    }
}

/// TEE evidence as the authority hands it over: the serial is left for the store to fill.
fn evidence(nonce: &str, uid: &str) -> TeeAttestation {
    TeeAttestation {
        serial: String::new(),
        uid: uid.into(),
        model: "m1".into(),
        profile: "ta1".into(),
        version: 1,
        challenge: nonce.into(),
        key_storage: "software".into(),
        identity: vec![
            ("serial".into(), "SN1".into()),
            ("mac".into(), "aa:bb".into()),
        ],
        checks: vec!["csr-mac".into(), "challenge".into()],
        verified_at_ms: 100,
    }
}

fn tee_cert(serial: &str, nonce: &str, uid: &str) -> NewCertificate {
    NewCertificate {
        method: "tee".into(),
        tee: Some(evidence(nonce, uid)),
        ..cert(serial)
    }
}

/// Model `m1` with devices `u1` and `u2`.
async fn devices<S: Store>(store: &S) {
    store.create_tee_model(&model("m1"), "test").await.unwrap();
    for uid in ["u1", "u2"] {
        store
            .register_tee_device(&tee_device(uid, "m1"), "test")
            .await
            .unwrap();
    }
}

async fn kinds_after<S: Store>(store: &S, after: i64) -> Vec<String> {
    let events = store.audit_events(after, 1000).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

/// No event carries the sealed bytes, in hex or as a JSON array.
fn assert_no_sealed_bytes(events: &[AuditEvent]) {
    let hex = hex::encode(SEALED);
    let reversed: Vec<u8> = SEALED.iter().rev().copied().collect();
    let forms = [
        hex.clone(),
        hex::encode(&reversed),
        serde_json::to_string(&SEALED)
            .unwrap()
            .trim_end_matches(']')
            .to_string(),
        serde_json::to_string(&reversed)
            .unwrap()
            .trim_end_matches(']')
            .to_string(),
    ];
    for event in events {
        for form in &forms {
            assert!(
                !event.data.to_lowercase().contains(form.as_str()),
                "{} carries sealed bytes: {}",
                event.kind,
                event.data
            );
        }
    }
}

pub(super) async fn ta_profiles_are_versioned_rotated_and_revoked<S: Store>(store: Arc<S>) {
    let v1 = profile("ta1", 1, 100);
    store.create_ta_profile(&v1, "admin").await.unwrap();
    store
        .create_ta_profile(&profile("ta0", 1, 90), "admin")
        .await
        .unwrap();
    // Stored as given, sealed bytes exactly, as the newest version.
    assert_eq!(
        store.ta_profile_versions("ta1").await.unwrap(),
        std::slice::from_ref(&v1)
    );
    assert!(store.ta_profile_versions("none").await.unwrap().is_empty());

    // A second version 1 of a name is a conflict, and writes nothing.
    let head = store.audit_events(0, 1000).await.unwrap().len();
    let err = store
        .create_ta_profile(&profile("ta1", 1, 101), "admin")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("ta1")),
        "{err}"
    );
    assert_eq!(store.audit_events(0, 1000).await.unwrap().len(), head);

    // A rotation adds version 2 and ends version 1's acceptance at the grace end.
    let v2 = profile("ta1", 2, 200);
    store.rotate_ta_profile(&v2, 500, "admin").await.unwrap();
    let versions = store.ta_profile_versions("ta1").await.unwrap();
    assert_eq!(
        versions,
        [
            TaProfile {
                accepted_until_ms: Some(500),
                ..v1.clone()
            },
            v2.clone()
        ]
    );
    assert_eq!(versions[1].sk_csr_sealed, [0x5e, 0xa1, 0xed, 0x00, 0xff, 2]);

    // A rotation that lost the race (stale version) or skips one is a conflict.
    for version in [2, 4] {
        let err = store
            .rotate_ta_profile(&profile("ta1", version, 300), 600, "admin")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains("ta1")),
            "{err}"
        );
    }
    let err = store
        .rotate_ta_profile(&profile("none", 2, 300), 600, "admin")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("none")),
        "{err}"
    );

    // A later rotation ends version 2's acceptance, and never extends version 1's.
    store
        .rotate_ta_profile(&profile("ta1", 3, 300), 900, "admin")
        .await
        .unwrap();
    let accepted: Vec<_> = store
        .ta_profile_versions("ta1")
        .await
        .unwrap()
        .iter()
        .map(|p| (p.version, p.accepted_until_ms))
        .collect();
    assert_eq!(accepted, [(1, Some(500)), (2, Some(900)), (3, None)]);
    let all: Vec<_> = store
        .ta_profiles()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect();
    assert_eq!(
        all,
        [
            ("ta0".to_string(), 1),
            ("ta1".to_string(), 1),
            ("ta1".to_string(), 2),
            ("ta1".to_string(), 3)
        ]
    );

    // Revocation covers every version, once.
    assert!(store.revoke_ta_profile("ta1", 700, "admin").await.unwrap());
    assert!(store
        .ta_profile_versions("ta1")
        .await
        .unwrap()
        .iter()
        .all(|p| p.revoked_at_ms == Some(700)));
    assert!(!store.revoke_ta_profile("ta1", 800, "admin").await.unwrap());
    assert!(!store.revoke_ta_profile("none", 800, "admin").await.unwrap());
    assert_eq!(
        store.ta_profile_versions("ta0").await.unwrap()[0].revoked_at_ms,
        None
    );
    let err = store
        .rotate_ta_profile(&profile("ta1", 4, 800), 900, "admin")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("ta1")),
        "{err}"
    );
    assert_eq!(store.ta_profile_versions("ta1").await.unwrap().len(), 3);

    assert_eq!(
        kinds_after(&*store, 1).await,
        [
            "tee.profile.created",
            "tee.profile.created",
            "tee.profile.rotated",
            "tee.profile.rotated",
            "tee.profile.revoked"
        ]
    );
    assert_no_sealed_bytes(&store.audit_events(0, 1000).await.unwrap());
}

pub(super) async fn tee_models_and_devices_register_once<S: Store>(store: Arc<S>) {
    store.create_tee_model(&model("m1"), "admin").await.unwrap();
    assert_eq!(store.tee_model("m1").await.unwrap(), Some(model("m1")));
    assert!(store.tee_model("m2").await.unwrap().is_none());
    let err = store
        .create_tee_model(
            &TeeModel {
                master_sealed: vec![1],
                ..model("m1")
            },
            "admin",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("m1")),
        "{err}"
    );
    assert_eq!(
        store.tee_model("m1").await.unwrap().unwrap().master_sealed,
        model("m1").master_sealed
    );

    store
        .register_tee_device(&tee_device("u1", "m1"), "maker")
        .await
        .unwrap();
    assert_eq!(
        store.tee_device("u1").await.unwrap(),
        Some(tee_device("u1", "m1"))
    );
    assert!(store.tee_device("u2").await.unwrap().is_none());
    let head = store.audit_events(0, 1000).await.unwrap().len();
    let err = store
        .register_tee_device(&tee_device("u1", "m1"), "maker")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("u1")),
        "{err}"
    );
    let err = store
        .register_tee_device(&tee_device("u2", "m9"), "maker")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("m9")),
        "{err}"
    );
    assert!(store.tee_device("u2").await.unwrap().is_none());
    assert_eq!(store.audit_events(0, 1000).await.unwrap().len(), head);

    // A challenge needs a registered device.
    let err = store
        .create_tee_challenge(&challenge("n1", "u9", 1_000), "test")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound(m) if m.contains("u9")),
        "{err}"
    );
    assert!(store.tee_challenge("n1").await.unwrap().is_none());

    assert_eq!(
        kinds_after(&*store, 1).await,
        ["tee.model.created", "tee.device.registered"]
    );
    assert_no_sealed_bytes(&store.audit_events(0, 1000).await.unwrap());
}

pub(super) async fn a_tee_challenge_is_consumed_once_with_its_certificate<S: Store>(store: Arc<S>) {
    devices(&*store).await;
    for c in [
        challenge("n1", "u1", 1_000),
        challenge("n2", "u1", 90),
        challenge("n3", "u2", 1_000),
    ] {
        store.create_tee_challenge(&c, "test").await.unwrap();
    }
    assert_eq!(
        store.tee_challenge("n2").await.unwrap(),
        Some(challenge("n2", "u1", 90))
    );
    let err = store
        .create_tee_challenge(&challenge("n2", "u1", 90), "test")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let head = store
        .audit_events(0, 1000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .seq;

    let out = store
        .record_issued(
            &[tee_cert("a1", "n1", "u1"), tee_cert("b2", "n1", "u1")],
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            RecordOutcome::Recorded,
            RecordOutcome::ActivationUnavailable
        ]
    );
    assert!(store.certificate("b2").await.unwrap().is_none());
    // Refused later too; an expired challenge, another device's and an unknown one likewise.
    for (serial, nonce) in [("c3", "n1"), ("d4", "n2"), ("e5", "n3"), ("f6", "n9")] {
        let out = store
            .record_issued(&[tee_cert(serial, nonce, "u1")], 101)
            .await
            .unwrap();
        assert_eq!(out, [RecordOutcome::ActivationUnavailable], "{serial}");
        assert!(store.certificate(serial).await.unwrap().is_none());
        assert!(store.tee_attestation(serial).await.unwrap().is_none());
    }

    let used = store.tee_challenge("n1").await.unwrap().unwrap();
    assert_eq!(
        (used.used_at_ms, used.serial.as_deref()),
        (Some(100), Some("a1"))
    );
    for nonce in ["n2", "n3"] {
        let unused = store.tee_challenge(nonce).await.unwrap().unwrap();
        assert_eq!((unused.used_at_ms, unused.serial), (None, None), "{nonce}");
    }
    assert_eq!(
        store.tee_attestation("a1").await.unwrap(),
        Some(TeeAttestation {
            serial: "a1".into(),
            ..evidence("n1", "u1")
        })
    );

    // A certificate naming a TPM activation and a TEE challenge takes both or neither.
    store
        .create_tpm_activation(&activation("act1", 1_000), "test")
        .await
        .unwrap();
    let both = |serial: &str, uid: &str| NewCertificate {
        tee: Some(evidence("n3", uid)),
        ..tpm_cert(serial, "act1")
    };
    let out = store.record_issued(&[both("g7", "u1")], 102).await.unwrap();
    assert_eq!(out, [RecordOutcome::ActivationUnavailable]);
    let activation = store.tpm_activation("act1").await.unwrap().unwrap();
    assert_eq!(
        activation.used_at_ms, None,
        "the TPM activation is left unused"
    );
    let out = store.record_issued(&[both("h8", "u2")], 103).await.unwrap();
    assert_eq!(out, [RecordOutcome::Recorded]);
    let activation = store.tpm_activation("act1").await.unwrap().unwrap();
    assert_eq!(activation.serial.as_deref(), Some("h8"));
    let used = store.tee_challenge("n3").await.unwrap().unwrap();
    assert_eq!(used.serial.as_deref(), Some("h8"));
    assert_eq!(
        store.tee_attestation("h8").await.unwrap().unwrap().uid,
        "u2"
    );

    let events = store.audit_events(head, 1000).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "certificate.issued",
            "tee.challenge.used",
            "tpm.activation.created",
            "certificate.issued",
            "tpm.activation.used",
            "tee.challenge.used"
        ]
    );
    assert_eq!((events[1].subject.as_str(), events[1].at_ms), ("n1", 100));
    assert!(
        events[1].data.contains(r#""serial":"a1""#),
        "{}",
        events[1].data
    );
}

pub(super) async fn parallel_tee_enrollments_share_no_challenge<S: Store>(store: Arc<S>) {
    devices(&*store).await;
    store
        .create_tee_challenge(&challenge("n1", "u1", 1_000), "test")
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_issued(&[tee_cert(&format!("s{i}"), "n1", "u1")], 100)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut recorded = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await.unwrap() == [RecordOutcome::Recorded] {
            recorded.push(format!("s{i}"));
        }
    }
    assert_eq!(recorded.len(), 1);
    let used = store.tee_challenge("n1").await.unwrap().unwrap();
    assert_eq!(used.serial.as_ref(), recorded.first());
}

pub(super) async fn a_tpm_binding_needs_an_open_challenge_of_that_device<S: Store>(store: Arc<S>) {
    devices(&*store).await;
    for (nonce, expires) in [("open", 10_000), ("expired", 500), ("used", 10_000)] {
        store
            .create_tee_challenge(&challenge(nonce, "u1", expires), "test")
            .await
            .unwrap();
    }
    assert!(store
        .consume_tee_challenge("used", "u1", 600, "test")
        .await
        .unwrap());
    let binding = |nonce: &str| TpmBinding {
        nonce: nonce.into(),
        key_public: vec![0x23; 90],
        secret_sealed: SEALED.to_vec(),
    };
    let before = store.audit_events(0, 1000).await.unwrap().len();
    for (nonce, uid) in [
        ("open", "u2"),
        ("expired", "u1"),
        ("used", "u1"),
        ("missing", "u1"),
    ] {
        let bound = store
            .record_ta_delivery(uid, "ta1", 1, Some(&binding(nonce)), 1_000, "test")
            .await
            .unwrap();
        assert!(!bound, "{nonce} for {uid} must not bind");
    }
    assert_eq!(store.audit_events(0, 1000).await.unwrap().len(), before);
    let untouched = store.tee_challenge("open").await.unwrap().unwrap();
    assert_eq!(
        (untouched.tpm_key, untouched.tpm_secret_sealed),
        (None, None)
    );

    assert!(store
        .record_ta_delivery("u1", "ta1", 1, Some(&binding("open")), 1_000, "device:u1")
        .await
        .unwrap());
    let bound = store.tee_challenge("open").await.unwrap().unwrap();
    assert_eq!(bound.tpm_key, Some(vec![0x23; 90]));
    assert_eq!(bound.tpm_secret_sealed, Some(SEALED.to_vec()));
    let events = store.audit_events(0, 1000).await.unwrap();
    let delivered = events.last().unwrap();
    assert_eq!(delivered.kind, "tee.ta.delivered");
    assert!(
        delivered.data.contains(r#""challenge":"open""#),
        "{}",
        delivered.data
    );
    assert!(
        delivered.data.contains("tpm_key_sha256"),
        "{}",
        delivered.data
    );
    verify_chain(
        &*store,
        "a_tpm_binding_needs_an_open_challenge_of_that_device",
    )
    .await;
    assert_no_sealed_bytes(&events);
}

pub(super) async fn a_ta_delivery_is_audited_in_the_chain<S: Store>(store: Arc<S>) {
    devices(&*store).await;
    store
        .create_ta_profile(&profile("ta1", 1, 100), "admin")
        .await
        .unwrap();
    let before = store.audit_events(0, 1000).await.unwrap().len();
    store
        .record_ta_delivery("u1", "ta1", 1, None, 1_000, "device:u1")
        .await
        .unwrap();
    let events = store.audit_events(0, 1000).await.unwrap();
    assert_eq!(events.len(), before + 1);
    let delivered = events.last().unwrap();
    assert_eq!(
        (
            delivered.kind.as_str(),
            delivered.actor.as_str(),
            delivered.subject.as_str()
        ),
        ("tee.ta.delivered", "device:u1", "u1")
    );
    assert_eq!(delivered.data, r#"{"profile":"ta1","version":1}"#);
    assert!(delivered.at_ms > 0);
    // No other row: the profile and device are as they were.
    assert_eq!(store.ta_profile_versions("ta1").await.unwrap().len(), 1);
    verify_chain(&*store, "a_ta_delivery_is_audited_in_the_chain").await;
    assert_no_sealed_bytes(&events);
}

pub(super) async fn a_tee_challenge_is_spent_once_without_a_certificate<S: Store>(store: Arc<S>) {
    devices(&*store).await;
    store
        .create_tee_challenge(&challenge("s1", "u1", 1_000), "test")
        .await
        .unwrap();
    store
        .create_tee_challenge(&challenge("s2", "u1", 90), "test")
        .await
        .unwrap();
    // Another device's, expired, unknown: nothing spent.
    assert!(!store
        .consume_tee_challenge("s1", "u2", 100, "t")
        .await
        .unwrap());
    assert!(!store
        .consume_tee_challenge("s2", "u1", 100, "t")
        .await
        .unwrap());
    assert!(!store
        .consume_tee_challenge("zz", "u1", 100, "t")
        .await
        .unwrap());
    assert!(store
        .consume_tee_challenge("s1", "u1", 100, "t")
        .await
        .unwrap());
    // A replay.
    assert!(!store
        .consume_tee_challenge("s1", "u1", 101, "t")
        .await
        .unwrap());
    let spent = store.tee_challenge("s1").await.unwrap().unwrap();
    assert_eq!(spent.used_at_ms, Some(100));
    assert_eq!(spent.serial, None);
    let events = store.audit_events(0, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "tee.challenge.spent")
            .count(),
        1
    );
}

pub(super) async fn outstanding_challenges_are_counted_and_expired_ones_purged<S: Store>(
    store: Arc<S>,
) {
    devices(&*store).await;
    for c in [
        challenge("o1", "u1", 1_000),
        challenge("o2", "u1", 90),
        challenge("o3", "u2", 1_000),
        challenge("o4", "u1", 1_000),
    ] {
        store.create_tee_challenge(&c, "test").await.unwrap();
    }
    assert!(store
        .consume_tee_challenge("o4", "u1", 80, "t")
        .await
        .unwrap());
    // o1 counts; o2 expired; o3 is another device's; o4 is used.
    assert_eq!(
        store.outstanding_tee_challenges("u1", 100).await.unwrap(),
        1
    );
    assert_eq!(store.outstanding_tee_challenges("u1", 50).await.unwrap(), 2);
    // Only o2 expired unused by 100; a used one stays (its evidence may name it).
    assert_eq!(store.purge_tee_challenges(100, "system").await.unwrap(), 1);
    assert!(store.tee_challenge("o2").await.unwrap().is_none());
    assert!(store.tee_challenge("o4").await.unwrap().is_some());
    assert_eq!(store.purge_tee_challenges(100, "system").await.unwrap(), 0);
    let events = store.audit_events(0, 1000).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "tee.challenges.purged")
            .count(),
        1
    );
}
