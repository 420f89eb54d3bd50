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
