use super::*;
use crate::KeyAlgorithm;

fn csr_for(alg: KeyAlgorithm, cn: &str, sans: &[&str]) -> Vec<u8> {
    let key = GeneratedKey::generate(alg).unwrap();
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    build_csr(&key, cn, &sans).unwrap()
}

#[test]
fn a_good_request_passes_with_its_names() {
    let der = csr_for(
        KeyAlgorithm::P256,
        "device-1",
        &["dev1.example", "urn:dev:1"],
    );
    let checked = CsrCheck::new(&Profile::device()).check(&der).unwrap();
    assert_eq!(checked.subject.common_name(), Some("device-1"));
    assert_eq!(checked.key_type, KeyType::P256);
    assert_eq!(
        checked.sans,
        vec![
            San::Dns("dev1.example".into()),
            San::Uri("urn:dev:1".into())
        ]
    );
}

#[test]
fn garbage_and_truncated_requests_are_malformed() {
    let profile = Profile::device();
    let check = CsrCheck::new(&profile);
    assert_eq!(check.check(b"hello"), Err(CsrError::Malformed));
    assert_eq!(check.check(&[]), Err(CsrError::Malformed));
    let der = csr_for(KeyAlgorithm::P256, "d", &[]);
    assert_eq!(check.check(&der[..der.len() / 2]), Err(CsrError::Malformed));
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(check.check(&trailing), Err(CsrError::Malformed));
}

#[test]
fn a_tampered_request_fails_proof_of_possession() {
    let mut der = csr_for(KeyAlgorithm::P256, "device-abc", &[]);
    let pos = der.windows(10).position(|w| w == b"device-abc").unwrap();
    der[pos] = b'X';
    assert_eq!(
        CsrCheck::new(&Profile::device()).check(&der),
        Err(CsrError::BadSignature)
    );
}

#[test]
fn key_types_outside_the_profile_are_refused() {
    let mut profile = Profile::device();
    profile.key_types = vec![KeyType::P384];
    let der = csr_for(KeyAlgorithm::P256, "d", &[]);
    let err = CsrCheck::new(&profile).check(&der).unwrap_err();
    assert!(
        matches!(err, CsrError::KeyType { ref found, .. } if found == "p256"),
        "{err}"
    );
}

#[test]
fn ed25519_is_recognised() {
    let der = csr_for(KeyAlgorithm::Ed25519, "d", &[]);
    let checked = CsrCheck::new(&Profile::device()).check(&der).unwrap();
    assert_eq!(checked.key_type, KeyType::Ed25519);
}

#[test]
fn ca_requests_are_refused() {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "evil");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let der = params
        .serialize_request(key.signer())
        .unwrap()
        .der()
        .to_vec();
    assert_eq!(
        CsrCheck::new(&Profile::device()).check(&der),
        Err(CsrError::CaRequested)
    );
}

#[test]
fn san_forms_and_subject_rules_follow_the_profile() {
    let profile = Profile::device();
    let check = CsrCheck::new(&profile);
    let der = csr_for(KeyAlgorithm::P256, "d", &["10.0.0.1"]);
    assert!(matches!(check.check(&der), Err(CsrError::SanNotAllowed(_))));
    let der = csr_for(KeyAlgorithm::P256, "", &[]);
    assert!(matches!(check.check(&der), Err(CsrError::InvalidValue(_))));
    let long = "x".repeat(65);
    let der = csr_for(KeyAlgorithm::P256, &long, &[]);
    assert!(matches!(check.check(&der), Err(CsrError::InvalidValue(_))));

    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme");
    let der = params
        .serialize_request(key.signer())
        .unwrap()
        .der()
        .to_vec();
    assert_eq!(check.check(&der), Err(CsrError::MissingCommonName));
}

#[test]
fn too_many_sans_are_refused() {
    let mut profile = Profile::device();
    profile.max_sans = 1;
    let der = csr_for(KeyAlgorithm::P256, "d", &["a.example", "b.example"]);
    assert_eq!(
        CsrCheck::new(&profile).check(&der),
        Err(CsrError::TooManySans { found: 2, max: 1 })
    );
}
