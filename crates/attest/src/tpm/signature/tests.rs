use super::*;
use crate::tpm::test_fixtures::*;

#[test]
fn verifies_the_swtpm_certify_signature() {
    let ak = Public::parse(AK_PUBLIC).unwrap();
    let sig = Signature::parse(CERTIFY_SIGNATURE).unwrap();
    assert!(matches!(sig, Signature::EcdsaSha256 { .. }));
    sig.verify(&ak, CERTIFY_ATTEST).unwrap();

    let mut changed = CERTIFY_ATTEST.to_vec();
    changed[40] ^= 1;
    let err = sig.verify(&ak, &changed).unwrap_err();
    assert!(matches!(
        err,
        AttestError::Refused {
            check: Check::CertifySignature,
            ..
        }
    ));
    // The device key did not sign it.
    let key = Public::parse(KEY_PUBLIC).unwrap();
    assert!(sig.verify(&key, CERTIFY_ATTEST).is_err());
    // An RSA key cannot check an ECDSA signature.
    let ek = Public::parse(RSA_EK_PUBLIC).unwrap();
    assert!(sig.verify(&ek, CERTIFY_ATTEST).is_err());
}

#[test]
fn never_panics_on_mutations() {
    let ak = Public::parse(AK_PUBLIC).unwrap();
    mutate_all(CERTIFY_SIGNATURE, |b| {
        if let Ok(sig) = Signature::parse(b) {
            let _ = sig.verify(&ak, CERTIFY_ATTEST);
        }
    });
    let mut sha1 = CERTIFY_SIGNATURE.to_vec();
    sha1[3] = 0x04;
    assert!(Signature::parse(&sha1).is_err());
}
