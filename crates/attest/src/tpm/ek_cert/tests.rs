use super::*;
use crate::tpm::test_fixtures::*;

fn at(year: i32) -> OffsetDateTime {
    time::Date::from_calendar_date(year, time::Month::January, 1)
        .unwrap()
        .midnight()
        .assume_utc()
}

#[test]
fn accepts_the_swtpm_ek_certificate_under_its_ca() {
    let ek = Public::parse(RSA_EK_PUBLIC).unwrap();
    let anchors = vec![pem_der(EK_ROOT_PEM), pem_der(EK_CA_PEM)];
    let cert = verify_ek_certificate(RSA_EK_CERT, &anchors, &ek, at(2027)).unwrap();
    assert_eq!(cert.issuer, "CN=swtpm-localca");
    assert_eq!(cert.sha256.len(), 64);
}

#[test]
fn refuses_unknown_issuers_other_keys_and_times() {
    let ek = Public::parse(RSA_EK_PUBLIC).unwrap();
    let refused = |r: Result<EkCertificate, AttestError>| match r {
        Err(AttestError::Refused { check, why }) => {
            assert_eq!(check, Check::EkChain);
            why
        }
        other => panic!("expected a refusal, got {other:?}"),
    };
    let why = refused(verify_ek_certificate(
        RSA_EK_CERT,
        &[pem_der(EK_ROOT_PEM)],
        &ek,
        at(2027),
    ));
    assert!(why.contains("swtpm-localca"), "{why}");
    let anchors = vec![pem_der(EK_CA_PEM)];
    let other = Public::parse(ECC_EK_PUBLIC).unwrap();
    let why = refused(verify_ek_certificate(
        RSA_EK_CERT,
        &anchors,
        &other,
        at(2027),
    ));
    assert!(why.contains("another key"), "{why}");
    let why = refused(verify_ek_certificate(RSA_EK_CERT, &anchors, &ek, at(2020)));
    assert!(why.contains("not valid before"), "{why}");
    let mut tampered = RSA_EK_CERT.to_vec();
    let n = tampered.len();
    tampered[n - 5] ^= 1;
    refused(verify_ek_certificate(&tampered, &anchors, &ek, at(2027)));
    assert!(matches!(
        verify_ek_certificate(b"junk", &anchors, &ek, at(2027)),
        Err(AttestError::Malformed { .. })
    ));
}
