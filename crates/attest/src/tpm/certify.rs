//! The AK, the device key and the TPM2_Certify that binds them.

use crate::tpm::public::{EccCurve, KeyParams};
use crate::{spki_matches, Attest, AttestError, Attributes, Check, Public, Signature};

#[cfg(test)]
mod tests;

/// Checks the AK is a restricted signing key (so it signs only TPM-made structures such as
/// TPMS_ATTEST), cannot leave its TPM, was generated in it, and is ECC P-256 or RSA 2048.
pub fn check_ak(ak: &Public) -> Result<(), AttestError> {
    let required = Attributes::RESTRICTED
        | Attributes::SIGN
        | Attributes::FIXED_TPM
        | Attributes::FIXED_PARENT
        | Attributes::SENSITIVE_DATA_ORIGIN;
    if !ak.attributes.has(required) || ak.attributes.has(Attributes::DECRYPT) {
        return Err(AttestError::refused(
            Check::AkRestrictedSign,
            format!(
                "the AK must be restricted, sign-only, fixedTPM, fixedParent and \
                 sensitiveDataOrigin (attributes {:#010x})",
                ak.attributes.0
            ),
        ));
    }
    if !is_supported_signing_key(ak) {
        return Err(AttestError::refused(
            Check::AkRestrictedSign,
            format!(
                "an AK of type {} is not supported (ECC P-256 or RSA 2048)",
                ak.describe()
            ),
        ));
    }
    Ok(())
}

/// Checks the device key cannot leave its TPM, was generated in it, and is an unrestricted
/// signing-only key of a type certificates are issued for (ECC P-256 or RSA 2048).
pub fn check_device_key(key: &Public) -> Result<(), AttestError> {
    let a = key.attributes;
    let bits = |check, bit, what: &str| {
        if a.has(bit) {
            Ok(())
        } else {
            Err(AttestError::refused(
                check,
                format!("the device key is not {what}"),
            ))
        }
    };
    bits(Check::KeyFixedTpm, Attributes::FIXED_TPM, "fixedTPM")?;
    bits(
        Check::KeyFixedParent,
        Attributes::FIXED_PARENT,
        "fixedParent",
    )?;
    bits(
        Check::KeySensitiveDataOrigin,
        Attributes::SENSITIVE_DATA_ORIGIN,
        "sensitiveDataOrigin",
    )?;
    if !a.has(Attributes::SIGN) || a.has(Attributes::RESTRICTED) || a.has(Attributes::DECRYPT) {
        return Err(AttestError::refused(
            Check::KeySignNotRestricted,
            format!(
                "the device key must be an unrestricted sign-only key (attributes {:#010x})",
                a.0
            ),
        ));
    }
    if !is_supported_signing_key(key) {
        return Err(AttestError::refused(
            Check::CsrKey,
            format!(
                "a device key of type {} is not supported (ECC P-256 or RSA 2048)",
                key.describe()
            ),
        ));
    }
    Ok(())
}

fn is_supported_signing_key(key: &Public) -> bool {
    matches!(
        key.key,
        KeyParams::Ecc {
            curve: EccCurve::P256,
            ..
        } | KeyParams::Rsa { key_bits: 2048, .. }
    )
}

/// The inputs of [`verify_certify`].
#[derive(Clone, Copy, Debug)]
pub struct CertifyCheck<'a> {
    /// The AK (already checked with [`check_ak`] and proven by credential activation).
    pub ak: &'a Public,
    /// The device key's TPMT_PUBLIC.
    pub key: &'a Public,
    /// TPMS_ATTEST bytes from TPM2_Certify.
    pub attest: &'a [u8],
    /// TPMT_SIGNATURE bytes.
    pub signature: &'a [u8],
    /// The nonce the authority handed out with the activation.
    pub nonce: &'a [u8],
    /// DER SubjectPublicKeyInfo of the CSR.
    pub csr_spki_der: &'a [u8],
}

/// What a successful certification proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedKey {
    /// The device key's name.
    pub key_name: Vec<u8>,
    /// The parsed attestation.
    pub attest: Attest,
}

/// Verifies a TPM2_Certify of the device key by the AK: signature, nonce, certified name, the
/// device key's attributes, and that the CSR carries the device key. Each failure names its check.
pub fn verify_certify(input: &CertifyCheck<'_>) -> Result<CertifiedKey, AttestError> {
    let attest = Attest::parse(input.attest).map_err(|e| e.in_field("attest"))?;
    let signature = Signature::parse(input.signature).map_err(|e| e.in_field("signature"))?;
    signature.verify(input.ak, input.attest)?;
    if attest.extra_data != input.nonce {
        return Err(AttestError::refused(
            Check::AttestNonce,
            "the attestation's qualifying data is not this activation's nonce",
        ));
    }
    let key_name = input.key.name();
    if attest.certify.name != key_name {
        return Err(AttestError::refused(
            Check::KeyName,
            "the attestation certifies another key than key_public",
        ));
    }
    check_device_key(input.key)?;
    if !spki_matches(input.key, input.csr_spki_der) {
        return Err(AttestError::refused(
            Check::CsrKey,
            "the CSR's public key is not the certified device key",
        ));
    }
    Ok(CertifiedKey { key_name, attest })
}
