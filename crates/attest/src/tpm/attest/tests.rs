use super::*;
use crate::tpm::test_fixtures::*;

#[test]
fn parses_a_swtpm_certify() {
    let attest = Attest::parse(CERTIFY_ATTEST).unwrap();
    assert_eq!(attest.extra_data, nonce());
    assert_eq!(hex::encode(&attest.certify.name), KEY_NAME_HEX);
    assert_eq!(attest.qualified_signer.len(), 34);
}

#[test]
fn refuses_other_magic_types_and_lengths() {
    let mut magic = CERTIFY_ATTEST.to_vec();
    magic[0] = 0;
    assert!(Attest::parse(&magic)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    let mut quote = CERTIFY_ATTEST.to_vec();
    quote[5] = 0x18;
    assert!(Attest::parse(&quote)
        .unwrap_err()
        .to_string()
        .contains("TPM_ST_ATTEST_CERTIFY"));
    let mut trailing = CERTIFY_ATTEST.to_vec();
    trailing.push(1);
    assert!(Attest::parse(&trailing).is_err());
    mutate_all(CERTIFY_ATTEST, |b| {
        let _ = Attest::parse(b);
    });
}
