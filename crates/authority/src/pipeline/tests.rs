use super::*;
use inkan_pki::{build_csr, CaSet, GeneratedKey, KeyAlgorithm};
use inkan_store::{CertificateQuery, ChainVerifier};

async fn authority() -> (tempfile::TempDir, Arc<Authority>) {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        inkan_store::SqliteStore::open(&tmp.path().join("t.db"))
            .await
            .unwrap(),
    );
    let set = CaSet::create("T", KeyAlgorithm::P256, OffsetDateTime::now_utc()).unwrap();
    let auth = Authority::start(Config::default(), set.issuing_ca().unwrap(), store)
        .await
        .unwrap();
    (tmp, auth)
}

fn csr(cn: &str) -> Vec<u8> {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    build_csr(&key, cn, &[]).unwrap()
}

fn request(csr_der: Vec<u8>, method: EnrollMethod) -> IssueRequest {
    IssueRequest {
        csr_der,
        profile: "device".into(),
        method,
        validity: None,
        label: None,
    }
}

#[tokio::test]
async fn issued_certificates_are_recorded_with_their_evidence_and_audit_event() {
    let (_tmp, auth) = authority().await;
    let method = EnrollMethod::EstSecret {
        label: "device".into(),
    };
    let issued = auth.issue(request(csr("dev-1"), method)).await.unwrap();
    let row = auth
        .store()
        .certificate(&issued.serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.der, issued.der);
    assert_eq!(row.method, "est-secret");
    assert_eq!(row.evidence["label"], "device");
    let events = auth.store().audit_events(0, 100).await.unwrap();
    let mut v = ChainVerifier::default();
    events.iter().for_each(|e| v.push(e).unwrap());
    assert!(events
        .iter()
        .any(|e| e.subject == issued.serial && e.kind == "certificate.issued"));
}

#[tokio::test]
async fn a_refused_request_leaves_no_row() {
    let (_tmp, auth) = authority().await;
    let err = auth
        .issue(request(
            b"garbage".to_vec(),
            EnrollMethod::Admin { actor: "t".into() },
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthorityError::Csr(_)), "{err}");
    let rows = auth
        .store()
        .list_certificates(&CertificateQuery::default())
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn renewals_keep_the_subject() {
    let (_tmp, auth) = authority().await;
    let renewal = EnrollMethod::Renewal(crate::PresentedCert {
        serial: "abc".into(),
        subject: "CN=dev-1".into(),
        sans: vec![],
        profile: "device".into(),
        level: 2,
        device_id: None,
        product: None,
    });
    auth.issue(request(csr("dev-1"), renewal.clone()))
        .await
        .unwrap();
    let err = auth
        .issue(request(csr("dev-2"), renewal))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthorityError::Policy(crate::Refusal::RenewalSubject { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn concurrent_requests_are_grouped_and_all_recorded() {
    let (_tmp, auth) = authority().await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            auth.issue(request(
                csr(&format!("d{i}")),
                EnrollMethod::Admin { actor: "t".into() },
            ))
            .await
            .unwrap()
            .serial
        }));
    }
    let mut serials = std::collections::HashSet::new();
    for t in tasks {
        serials.insert(t.await.unwrap());
    }
    assert_eq!(serials.len(), 64);
    let query = CertificateQuery {
        limit: Some(1000),
        ..Default::default()
    };
    assert_eq!(
        auth.store().list_certificates(&query).await.unwrap().len(),
        64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_publishing_at_once_never_serve_two_crls_with_one_number() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.db");
    let set = CaSet::create("T", KeyAlgorithm::P256, OffsetDateTime::now_utc()).unwrap();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn Store> = Arc::new(inkan_store::SqliteStore::open(&path).await.unwrap());
        let auth = Authority::start(Config::default(), set.issuing_ca().unwrap(), store)
            .await
            .unwrap();
        replicas.push(auth);
    }
    let (a, b) = (replicas[0].clone(), replicas[1].clone());
    for _ in 0..5 {
        // Both read the same last number and sign the next one at the same time.
        let (ra, rb) = tokio::join!(a.crl().publish(a.clone()), b.crl().publish(b.clone()));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        if ra.number == rb.number {
            assert_eq!(ra.der, rb.der, "two different CRLs numbered {}", ra.number);
        }
        let stored = a.store().crl(a.issuer_id()).await.unwrap().unwrap();
        assert_eq!(stored.number, ra.number.max(rb.number));
    }
}
