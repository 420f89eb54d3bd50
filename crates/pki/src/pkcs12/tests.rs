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
    let bundle = pkcs12_encode(key.pkcs8_der(), &chain, "unit", "s3cret-p12").unwrap();
    let opened = pkcs12_decode(&bundle, "s3cret-p12").unwrap();
    assert_eq!(opened.key_pkcs8, key.pkcs8_der());
    assert_eq!(opened.chain, chain);
}

#[test]
fn wrong_passphrase_and_garbage_are_clear_errors() {
    let (key, chain) = leaf();
    let bundle = pkcs12_encode(key.pkcs8_der(), &chain, "unit", "the right one").unwrap();
    let err = pkcs12_decode(&bundle, "wrong").err().unwrap().to_string();
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(pkcs12_decode(b"not a bundle", "x").is_err());
    assert!(pkcs12_decode(&vec![0x30; 300 * 1024], "x").is_err());
}

#[test]
fn passphrases_are_checked_before_anything_is_encoded() {
    assert!(check_pkcs12_passphrase("eight ch").is_ok());
    assert!(check_pkcs12_passphrase("grüße aus köln €").is_ok());
    let short = check_pkcs12_passphrase("seven c").unwrap_err().to_string();
    assert!(short.contains("at least 8"), "{short}");
    // Eight characters, more than eight bytes: characters count, not bytes.
    assert!(check_pkcs12_passphrase("ééééééé").is_err());
    let emoji = check_pkcs12_passphrase("long enough 🔑")
        .unwrap_err()
        .to_string();
    assert!(
        emoji.contains("U+1F511") && emoji.contains("BMPString"),
        "{emoji}"
    );
    assert!(check_pkcs12_passphrase("with a \0 NUL").is_err());
    assert!(check_pkcs12_passphrase(&"x".repeat(PKCS12_MAX_PASSPHRASE_CHARS + 1)).is_err());
    let (key, chain) = leaf();
    assert!(matches!(
        pkcs12_encode(key.pkcs8_der(), &chain, "unit", "short"),
        Err(PkiError::Passphrase(_))
    ));
}

#[test]
fn an_alias_outside_the_bmp_is_replaced_not_refused() {
    let (key, chain) = leaf();
    let bundle = pkcs12_encode(key.pkcs8_der(), &chain, "product 🌡", "long enough").unwrap();
    assert_eq!(pkcs12_decode(&bundle, "long enough").unwrap().chain, chain);
}
