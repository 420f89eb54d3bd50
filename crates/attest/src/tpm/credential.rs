//! TPM2_MakeCredential computed outside the TPM (TPM 2.0 Part 1, §24; Part 3, §12.6).

use aes::cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;

use crate::tpm::public::{left_pad, EccCurve, KeyParams};
use crate::tpm::wire::tpm2b;
use crate::{kdf_a, kdf_e, AttestError, Attributes, Check, Public};

/// The label both seed encryptions use ("IDENTITY" with its terminating zero).
pub const CREDENTIAL_LABEL: &str = "IDENTITY";

/// What TPM2_ActivateCredential takes, marshalled as the wire contract says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// TPM2B_ID_OBJECT without its outer size: TPM2B_DIGEST(outer HMAC) ‖ encIdentity.
    pub credential_blob: Vec<u8>,
    /// TPM2B_ENCRYPTED_SECRET without its outer size: the OAEP ciphertext (RSA EK) or the
    /// ephemeral TPMS_ECC_POINT (ECC EK).
    pub encrypted_secret: Vec<u8>,
}

/// Checks the EK is a key credential activation can use: a restricted decryption key with
/// AES-128-CFB as its symmetric algorithm, RSA 2048+ or ECC P-256.
pub fn check_ek(ek: &Public) -> Result<(), AttestError> {
    let refuse = |why: String| AttestError::refused(Check::EkKey, why);
    if !ek
        .attributes
        .has(Attributes::RESTRICTED | Attributes::DECRYPT)
        || ek.attributes.has(Attributes::SIGN)
    {
        return Err(refuse(format!(
            "the EK must be a restricted decryption key (attributes {:#010x})",
            ek.attributes.0
        )));
    }
    if !ek.symmetric.is_aes128_cfb() {
        return Err(refuse(format!(
            "the EK's symmetric algorithm is {:?}, not AES-128-CFB",
            ek.symmetric
        )));
    }
    match &ek.key {
        KeyParams::Rsa { key_bits, .. } if (2048..=4096).contains(key_bits) => Ok(()),
        KeyParams::Ecc {
            curve: EccCurve::P256,
            ..
        } => Ok(()),
        _ => Err(refuse(format!(
            "an EK of type {} is not supported (RSA 2048–4096 or ECC P-256)",
            ek.describe()
        ))),
    }
}

/// Seals `secret` to the TPM holding `ek`, bound to the object named `ak_name`: the TPM releases
/// it only to TPM2_ActivateCredential with both keys loaded.
pub fn make_credential<R: RngCore + CryptoRng>(
    ek: &Public,
    ak_name: &[u8],
    secret: &[u8],
    rng: &mut R,
) -> Result<Credential, AttestError> {
    check_ek(ek)?;
    if secret.len() > 64 {
        return Err(AttestError::Crypto(
            "a credential is at most 64 bytes".into(),
        ));
    }
    let (seed, encrypted_secret) = share_seed(ek, rng)?;
    let sym_key = kdf_a(&seed, "STORAGE", ak_name, b"", 128);
    let mut enc_identity = tpm2b(secret);
    cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&sym_key, &[0u8; 16])
        .map_err(|e| AttestError::Crypto(e.to_string()))?
        .encrypt(&mut enc_identity);
    let hmac_key = kdf_a(&seed, "INTEGRITY", b"", b"", 256);
    let mut mac = Hmac::<Sha256>::new_from_slice(&hmac_key)
        .map_err(|e| AttestError::Crypto(e.to_string()))?;
    mac.update(&enc_identity);
    mac.update(ak_name);
    let outer = mac.finalize().into_bytes();
    let mut credential_blob = tpm2b(&outer);
    credential_blob.extend_from_slice(&enc_identity);
    Ok(Credential {
        credential_blob,
        encrypted_secret,
    })
}

/// A fresh seed (digest-sized) and its encryption to the EK.
fn share_seed<R: RngCore + CryptoRng>(
    ek: &Public,
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<u8>), AttestError> {
    match &ek.key {
        KeyParams::Rsa { .. } => {
            let key = ek
                .rsa_key()
                .ok_or_else(|| AttestError::refused(Check::EkKey, "the RSA EK is malformed"))?;
            let mut seed = vec![0u8; 32];
            rng.fill_bytes(&mut seed);
            let label = format!("{CREDENTIAL_LABEL}\0");
            let padding = rsa::Oaep::new_with_label::<Sha256, _>(label);
            let encrypted = key
                .encrypt(rng, padding, &seed)
                .map_err(|e| AttestError::Crypto(e.to_string()))?;
            Ok((seed, encrypted))
        }
        KeyParams::Ecc { x, .. } => {
            let ek_point = ek.p256_key().ok_or_else(|| {
                AttestError::refused(Check::EkKey, "the EK's point is not on P-256")
            })?;
            let ek_x = left_pad::<32>(x)
                .ok_or_else(|| AttestError::refused(Check::EkKey, "the EK's x is too long"))?;
            let ephemeral = p256::ecdh::EphemeralSecret::random(rng);
            let ephemeral_point = p256::EncodedPoint::from(ephemeral.public_key());
            let (Some(ex), Some(ey)) = (ephemeral_point.x(), ephemeral_point.y()) else {
                return Err(AttestError::Crypto("ephemeral point at infinity".into()));
            };
            let shared = ephemeral.diffie_hellman(&ek_point);
            let seed = kdf_e(shared.raw_secret_bytes(), CREDENTIAL_LABEL, ex, &ek_x, 256);
            let mut point = tpm2b(ex);
            point.extend_from_slice(&tpm2b(ey));
            Ok((seed, point))
        }
    }
}

#[cfg(test)]
mod tests;
