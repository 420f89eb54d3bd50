use super::*;

#[test]
fn level_oid_parses_back_with_an_independent_decoder() {
    let der = tlv(0x06, &level_policy_oid_der(3));
    let (_, oid) = x509_parser::der_parser::der::parse_der_oid(&der).unwrap();
    let oid = oid.as_oid().unwrap();
    assert_eq!(oid.to_id_string(), level_policy_oid(3));
}

#[test]
fn small_arcs_encode_like_the_spec_example() {
    // 1.2.840.113549 from X.690 8.19.5
    assert_eq!(
        oid_content(&[42, 840, 113549]),
        vec![0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
    );
}

#[test]
fn long_lengths_use_the_long_form() {
    let content = vec![0u8; 300];
    let out = tlv(0x04, &content);
    assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
    assert_eq!(out.len(), 304);
}
