use super::*;
use crate::tpm::test_fixtures::*;

#[test]
fn parses_swtpm_keys_and_computes_their_names() {
    let ak = Public::parse(AK_PUBLIC).unwrap();
    assert_eq!(hex::encode(ak.name()), AK_NAME_HEX);
    assert!(ak
        .attributes
        .has(Attributes::RESTRICTED | Attributes::SIGN | Attributes::FIXED_TPM));
    let key = Public::parse(KEY_PUBLIC).unwrap();
    assert_eq!(hex::encode(key.name()), KEY_NAME_HEX);
    assert!(matches!(
        key.key,
        KeyParams::Ecc {
            curve: EccCurve::P256,
            ..
        }
    ));
    assert!(key.p256_key().is_some());

    let rsa_ek = Public::parse(RSA_EK_PUBLIC).unwrap();
    assert!(rsa_ek.symmetric.is_aes128_cfb());
    assert!(matches!(
        rsa_ek.key,
        KeyParams::Rsa {
            key_bits: 2048,
            exponent: 0,
            ..
        }
    ));
    assert!(rsa_ek.rsa_key().is_some());
    assert_eq!(rsa_ek.auth_policy.len(), 32);
    let ecc_ek = Public::parse(ECC_EK_PUBLIC).unwrap();
    assert!(ecc_ek.symmetric.is_aes128_cfb());
    assert_eq!(ecc_ek.as_bytes(), ECC_EK_PUBLIC);
}

#[test]
fn refuses_truncated_trailing_and_foreign_structures() {
    for len in 0..AK_PUBLIC.len() {
        assert!(Public::parse(&AK_PUBLIC[..len]).is_err(), "length {len}");
    }
    let mut trailing = AK_PUBLIC.to_vec();
    trailing.push(0);
    assert!(Public::parse(&trailing)
        .unwrap_err()
        .to_string()
        .contains("trailing"));
    // A TPM2B_PUBLIC (size-prefixed) is not a TPMT_PUBLIC.
    let mut prefixed = (AK_PUBLIC.len() as u16).to_be_bytes().to_vec();
    prefixed.extend_from_slice(AK_PUBLIC);
    assert!(Public::parse(&prefixed).is_err());
    let mut sha1 = AK_PUBLIC.to_vec();
    sha1[3] = 0x04;
    assert!(Public::parse(&sha1)
        .unwrap_err()
        .to_string()
        .contains("SHA-256"));
    assert!(Public::parse(&vec![0u8; 10_000]).is_err());
}

#[test]
fn never_panics_on_mutations() {
    for fixture in [AK_PUBLIC, KEY_PUBLIC, RSA_EK_PUBLIC, ECC_EK_PUBLIC] {
        mutate_all(fixture, |b| {
            if let Ok(p) = Public::parse(b) {
                let _ = (p.name(), p.p256_key(), p.rsa_key(), p.describe());
            }
        });
    }
}
