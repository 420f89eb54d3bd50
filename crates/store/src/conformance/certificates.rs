//! Cases of [`crate::CertificateStore`].

use std::sync::Arc;

use super::cert;
use crate::{
    CertificateQuery, CertificateStatus, CrlRecord, Enrolled, NewCertificate, RecordOutcome,
    Revocation, RevokeOutcome, Store,
};

fn revocation<'a>(serial: &'a str, reason: &'a str, at: i64) -> Revocation<'a> {
    Revocation {
        serial,
        reason,
        revoked_at: at,
        actor: "admin",
    }
}

/// The authority's rule in miniature: follow the valid ones.
fn valid_only(_parent: &str, enrolled: &[Enrolled]) -> Vec<String> {
    enrolled
        .iter()
        .filter(|e| e.status == CertificateStatus::Valid)
        .map(|e| e.serial.clone())
        .collect()
}

pub(super) async fn a_batch_is_recorded_with_chained_audit_events<S: Store>(store: Arc<S>) {
    let out = store
        .record_issued(&[cert("a1"), cert("b2")], 100)
        .await
        .unwrap();
    assert_eq!(out, vec![RecordOutcome::Recorded, RecordOutcome::Recorded]);
    let got = store.certificate("a1").await.unwrap().unwrap();
    assert_eq!(got.sans, vec!["DNS:x.example".to_string()]);
    assert_eq!(got.status, CertificateStatus::Valid);
    assert_eq!(got.created_at_ms, 100);
    let events = store.audit_events(0, 100).await.unwrap();
    assert_eq!(events.len(), 3);
    let event = &events[usize::try_from(got.audit_seq).unwrap() - 1];
    assert_eq!(
        (event.kind.as_str(), event.subject.as_str()),
        ("certificate.issued", "a1")
    );
    assert!(store.certificate("zz").await.unwrap().is_none());
}

pub(super) async fn a_duplicate_serial_is_skipped_not_fatal<S: Store>(store: Arc<S>) {
    store.record_issued(&[cert("a1")], 100).await.unwrap();
    let out = store
        .record_issued(&[cert("a1"), cert("c3"), cert("c3")], 101)
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            RecordOutcome::DuplicateSerial,
            RecordOutcome::Recorded,
            RecordOutcome::DuplicateSerial
        ]
    );
    let all = store
        .list_certificates(&CertificateQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}

pub(super) async fn certificates_page_by_audit_seq<S: Store>(store: Arc<S>) {
    let mut admin = cert("ad1");
    admin.profile = "admin".into();
    store
        .record_issued(&[cert("a1"), cert("b2"), admin, cert("c3")], 1)
        .await
        .unwrap();
    let first = store
        .list_certificates(&CertificateQuery {
            limit: Some(2),
            ..CertificateQuery::default()
        })
        .await
        .unwrap();
    let serials: Vec<_> = first.iter().map(|c| c.serial.as_str()).collect();
    assert_eq!(serials, ["c3", "ad1"], "newest first");
    let next = store
        .list_certificates(&CertificateQuery {
            limit: Some(2),
            before_audit_seq: first.last().map(|c| c.audit_seq),
            ..CertificateQuery::default()
        })
        .await
        .unwrap();
    let serials: Vec<_> = next.iter().map(|c| c.serial.as_str()).collect();
    assert_eq!(serials, ["b2", "a1"]);
    let admins = store
        .list_certificates(&CertificateQuery {
            profile: Some("admin".into()),
            ..CertificateQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(admins.len(), 1);
    store
        .revoke(revocation("a1", "superseded", 5), None)
        .await
        .unwrap();
    let revoked = store
        .list_certificates(&CertificateQuery {
            status: Some(CertificateStatus::Revoked),
            ..CertificateQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].serial, "a1");
}

pub(super) async fn issued_refs_page_by_audit_seq<S: Store>(store: Arc<S>) {
    store
        .record_issued(&[cert("a1"), cert("b2"), cert("c3")], 1)
        .await
        .unwrap();
    let first = store.issued_refs(0, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store
        .issued_refs(first.last().unwrap().audit_seq, 10)
        .await
        .unwrap();
    let all: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|r| r.serial.as_str())
        .collect();
    assert_eq!(all, ["a1", "b2", "c3"]);
    for r in first.iter().chain(&rest) {
        let event = &store.audit_events(r.audit_seq - 1, 1).await.unwrap()[0];
        assert_eq!(event.subject, r.serial);
    }
}

pub(super) async fn issuers_register_once<S: Store>(store: Arc<S>) {
    let head = store.audit_events(0, 100).await.unwrap().len();
    store
        .register_issuer(&super::issuer(), "again")
        .await
        .unwrap();
    assert_eq!(store.issuers().await.unwrap(), vec![super::issuer()]);
    assert_eq!(store.audit_events(0, 100).await.unwrap().len(), head);
}

pub(super) async fn revocation_is_idempotent_audited_and_fed<S: Store>(store: Arc<S>) {
    store.record_issued(&[cert("a1")], 1).await.unwrap();
    assert_eq!(store.latest_revocation_seq().await.unwrap(), 0);
    let first = store
        .revoke(revocation("a1", "keyCompromise", 100), None)
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
        .revoke(revocation("a1", "superseded", 200), None)
        .await
        .unwrap();
    assert_eq!(again.outcome, RevokeOutcome::AlreadyRevoked(rec.clone()));
    let missing = store
        .revoke(revocation("zz", "unspecified", 1), None)
        .await
        .unwrap();
    assert_eq!(missing.outcome, RevokeOutcome::NotFound);
    assert_eq!(store.revocations_since(0, 10).await.unwrap(), vec![rec]);
    assert!(store.revocations_since(1, 10).await.unwrap().is_empty());
    assert_eq!(store.latest_revocation_seq().await.unwrap(), 1);
    let row = store.certificate("a1").await.unwrap().unwrap();
    assert_eq!(row.status, CertificateStatus::Revoked);
    assert_eq!(row.revocation_reason.as_deref(), Some("keyCompromise"));
    assert_eq!(store.revoked_entries("issuer", 0).await.unwrap().len(), 1);
    assert!(
        store.revoked_entries("issuer", 5).await.unwrap().is_empty(),
        "expired entries drop out"
    );
    let kinds: Vec<_> = store
        .audit_events(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "certificate.revoked").count(),
        1
    );
}

pub(super) async fn cascade_follows_the_callers_rule<S: Store>(store: Arc<S>) {
    let mut child = cert("c1");
    child.bootstrap_serial = Some("p1".into());
    let mut grandchild = cert("g1");
    grandchild.bootstrap_serial = Some("c1".into());
    let mut revoked_child = cert("c0");
    revoked_child.bootstrap_serial = Some("p1".into());
    store
        .record_issued(&[cert("p1"), child, grandchild, revoked_child], 1)
        .await
        .unwrap();
    let plain = store
        .revoke(revocation("c0", "superseded", 9), None)
        .await
        .unwrap();
    assert!(plain.cascaded.is_empty());
    let all = store
        .revoke(
            revocation("p1", "cessationOfOperation", 10),
            Some(&valid_only),
        )
        .await
        .unwrap();
    let cascaded: Vec<_> = all.cascaded.iter().map(|r| r.serial.as_str()).collect();
    assert_eq!(cascaded, ["c1", "g1"]);
    for serial in ["c1", "g1"] {
        let row = store.certificate(serial).await.unwrap().unwrap();
        assert_eq!(row.status, CertificateStatus::Revoked);
    }
    let events = store.audit_events(0, 100).await.unwrap();
    let from: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "certificate.revoked")
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["cascade_from"].clone()
        })
        .collect();
    assert_eq!(
        from,
        [
            serde_json::Value::Null,
            serde_json::Value::Null,
            "p1".into(),
            "c1".into()
        ]
    );
}

pub(super) async fn parallel_revocations_of_one_certificate_revoke_it_once<S: Store>(
    store: Arc<S>,
) {
    store.record_issued(&[cert("a1")], 1).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .revoke(revocation("a1", "superseded", 100 + i), None)
                    .await
                    .unwrap()
                    .outcome
            })
        })
        .collect();
    let mut revoked = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), RevokeOutcome::Revoked(_)) {
            revoked += 1;
        }
    }
    assert_eq!(revoked, 1);
    assert_eq!(store.revocations_since(0, 10).await.unwrap().len(), 1);
}

pub(super) async fn the_feed_is_gapless_under_parallel_revocations<S: Store>(store: Arc<S>) {
    let serials: Vec<String> = (0..16).map(|i| format!("s{i:02}")).collect();
    let batch: Vec<_> = serials.iter().map(|s| cert(s)).collect();
    store.record_issued(&batch, 1).await.unwrap();
    let tasks: Vec<_> = serials
        .into_iter()
        .map(|serial| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .revoke(revocation(&serial, "superseded", 100), None)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let feed = store.revocations_since(0, 100).await.unwrap();
    let seqs: Vec<i64> = feed.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=16).collect::<Vec<_>>());
    // Feed order is audit order: the revocation events appear in seq order.
    let events = store.audit_events(0, 100).await.unwrap();
    let audited: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "certificate.revoked")
        .map(|e| e.subject.as_str())
        .collect();
    let fed: Vec<&str> = feed.iter().map(|r| r.serial.as_str()).collect();
    assert_eq!(audited, fed);
}

pub(super) async fn crl_numbers_only_go_up<S: Store>(store: Arc<S>) {
    let crl = |n: i64| CrlRecord {
        issuer_id: "issuer".into(),
        number: n,
        this_update: 1,
        next_update: 2,
        der: vec![u8::try_from(n).unwrap()],
    };
    assert!(store.crl("issuer").await.unwrap().is_none());
    assert!(store.save_crl(&crl(2)).await.unwrap());
    assert!(!store.save_crl(&crl(1)).await.unwrap());
    assert!(!store.save_crl(&crl(2)).await.unwrap());
    assert!(store.save_crl(&crl(3)).await.unwrap());
    assert_eq!(store.crl("issuer").await.unwrap().unwrap(), crl(3));
}

pub(super) async fn certificate_stats_count_what_an_overview_shows<S: Store>(store: Arc<S>) {
    let with_expiry = |serial: &str, not_after: i64| NewCertificate {
        not_after,
        ..cert(serial)
    };
    assert_eq!(
        store.certificate_stats(0, 0, 0).await.unwrap(),
        crate::CertificateStats::default()
    );
    store
        .record_issued(&[with_expiry("s1", 2)], 1)
        .await
        .unwrap();
    store
        .record_issued(&[with_expiry("s2", 1000)], 5000)
        .await
        .unwrap();
    store
        .record_issued(&[with_expiry("s3", 1500)], 6000)
        .await
        .unwrap();
    store
        .revoke(revocation("s3", "superseded", 7), None)
        .await
        .unwrap();
    let stats = store.certificate_stats(5000, 10, 2000).await.unwrap();
    assert_eq!(
        stats,
        crate::CertificateStats {
            total: 3,
            revoked: 1,
            issued_since: 2,
            expiring: 1,
        },
        "s1 expired already, s3 is revoked"
    );
}

pub(super) async fn certificates_are_found_by_name_prefix_and_method<S: Store>(store: Arc<S>) {
    let mut meter = cert("m1");
    meter.subject = "CN=Meter-7,O=Acme".into();
    meter.sans = vec!["DNS:meter-7.fleet.example".into(), "IP:10.0.0.7".into()];
    meter.method = "tpm2".into();
    meter.level = Some(3);
    let mut camera = cert("c2");
    camera.subject = "O=Acme,CN=camera-1".into();
    camera.sans = vec![];
    // Two in one batch, one in another: the names go in with their certificates.
    store.record_issued(&[meter, camera], 1).await.unwrap();
    store.record_issued(&[cert("x3")], 2).await.unwrap();
    let find = |name: &str, method: Option<&str>| {
        let store = store.clone();
        let query = CertificateQuery {
            name: Some(name.into()),
            method: method.map(str::to_string),
            ..CertificateQuery::default()
        };
        async move {
            store
                .list_certificates(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.serial)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("meter", None).await, ["m1"]);
    assert_eq!(find("METER-7.fleet", None).await, ["m1"], "a SAN, any case");
    assert_eq!(find("10.0.0", None).await, ["m1"], "an IP SAN");
    assert_eq!(
        find("camera-1", None).await,
        ["c2"],
        "a CN that is not first"
    );
    assert_eq!(find("acme", None).await, ["c2", "m1"], "newest first");
    assert_eq!(find("acme", Some("tpm2")).await, ["m1"]);
    assert_eq!(find("x", None).await, ["x3"]);
    assert!(find("meter-8", None).await.is_empty());
    assert!(find("%", None).await.is_empty(), "no wildcard");
    assert!(find("_eter", None).await.is_empty(), "no wildcard");
    let by_method = store
        .list_certificates(&CertificateQuery {
            method: Some("admin".into()),
            ..CertificateQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_method.len(), 2);
    let level_3 = store
        .list_certificates(&CertificateQuery {
            level: Some(3),
            ..CertificateQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(level_3.len(), 1);
    assert_eq!(level_3[0].level, Some(3), "read back");
}
