use super::*;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePublicKey;

fn claims() -> LocationClaims {
    LocationClaims {
        ueid: ueid_of("unit-1"),
        nonce: vec![7; 32],
        iat: 1_800_000_000,
        latitude: 35.6586,
        longitude: 139.7454,
        accuracy: Some(10.0),
    }
}

fn signed(key: &SigningKey, claims: &LocationClaims) -> Vec<u8> {
    let unsigned = UnsignedEat::location("0a1b", claims).unwrap();
    let signature: Signature = key.sign(&unsigned.to_be_signed());
    unsigned.finish(signature.to_der().as_bytes()).unwrap()
}

#[test]
fn a_report_verifies_with_its_key_only() {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let spki = key.verifying_key().to_public_key_der().unwrap();
    let token = signed(&key, &claims());
    let parsed = ParsedEat::parse(&token).unwrap();
    assert_eq!(parsed.kid, "0a1b");
    assert_eq!(parsed.claims, claims());
    parsed.verify(spki.as_bytes()).unwrap();

    let other = SigningKey::random(&mut rand::rngs::OsRng);
    let other_spki = other.verifying_key().to_public_key_der().unwrap();
    assert_eq!(
        parsed.verify(other_spki.as_bytes()),
        Err(EatError::Signature)
    );
}

#[test]
fn a_changed_byte_or_shape_is_refused() {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let spki = key.verifying_key().to_public_key_der().unwrap();
    let token = signed(&key, &claims());
    for i in 0..token.len() {
        let mut changed = token.clone();
        changed[i] ^= 0x01;
        if let Ok(parsed) = ParsedEat::parse(&changed) {
            assert!(parsed.verify(spki.as_bytes()).is_err(), "byte {i}");
        }
    }
    assert!(ParsedEat::parse(&[]).is_err());
    assert!(ParsedEat::parse(&vec![0xa0; MAX_EAT_BYTES + 1]).is_err());
    let mut far = claims();
    far.latitude = 91.0;
    assert!(UnsignedEat::location("0a1b", &far).is_err());
}

#[test]
fn the_ueid_is_a_rand_ueid_per_uid() {
    assert_eq!(ueid_of("a")[0], 0x01);
    assert_eq!(ueid_of("a").len(), 33);
    assert_ne!(ueid_of("a"), ueid_of("b"));
}

#[test]
#[ignore = "writes a sample token for inspection"]
fn write_sample() {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    std::fs::write("/tmp/eat-sample.cose", signed(&key, &claims())).unwrap();
}
