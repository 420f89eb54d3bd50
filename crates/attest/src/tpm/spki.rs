//! Comparing a TPM public key with an X.509 SubjectPublicKeyInfo (CSR or EK certificate).

use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::tpm::public::{left_pad, strip_zeros, EccCurve, KeyParams};
use crate::Public;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

/// Whether the DER SubjectPublicKeyInfo `spki_der` holds the same key as `public`
/// (ECC P-256 point, or RSA modulus and exponent).
pub fn spki_matches(public: &Public, spki_der: &[u8]) -> bool {
    match SubjectPublicKeyInfo::from_der(spki_der) {
        Ok(([], spki)) => parsed_matches(public, &spki),
        _ => false,
    }
}

pub(crate) fn parsed_matches(public: &Public, spki: &SubjectPublicKeyInfo<'_>) -> bool {
    let alg = spki.algorithm.algorithm.to_id_string();
    match &public.key {
        KeyParams::Ecc {
            curve: EccCurve::P256,
            x,
            y,
            ..
        } => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            if alg != OID_EC_PUBLIC_KEY || curve.as_deref() != Some(OID_P256) {
                return false;
            }
            let (Some(x), Some(y)) = (left_pad::<32>(x), left_pad::<32>(y)) else {
                return false;
            };
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            spki.subject_public_key.data.as_ref() == point.as_slice()
        }
        KeyParams::Rsa {
            exponent, modulus, ..
        } => {
            if alg != OID_RSA {
                return false;
            }
            let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
                return false;
            };
            let e = if *exponent == 0 { 65_537 } else { *exponent };
            strip_zeros(rsa.modulus) == strip_zeros(modulus)
                && strip_zeros(rsa.exponent) == strip_zeros(&e.to_be_bytes())
        }
        KeyParams::Ecc { .. } => false,
    }
}
