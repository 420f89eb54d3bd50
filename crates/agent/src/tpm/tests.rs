use super::{der_prefix, ecdsa_der, parse_handle};

#[test]
fn der_prefix_trims_nv_padding() {
    let cert = [0x30, 0x03, 0x02, 0x01, 0x05];
    let mut padded = cert.to_vec();
    padded.extend_from_slice(&[0xff; 7]);
    assert_eq!(der_prefix(&padded).unwrap(), cert);
    assert!(der_prefix(&[0x30, 0x05, 0x01]).is_none());
    assert!(der_prefix(&[]).is_none());
}

#[test]
fn ecdsa_signature_der_keeps_integers_positive_and_minimal() {
    let r = [0x80; 32];
    let mut s = [0x00; 32];
    s[31] = 1;
    let der = ecdsa_der(&r, &s).unwrap();
    // SEQUENCE { INTEGER 00 80.. (33 bytes), INTEGER 01 }
    assert_eq!(&der[..4], &[0x30, 38, 0x02, 33]);
    assert_eq!(der[4], 0x00);
    assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
}

#[test]
fn handles_parse_in_hex_or_decimal() {
    assert_eq!(parse_handle("0x81000101").unwrap(), 0x8100_0101);
    assert_eq!(parse_handle("2164261121").unwrap(), 0x8100_0101);
    assert!(parse_handle("0xzz").unwrap_err().contains("0x81000101"));
}
