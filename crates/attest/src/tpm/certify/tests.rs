use super::*;
use crate::tpm::test_fixtures::*;

fn input<'a>(ak: &'a Public, key: &'a Public, nonce: &'a [u8], spki: &'a [u8]) -> CertifyCheck<'a> {
    CertifyCheck {
        ak,
        key,
        attest: CERTIFY_ATTEST,
        signature: CERTIFY_SIGNATURE,
        nonce,
        csr_spki_der: spki,
    }
}

fn failed(r: Result<CertifiedKey, AttestError>) -> Check {
    match r {
        Err(AttestError::Refused { check, .. }) => check,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn accepts_the_swtpm_certification() {
    let ak = Public::parse(AK_PUBLIC).unwrap();
    check_ak(&ak).unwrap();
    let key = Public::parse(KEY_PUBLIC).unwrap();
    let (nonce, spki) = (nonce(), key_spki());
    let certified = verify_certify(&input(&ak, &key, &nonce, &spki)).unwrap();
    assert_eq!(hex::encode(certified.key_name), KEY_NAME_HEX);
}

#[test]
fn names_the_failed_check() {
    let ak = Public::parse(AK_PUBLIC).unwrap();
    let key = Public::parse(KEY_PUBLIC).unwrap();
    let spki = key_spki();
    assert_eq!(
        failed(verify_certify(&input(&ak, &key, &[7; 32], &spki))),
        Check::AttestNonce
    );
    let nonce = nonce();
    // Certified by the AK, but of another key than the one presented.
    assert_eq!(
        failed(verify_certify(&input(&ak, &ak, &nonce, &spki))),
        Check::KeyName
    );
    // Signed by someone else.
    assert_eq!(
        failed(verify_certify(&input(&key, &key, &nonce, &spki))),
        Check::CertifySignature
    );
    let other_spki = p256_spki(&[1; 32], &[2; 32]);
    assert_eq!(
        failed(verify_certify(&input(&ak, &key, &nonce, &other_spki))),
        Check::CsrKey
    );
    assert!(matches!(
        verify_certify(&CertifyCheck {
            attest: b"x",
            ..input(&ak, &key, &nonce, &spki)
        }),
        Err(AttestError::Malformed { what: "attest", .. })
    ));
}

#[test]
fn checks_key_and_ak_attributes() {
    let key = Public::parse(KEY_PUBLIC).unwrap();
    check_device_key(&key).unwrap();
    let with = |bits_off: u32, bits_on: u32| {
        let mut k = key.clone();
        k.attributes = Attributes((k.attributes.0 & !bits_off) | bits_on);
        check_device_key(&k).map_err(|e| match e {
            AttestError::Refused { check, .. } => check,
            other => panic!("{other:?}"),
        })
    };
    assert_eq!(with(Attributes::FIXED_TPM, 0), Err(Check::KeyFixedTpm));
    assert_eq!(
        with(Attributes::FIXED_PARENT, 0),
        Err(Check::KeyFixedParent)
    );
    assert_eq!(
        with(Attributes::SENSITIVE_DATA_ORIGIN, 0),
        Err(Check::KeySensitiveDataOrigin)
    );
    assert_eq!(
        with(0, Attributes::RESTRICTED),
        Err(Check::KeySignNotRestricted)
    );
    assert_eq!(
        with(0, Attributes::DECRYPT),
        Err(Check::KeySignNotRestricted)
    );
    assert_eq!(with(Attributes::SIGN, 0), Err(Check::KeySignNotRestricted));

    let ak = Public::parse(AK_PUBLIC).unwrap();
    let mut unrestricted = ak.clone();
    unrestricted.attributes = Attributes(ak.attributes.0 & !Attributes::RESTRICTED);
    assert!(matches!(
        check_ak(&unrestricted),
        Err(AttestError::Refused {
            check: Check::AkRestrictedSign,
            ..
        })
    ));
    assert!(check_ak(&key).is_err());
    assert!(check_ak(&Public::parse(RSA_EK_PUBLIC).unwrap()).is_err());
}
