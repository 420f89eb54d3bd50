use super::*;

#[test]
fn a_delivery_opens_only_with_its_secret_and_activation() {
    let sealed = seal_delivery(&[1; 32], "abc", b"chain").unwrap();
    assert_eq!(open_delivery(&[1; 32], "abc", &sealed).unwrap(), b"chain");
    assert!(open_delivery(&[2; 32], "abc", &sealed).is_err());
    assert!(open_delivery(&[1; 32], "abd", &sealed).is_err());
}

#[test]
fn the_delivery_key_is_hkdf_sha256_of_the_secret() {
    // Independent derivation: HKDF-Extract(salt = id, ikm = secret), then one Expand block.
    use hmac::{Hmac, Mac};
    let prk = <Hmac<Sha256> as Mac>::new_from_slice(b"abc")
        .unwrap()
        .chain_update([1u8; 32])
        .finalize()
        .into_bytes();
    let okm = <Hmac<Sha256> as Mac>::new_from_slice(&prk)
        .unwrap()
        .chain_update(DELIVERY_INFO)
        .chain_update([1u8])
        .finalize()
        .into_bytes();
    let sealed = seal_delivery(&[1; 32], "abc", b"chain").unwrap();
    let plain = Aes256Gcm::new_from_slice(&okm)
        .unwrap()
        .decrypt(
            Nonce::from_slice(&sealed.nonce),
            sealed.ciphertext.as_slice(),
        )
        .unwrap();
    assert_eq!(plain, b"chain");
}
