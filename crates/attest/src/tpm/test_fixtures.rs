//! Bytes captured from swtpm 0.7.1 with tpm2-tools 5.4 (see tests/fixtures/README.md).

pub(crate) const RSA_EK_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/rsa_ek_public.bin");
pub(crate) const ECC_EK_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/ecc_ek_public.bin");
pub(crate) const AK_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/ak_public.bin");
pub(crate) const KEY_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/key_public.bin");
pub(crate) const CERTIFY_ATTEST: &[u8] = include_bytes!("../../tests/fixtures/certify_attest.bin");
pub(crate) const CERTIFY_SIGNATURE: &[u8] =
    include_bytes!("../../tests/fixtures/certify_signature.bin");
pub(crate) const RSA_EK_CERT: &[u8] = include_bytes!("../../tests/fixtures/rsa_ek_cert.der");
pub(crate) const EK_CA_PEM: &[u8] = include_bytes!("../../tests/fixtures/ek_ca.pem");
pub(crate) const EK_ROOT_PEM: &[u8] = include_bytes!("../../tests/fixtures/ek_root.pem");
/// The AK's name as tpm2_createak printed it.
pub(crate) const AK_NAME_HEX: &str =
    "000bd48890c3391761628fa7629a5e3fcb5ea8ca29711568b490155640ff295542a4";
/// The device key's name as tpm2_load printed it.
pub(crate) const KEY_NAME_HEX: &str =
    "000b80ed4471876b2943d739547d6e2899bf3652be70a2966f9088373b371072d026";

/// The nonce the certify fixture was made with.
pub(crate) fn nonce() -> Vec<u8> {
    (0u8..32).collect()
}

pub(crate) fn pem_der(pem: &[u8]) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem)
        .map(|(_, p)| p.contents)
        .unwrap_or_default()
}

/// A DER SubjectPublicKeyInfo for a P-256 point.
pub(crate) fn p256_spki(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    ];
    der.extend_from_slice(x);
    der.extend_from_slice(y);
    der
}

/// The device key fixture's SubjectPublicKeyInfo.
pub(crate) fn key_spki() -> Vec<u8> {
    match crate::Public::parse(KEY_PUBLIC).map(|p| p.key) {
        Ok(crate::KeyParams::Ecc { x, y, .. }) => p256_spki(&x, &y),
        _ => Vec::new(),
    }
}

/// Every truncation and every single-byte change of `bytes` must parse or fail, never panic.
pub(crate) fn mutate_all(bytes: &[u8], parse: impl Fn(&[u8])) {
    for len in 0..bytes.len() {
        parse(bytes.get(..len).unwrap_or_default());
    }
    for i in 0..bytes.len() {
        for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut m = bytes.to_vec();
            if let Some(b) = m.get_mut(i) {
                *b = v;
            }
            parse(&m);
        }
    }
}
