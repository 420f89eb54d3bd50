use super::*;

#[test]
fn every_algorithm_generates_and_round_trips_through_pem() {
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::Ed25519,
    ] {
        let key = GeneratedKey::generate(alg).unwrap();
        let pem = key.to_pem(None).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = GeneratedKey::from_pem(&pem, None).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
    }
}

#[test]
fn encrypted_pem_needs_the_right_passphrase() {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let pem = key.to_pem(Some(b"correct horse")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(GeneratedKey::from_pem(&pem, None).is_err());
    assert!(GeneratedKey::from_pem(&pem, Some(b"wrong")).is_err());
    let back = GeneratedKey::from_pem(&pem, Some(b"correct horse")).unwrap();
    assert_eq!(back.public_key_der(), key.public_key_der());
}

#[test]
fn algorithm_names_parse() {
    assert_eq!("P-256".parse::<KeyAlgorithm>().unwrap(), KeyAlgorithm::P256);
    assert_eq!(
        "rsa3072".parse::<KeyAlgorithm>().unwrap(),
        KeyAlgorithm::Rsa3072
    );
    assert!("dsa".parse::<KeyAlgorithm>().is_err());
}
