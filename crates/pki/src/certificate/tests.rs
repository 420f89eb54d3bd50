use super::*;

#[test]
fn junk_and_trailing_bytes_are_refused() {
    assert!(CertificateInfo::parse(b"not a certificate").is_err());
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    let set = crate::CaSet::create("A", crate::KeyAlgorithm::P256, now).unwrap();
    let mut der = set.root_der.clone();
    der.push(0);
    assert!(CertificateInfo::parse(&der).is_err());
}
