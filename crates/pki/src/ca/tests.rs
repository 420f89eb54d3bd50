use super::*;
use crate::{build_csr, CsrCheck, Profile};

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

#[test]
fn ca_set_has_a_root_and_an_issuing_ca() {
    let set = CaSet::create("Acme", KeyAlgorithm::P256, now()).unwrap();
    let root = CertificateInfo::parse(&set.root_der).unwrap();
    let issuing = CertificateInfo::parse(&set.issuing_der).unwrap();
    assert!(root.is_ca && issuing.is_ca);
    assert_eq!(root.subject, "O=Acme,CN=Acme Root CA");
    assert_eq!(issuing.issuer, root.subject);
}

#[test]
fn issued_certificates_carry_the_profile() {
    let set = CaSet::create("Acme", KeyAlgorithm::P256, now()).unwrap();
    let ca = set.issuing_ca().unwrap();
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "device-7", &["d7.example".into()]).unwrap();
    let profile = Profile::device();
    let checked = CsrCheck::new(&profile).check(&csr).unwrap();
    let serial = Serial::random().unwrap();
    let mut params = IssueParams::new(&profile, &checked, serial.clone(), now());
    params.crl_url = Some("https://ca.example/crl/1.crl".into());
    params.ocsp_url = Some("https://ca.example/ocsp".into());
    let der = ca.issue(&params).unwrap();
    let info = CertificateInfo::parse(&der).unwrap();
    assert_eq!(info.serial, serial.to_string());
    assert_eq!(info.subject, "CN=device-7");
    assert_eq!(info.level, Some(2));
    assert!(!info.is_ca);
    assert_eq!(info.not_after - info.not_before, 90 * 86_400 + 300);
    assert_eq!(info.spki_sha256, crate::sha256_hex(&key.public_key_der()));
}

#[test]
fn validity_is_capped_to_the_issuing_ca() {
    let set = CaSet::create("Acme", KeyAlgorithm::P256, now()).unwrap();
    let ca = set.issuing_ca().unwrap();
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "d", &[]).unwrap();
    let mut profile = Profile::device();
    profile.validity = std::time::Duration::from_secs(100 * 365 * 86_400);
    let checked = CsrCheck::new(&profile).check(&csr).unwrap();
    let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now());
    let info = CertificateInfo::parse(&ca.issue(&params).unwrap()).unwrap();
    assert_eq!(info.not_after, ca.info().not_after);
}

#[test]
fn a_key_that_does_not_match_is_refused() {
    let set = CaSet::create("Acme", KeyAlgorithm::P256, now()).unwrap();
    let other = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let other = crate::SoftwareKey::new(other).unwrap();
    assert!(IssuingCa::new(&set.issuing_der, other, &set.root_der).is_err());
}

#[test]
fn every_ca_algorithm_signs() {
    for alg in [KeyAlgorithm::P384, KeyAlgorithm::Ed25519] {
        let set = CaSet::create("Alg", alg, now()).unwrap();
        let ca = set.issuing_ca().unwrap();
        let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        let csr = build_csr(&key, "d", &[]).unwrap();
        let profile = Profile::device();
        let checked = CsrCheck::new(&profile).check(&csr).unwrap();
        let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now());
        let der = ca.issue(&params).unwrap();
        crate::verify_chain(
            &der,
            std::slice::from_ref(&set.issuing_der),
            std::slice::from_ref(&set.root_der),
            crate::ChainUsage::ClientAuth,
            now(),
        )
        .unwrap();
    }
}

#[test]
fn key_encipherment_goes_to_rsa_keys_only() {
    let set = CaSet::create("Acme", KeyAlgorithm::P256, now()).unwrap();
    let ca = set.issuing_ca().unwrap();
    let profile = Profile::server();
    let key_usage = |alg: KeyAlgorithm| {
        let key = GeneratedKey::generate(alg).unwrap();
        let csr = build_csr(&key, "srv.example", &["srv.example".into()]).unwrap();
        let checked = CsrCheck::new(&profile).check(&csr).unwrap();
        let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now());
        let der = ca.issue(&params).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ku = cert.key_usage().unwrap().unwrap().value;
        (
            ku.digital_signature(),
            ku.key_encipherment(),
            ku.key_agreement(),
        )
    };
    assert_eq!(key_usage(KeyAlgorithm::P256), (true, false, false));
    assert_eq!(key_usage(KeyAlgorithm::Ed25519), (true, false, false));
    assert_eq!(key_usage(KeyAlgorithm::Rsa3072), (true, true, false));
}

#[test]
fn a_profile_whose_key_usage_suits_no_key_bit_is_refused() {
    let set = CaSet::create("Acme", KeyAlgorithm::P256, now()).unwrap();
    let ca = set.issuing_ca().unwrap();
    let mut profile = Profile::server();
    profile.key_usage = vec![KeyUsage::KeyEncipherment];
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "srv.example", &["srv.example".into()]).unwrap();
    let checked = CsrCheck::new(&profile).check(&csr).unwrap();
    let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now());
    assert!(matches!(ca.issue(&params), Err(PkiError::Build(_))));
}

#[test]
fn the_level_is_written_under_the_configured_arc() {
    let set = CaSet::create("Acme", KeyAlgorithm::P256, now()).unwrap();
    let ca = set.issuing_ca().unwrap();
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "d", &[]).unwrap();
    let profile = Profile::device();
    let checked = CsrCheck::new(&profile).check(&csr).unwrap();
    let mut params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now());
    let arc: crate::PolicyArc = "1.3.6.1.4.1.99999.7".parse().unwrap();
    params.policy_arc = arc.clone();
    let der = ca.issue(&params).unwrap();
    assert_eq!(CertificateInfo::parse(&der).unwrap().level, None);
    assert_eq!(
        CertificateInfo::parse_with_arc(&der, &arc).unwrap().level,
        Some(2)
    );
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let policies = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::CertificatePolicies(p) => Some(
                p.iter()
                    .map(|p| p.policy_id.to_id_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .unwrap();
    assert_eq!(policies, vec!["1.3.6.1.4.1.99999.7.2".to_string()]);
}
