use super::*;
use crate::{build_csr, CaSet, CsrCheck, GeneratedKey, IssueParams, KeyAlgorithm, Profile, Serial};

fn leaf() -> (GeneratedKey, Vec<Vec<u8>>) {
    let now = time::OffsetDateTime::now_utc();
    let ca = CaSet::create("P12 Test", KeyAlgorithm::P256, now).unwrap();
    let issuer = ca.issuing_ca().unwrap();
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, "unit", &[]).unwrap();
    let profile = Profile::device();
    let checked = CsrCheck::new(&profile).check(&csr).unwrap();
    let cert = issuer
        .issue(&IssueParams::new(
            &profile,
            &checked,
            Serial::random().unwrap(),
            now,
        ))
        .unwrap();
    (key, vec![cert, issuer.cert_der().to_vec()])
}

#[test]
fn round_trip_keeps_key_and_chain_in_order() {
    let (key, chain) = leaf();
    let bundle = pkcs12_encode(key.pkcs8_der(), &chain, "unit", "s3cret").unwrap();
    let opened = pkcs12_decode(&bundle, "s3cret").unwrap();
    assert_eq!(opened.key_pkcs8, key.pkcs8_der());
    assert_eq!(opened.chain, chain);
}

#[test]
fn wrong_passphrase_and_garbage_are_clear_errors() {
    let (key, chain) = leaf();
    let bundle = pkcs12_encode(key.pkcs8_der(), &chain, "unit", "right").unwrap();
    let err = pkcs12_decode(&bundle, "wrong").err().unwrap().to_string();
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(pkcs12_decode(b"not a bundle", "x").is_err());
    assert!(pkcs12_decode(&vec![0x30; 300 * 1024], "x").is_err());
}
