//! TPMT_PUBLIC (TPM 2.0 Part 2, §12.2.4) for RSA and ECC keys, and object names.

use p256::elliptic_curve::sec1::FromEncodedPoint;
use sha2::{Digest, Sha256};

use crate::tpm::wire::Reader;
use crate::AttestError;

/// TPM_ALG_SHA256.
pub const ALG_SHA256: u16 = 0x000B;
const ALG_RSA: u16 = 0x0001;
const ALG_ECC: u16 = 0x0023;
const ALG_NULL: u16 = 0x0010;
const ALG_AES: u16 = 0x0006;
const ALG_CFB: u16 = 0x0043;
const ALG_RSAES: u16 = 0x0015;
const ALG_ECDAA: u16 = 0x001A;
const ECC_NIST_P256: u16 = 0x0003;
const ECC_NIST_P384: u16 = 0x0004;

/// TPMA_OBJECT bits inkan checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes(pub u32);

impl Attributes {
    /// fixedTPM: the object cannot be duplicated out of its TPM.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// fixedParent: the object cannot be duplicated to another parent.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// sensitiveDataOrigin: the TPM generated the private part.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// userWithAuth.
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    /// adminWithPolicy.
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    /// restricted: signs only TPM-generated data (or decrypts only TPM structures).
    pub const RESTRICTED: u32 = 1 << 16;
    /// decrypt.
    pub const DECRYPT: u32 = 1 << 17;
    /// sign / encrypt.
    pub const SIGN: u32 = 1 << 18;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }
}

/// A symmetric definition (TPMT_SYM_DEF_OBJECT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symmetric {
    /// TPM_ALG_NULL.
    Null,
    /// A cipher.
    Cipher {
        /// The algorithm (TPM_ALG_AES = 0x0006).
        algorithm: u16,
        /// Key size in bits.
        key_bits: u16,
        /// The mode (TPM_ALG_CFB = 0x0043).
        mode: u16,
    },
}

impl Symmetric {
    /// Whether this is AES-128 in CFB mode, the one EK symmetric definition inkan supports.
    pub fn is_aes128_cfb(self) -> bool {
        self == Self::Cipher {
            algorithm: ALG_AES,
            key_bits: 128,
            mode: ALG_CFB,
        }
    }
}

/// ECC curves inkan recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EccCurve {
    /// NIST P-256.
    P256,
    /// NIST P-384 (parsed, not supported for credential activation or signatures).
    P384,
}

/// The key-type specific part of a TPMT_PUBLIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyParams {
    /// An RSA key.
    Rsa {
        /// Key size in bits.
        key_bits: u16,
        /// Public exponent as marshalled (0 means 65537).
        exponent: u32,
        /// The modulus, big-endian.
        modulus: Vec<u8>,
        /// Signing or decryption scheme (TPM_ALG_*), TPM_ALG_NULL when none.
        scheme: u16,
    },
    /// An ECC key.
    Ecc {
        /// The curve.
        curve: EccCurve,
        /// X coordinate, big-endian, as marshalled.
        x: Vec<u8>,
        /// Y coordinate, big-endian, as marshalled.
        y: Vec<u8>,
        /// Signing scheme (TPM_ALG_*), TPM_ALG_NULL when none.
        scheme: u16,
    },
}

/// A parsed TPMT_PUBLIC with the exact bytes it came from (its name is computed over them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Public {
    /// The name algorithm (TPM_ALG_SHA256 = 0x000B is the only one accepted).
    pub name_alg: u16,
    /// objectAttributes.
    pub attributes: Attributes,
    /// authPolicy digest.
    pub auth_policy: Vec<u8>,
    /// The symmetric definition (meaningful for storage keys such as the EK).
    pub symmetric: Symmetric,
    /// Algorithm-specific parameters and the public key.
    pub key: KeyParams,
    raw: Vec<u8>,
}

impl Public {
    /// Parses TPMT_PUBLIC bytes (no TPM2B size prefix) strictly: known types only, bounded sizes,
    /// no trailing bytes, SHA-256 name algorithm.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestError> {
        let mut r = Reader::new("TPMT_PUBLIC", bytes)?;
        let key_type = r.u16("type")?;
        let name_alg = r.u16("nameAlg")?;
        if name_alg != ALG_SHA256 {
            return Err(r.error(format!("nameAlg {name_alg:#06x} is not SHA-256")));
        }
        let attributes = Attributes(r.u32("objectAttributes")?);
        let auth_policy = r.tpm2b(64, "authPolicy")?.to_vec();
        let symmetric = symmetric(&mut r)?;
        let key = match key_type {
            ALG_RSA => {
                let scheme = scheme(&mut r, "RSA scheme")?;
                let key_bits = r.u16("keyBits")?;
                let exponent = r.u32("exponent")?;
                let modulus = r.tpm2b(512, "unique.rsa")?.to_vec();
                if usize::from(key_bits) != modulus.len() * 8 {
                    return Err(r.error(format!(
                        "keyBits {key_bits} but a {}-byte modulus",
                        modulus.len()
                    )));
                }
                KeyParams::Rsa {
                    key_bits,
                    exponent,
                    modulus,
                    scheme,
                }
            }
            ALG_ECC => {
                let scheme = scheme(&mut r, "ECC scheme")?;
                let curve = match r.u16("curveID")? {
                    ECC_NIST_P256 => EccCurve::P256,
                    ECC_NIST_P384 => EccCurve::P384,
                    other => return Err(r.error(format!("curve {other:#06x} is not supported"))),
                };
                let kdf = r.u16("kdf")?;
                if kdf != ALG_NULL {
                    r.u16("kdf hashAlg")?;
                }
                let x = r.tpm2b(128, "unique.ecc.x")?.to_vec();
                let y = r.tpm2b(128, "unique.ecc.y")?.to_vec();
                KeyParams::Ecc {
                    curve,
                    x,
                    y,
                    scheme,
                }
            }
            other => return Err(r.error(format!("type {other:#06x} is not RSA or ECC"))),
        };
        r.finish()?;
        Ok(Self {
            name_alg,
            attributes,
            auth_policy,
            symmetric,
            key,
            raw: bytes.to_vec(),
        })
    }

    /// The marshalled bytes this was parsed from.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The object's name: nameAlg ‖ SHA-256(TPMT_PUBLIC).
    pub fn name(&self) -> Vec<u8> {
        let mut name = ALG_SHA256.to_be_bytes().to_vec();
        name.extend_from_slice(&Sha256::digest(&self.raw));
        name
    }

    /// A short description ("RSA-2048", "ECC P-256") for messages.
    pub fn describe(&self) -> String {
        match &self.key {
            KeyParams::Rsa { key_bits, .. } => format!("RSA-{key_bits}"),
            KeyParams::Ecc { curve, .. } => format!("ECC {curve:?}"),
        }
    }

    /// The RSA public key, for RSA keys of 2048 to 4096 bits.
    pub(crate) fn rsa_key(&self) -> Option<rsa::RsaPublicKey> {
        let KeyParams::Rsa {
            exponent, modulus, ..
        } = &self.key
        else {
            return None;
        };
        let e = if *exponent == 0 { 65_537 } else { *exponent };
        rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(modulus), rsa::BigUint::from(e)).ok()
    }

    /// The P-256 public key, for P-256 keys whose point is on the curve.
    pub(crate) fn p256_key(&self) -> Option<p256::PublicKey> {
        let KeyParams::Ecc {
            curve: EccCurve::P256,
            x,
            y,
            ..
        } = &self.key
        else {
            return None;
        };
        let x = left_pad::<32>(x)?;
        let y = left_pad::<32>(y)?;
        let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
        Option::from(p256::PublicKey::from_encoded_point(&point))
    }
}

/// `value` as exactly N bytes, left-padded with zeros (TPMs may drop leading zero bytes).
pub(crate) fn left_pad<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    let trimmed = strip_zeros(value);
    let mut out = [0u8; N];
    let start = N.checked_sub(trimmed.len())?;
    out.get_mut(start..)?.copy_from_slice(trimmed);
    Some(out)
}

pub(crate) fn strip_zeros(value: &[u8]) -> &[u8] {
    let first = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    value.get(first..).unwrap_or_default()
}

fn symmetric(r: &mut Reader<'_>) -> Result<Symmetric, AttestError> {
    let algorithm = r.u16("symmetric.algorithm")?;
    if algorithm == ALG_NULL {
        return Ok(Symmetric::Null);
    }
    let key_bits = r.u16("symmetric.keyBits")?;
    let mode = r.u16("symmetric.mode")?;
    Ok(Symmetric::Cipher {
        algorithm,
        key_bits,
        mode,
    })
}

fn scheme(r: &mut Reader<'_>, field: &str) -> Result<u16, AttestError> {
    let scheme = r.u16(field)?;
    match scheme {
        ALG_NULL | ALG_RSAES => {}
        ALG_ECDAA => {
            r.u16(field)?;
            r.u16(field)?;
        }
        _ => {
            r.u16(field)?;
        }
    }
    Ok(scheme)
}

#[cfg(test)]
mod tests;
