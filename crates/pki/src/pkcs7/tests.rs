use super::*;
use crate::{CaSet, KeyAlgorithm};

#[test]
fn certs_only_round_trips() {
    let now = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let certs = vec![set.issuing_der.clone(), set.root_der.clone()];
    let der = certs_only_encode(&certs).unwrap();
    let mut back = certs_only_decode(&der).unwrap();
    // A SET OF is sorted in DER, so order is not preserved.
    back.sort();
    let mut want = certs.clone();
    want.sort();
    assert_eq!(back, want);
}

#[test]
fn junk_is_not_pkcs7() {
    assert!(certs_only_decode(b"junk").is_err());
    assert!(certs_only_decode(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
}

#[test]
fn the_cms_crate_reads_what_we_write() {
    let now = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = CaSet::create("A", KeyAlgorithm::P256, now).unwrap();
    let certs = vec![set.root_der.clone(), set.issuing_der.clone()];
    let der = certs_only_encode(&certs).unwrap();
    let info = ContentInfo::from_der(&der).unwrap();
    let signed: SignedData = info.content.decode_as().unwrap();
    assert_eq!(signed.certificates.unwrap().0.len(), 2);
    assert!(signed.signer_infos.0.is_empty());
    assert!(signed.crls.is_none());
}

#[test]
fn non_certificates_are_refused() {
    assert!(certs_only_encode(&[b"junk".to_vec()]).is_err());
    let now = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let mut der = CaSet::create("A", KeyAlgorithm::P256, now)
        .unwrap()
        .root_der;
    der.push(0);
    assert!(certs_only_encode(&[der]).is_err());
}
