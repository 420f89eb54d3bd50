use super::*;
use crate::tpm::test_fixtures::*;

#[test]
fn makes_well_formed_credentials_for_rsa_and_ecc_eks() {
    let ak = Public::parse(AK_PUBLIC).unwrap();
    for (ek, secret_len) in [(RSA_EK_PUBLIC, 256), (ECC_EK_PUBLIC, 4 + 64)] {
        let ek = Public::parse(ek).unwrap();
        let c = make_credential(&ek, &ak.name(), &[9; 32], &mut rand::rngs::OsRng).unwrap();
        // TPM2B_DIGEST(32-byte HMAC) then encIdentity of TPM2B(32-byte secret).
        assert_eq!(&c.credential_blob[..2], &[0, 32]);
        assert_eq!(c.credential_blob.len(), 2 + 32 + 2 + 32);
        assert_eq!(c.encrypted_secret.len(), secret_len);
    }
}

#[test]
fn refuses_eks_activation_cannot_use() {
    let ak = Public::parse(AK_PUBLIC).unwrap();
    let err = make_credential(&ak, &ak.name(), &[1; 32], &mut rand::rngs::OsRng).unwrap_err();
    assert!(matches!(
        err,
        AttestError::Refused {
            check: Check::EkKey,
            ..
        }
    ));
    let mut ek = Public::parse(ECC_EK_PUBLIC).unwrap();
    ek.symmetric = crate::Symmetric::Null;
    assert!(check_ek(&ek).is_err());
}

#[test]
fn kdf_a_matches_the_tpm_reference_construction() {
    // KDFa(SHA256, key, "STORAGE", u, v, 128) is the first 16 bytes of
    // HMAC-SHA256(key, 00000001 ‖ "STORAGE\0" ‖ u ‖ v ‖ 00000080).
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"seed").unwrap();
    mac.update(&[0, 0, 0, 1]);
    mac.update(b"STORAGE\0uv");
    mac.update(&[0, 0, 0, 128]);
    let expected = mac.finalize().into_bytes();
    assert_eq!(
        kdf_a(b"seed", "STORAGE", b"u", b"v", 128),
        expected[..16].to_vec()
    );
    assert_eq!(kdf_a(b"seed", "INTEGRITY", b"", b"", 512).len(), 64);
}
