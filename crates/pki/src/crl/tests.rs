use super::*;
use crate::{CaSet, KeyAlgorithm};

#[test]
fn a_crl_lists_entries_with_reasons_and_its_number() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let ca = set.issuing_ca().unwrap();
    let entries = (0..3u8)
        .map(|i| CrlEntry {
            serial: Serial::from_be_bytes(&[0x10 + i]),
            revoked_at: now,
            reason: RevocationReason::KeyCompromise,
        })
        .collect();
    let der = ca
        .sign_crl(&CrlParams {
            number: 7,
            this_update: now,
            next_update: now + time::Duration::hours(24),
            entries,
        })
        .unwrap();
    let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
    assert_eq!(crl.iter_revoked_certificates().count(), 3);
    assert_eq!(
        crl.crl_number().map(|n| n.to_string()),
        Some("7".to_string())
    );
    let aki = crl
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(aki, ca.subject_key_id());
}

#[test]
fn reasons_parse_by_rfc_name() {
    assert_eq!(
        "keyCompromise".parse::<RevocationReason>().unwrap(),
        RevocationReason::KeyCompromise
    );
    assert_eq!(
        "key-compromise".parse::<RevocationReason>().unwrap(),
        RevocationReason::KeyCompromise
    );
    assert!("certificateHold".parse::<RevocationReason>().is_err());
}

#[test]
fn the_root_signs_its_own_crl_and_the_issuing_ca_points_at_it() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let url = "http://ca.example.com/crl/root.crl";
    let set = CaSet::create_with_crl_url("A", KeyAlgorithm::P256, now, Some(url)).unwrap();
    let root = set.root_ca().unwrap();
    let der = root
        .sign_crl(&CrlParams {
            number: 3,
            this_update: now,
            next_update: now + time::Duration::days(365),
            entries: vec![CrlEntry {
                serial: Serial::from_be_bytes(&[0x42]),
                revoked_at: now,
                reason: RevocationReason::Unspecified,
            }],
        })
        .unwrap();
    let summary = crl_summary(&der).unwrap();
    assert_eq!(summary.number, 3);
    assert_eq!(summary.entries, 1);
    assert_eq!(
        summary.next_update,
        Some(now.unix_timestamp() + 365 * 86_400)
    );
    let (_, crl) = x509_parser::parse_x509_crl(&der).unwrap();
    assert_eq!(crl.issuer().to_string(), "O=A, CN=A Root CA");
    let entry = crl.iter_revoked_certificates().next().unwrap();
    assert!(entry.reason_code().is_none(), "unspecified is left out");
    let (_, issuing) = x509_parser::parse_x509_certificate(&set.issuing_der).unwrap();
    let cdp = issuing
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::CRLDistributionPoints(p) => {
                Some(format!("{p:?}"))
            }
            _ => None,
        })
        .unwrap();
    assert!(cdp.contains(url), "{cdp}");
}

#[test]
fn only_a_matching_self_signed_ca_is_a_root() {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let key = || {
        let key = crate::GeneratedKey::from_pkcs8_der(&set.root_key.signer().serialize_der());
        crate::SoftwareKey::new(key.unwrap()).unwrap()
    };
    assert!(RootCa::new(&set.issuing_der, key()).is_err());
    let other = crate::GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let other = crate::SoftwareKey::new(other).unwrap();
    assert!(RootCa::new(&set.root_der, other).is_err());
    assert!(RootCa::new(&set.root_der, key()).is_ok());
}
