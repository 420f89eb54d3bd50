//! Signed location reports, the example application of paper 004, as RFC 9711 Entity
//! Attestation Tokens: a COSE_Sign1 (RFC 9052, ES256) whose protected header names the signing
//! certificate by its serial (`kid`), over CWT claims `ueid` (256), `nonce` (10), `iat` (6) and
//! `location` (264: latitude 1, longitude 2, accuracy 4). Any COSE library verifies them with
//! the device certificate's key; [`ParsedEat::verify`] is inkan's.

use coset::cbor::value::Value;
use coset::cwt::{ClaimName, ClaimsSet, ClaimsSetBuilder, Timestamp};
use coset::{
    iana, CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable,
};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// EAT `nonce` (10, RFC 9711 §4.1).
const NONCE: iana::CwtClaimName = iana::CwtClaimName::Nonce;
/// EAT `ueid` (256, RFC 9711 §4.2.1).
const UEID: iana::CwtClaimName = iana::CwtClaimName::UEID;
/// EAT `location` (264, RFC 9711 §4.2.10).
const LOCATION: iana::CwtClaimName = iana::CwtClaimName::Location;
/// The largest token accepted.
pub const MAX_EAT_BYTES: usize = 16 * 1024;

/// Why a token was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EatError {
    /// Not a COSE_Sign1 EAT of the expected shape; says why.
    #[error("malformed EAT: {0}")]
    Malformed(String),
    /// The signature does not verify with the certificate's key.
    #[error("the EAT's signature does not verify with the certificate's key")]
    Signature,
}

fn malformed(why: impl Into<String>) -> EatError {
    EatError::Malformed(why.into())
}

/// The UEID of a device named by `uid`: type 0x01 (RAND, RFC 9711 §4.2.1.1) followed by the
/// first 32 bytes of SHA-256("inkan-ueid" ‖ UID) — stable per device, derivable by a verifier
/// from the certificate's `urn:inkan:tee:<uid>`.
pub fn ueid_of(uid: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"inkan-ueid");
    hasher.update(uid.as_bytes());
    let mut ueid = vec![0x01];
    ueid.extend_from_slice(&hasher.finalize());
    ueid
}

/// What a location report says.
#[derive(Clone, Debug, PartialEq)]
pub struct LocationClaims {
    /// The device's UEID.
    pub ueid: Vec<u8>,
    /// The verifier's challenge.
    pub nonce: Vec<u8>,
    /// Unix seconds.
    pub iat: i64,
    /// Degrees, WGS84.
    pub latitude: f64,
    /// Degrees, WGS84.
    pub longitude: f64,
    /// Metres, if known.
    pub accuracy: Option<f64>,
}

/// A location report built and waiting for its signature: sign [`UnsignedEat::to_be_signed`]
/// with the device key (ECDSA P-256, SHA-256), then [`UnsignedEat::finish`].
#[derive(Clone, Debug)]
pub struct UnsignedEat {
    sign1: CoseSign1,
}

impl UnsignedEat {
    /// A report signed by the certificate with serial `kid` (its hex text, as bytes).
    pub fn location(kid: &str, claims: &LocationClaims) -> Result<Self, EatError> {
        if !(-90.0..=90.0).contains(&claims.latitude)
            || !(-180.0..=180.0).contains(&claims.longitude)
        {
            return Err(malformed(
                "latitude must be -90 to 90 and longitude -180 to 180",
            ));
        }
        let mut location = vec![
            (Value::Integer(1.into()), Value::Float(claims.latitude)),
            (Value::Integer(2.into()), Value::Float(claims.longitude)),
        ];
        if let Some(accuracy) = claims.accuracy {
            location.push((Value::Integer(4.into()), Value::Float(accuracy)));
        }
        let payload = ClaimsSetBuilder::new()
            .issued_at(Timestamp::WholeSeconds(claims.iat))
            .claim(NONCE, Value::Bytes(claims.nonce.clone()))
            .claim(UEID, Value::Bytes(claims.ueid.clone()))
            .claim(LOCATION, Value::Map(location))
            .build()
            .to_vec()
            .map_err(|e| malformed(e.to_string()))?;
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .key_id(kid.as_bytes().to_vec())
            .build();
        Ok(Self {
            sign1: CoseSign1Builder::new()
                .protected(protected)
                .payload(payload)
                .build(),
        })
    }

    /// The COSE Sig_structure to sign.
    pub fn to_be_signed(&self) -> Vec<u8> {
        self.sign1.tbs_data(&[])
    }

    /// The tagged COSE_Sign1, with `der_signature` (an ASN.1 ECDSA signature, as keys sign)
    /// turned into COSE's fixed r ‖ s form.
    pub fn finish(mut self, der_signature: &[u8]) -> Result<Vec<u8>, EatError> {
        let signature = Signature::from_der(der_signature)
            .map_err(|_| malformed("not a DER ECDSA P-256 signature"))?;
        self.sign1.signature = signature.to_bytes().to_vec();
        self.sign1
            .to_tagged_vec()
            .map_err(|e| malformed(e.to_string()))
    }
}

/// A token read but not yet verified.
#[derive(Clone, Debug)]
pub struct ParsedEat {
    sign1: CoseSign1,
    /// The signing certificate's serial (the `kid`).
    pub kid: String,
    /// Its claims.
    pub claims: LocationClaims,
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => i64::try_from(*i).ok().map(|i| i as f64),
        _ => None,
    }
}

impl ParsedEat {
    /// Reads a COSE_Sign1 (tagged or not) with ES256, a text `kid` and location claims.
    pub fn parse(token: &[u8]) -> Result<Self, EatError> {
        if token.len() > MAX_EAT_BYTES {
            return Err(malformed(format!("larger than {MAX_EAT_BYTES} bytes")));
        }
        let sign1 = CoseSign1::from_tagged_slice(token)
            .or_else(|_| CoseSign1::from_slice(token))
            .map_err(|e| malformed(format!("not a COSE_Sign1: {e}")))?;
        let header = &sign1.protected.header;
        if header.alg
            != Some(coset::RegisteredLabelWithPrivate::Assigned(
                iana::Algorithm::ES256,
            ))
        {
            return Err(malformed("the protected header's alg must be ES256 (-7)"));
        }
        let kid = String::from_utf8(header.key_id.clone())
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 40 && k.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| malformed("the protected kid must be the certificate serial in hex"))?;
        let payload = sign1
            .payload
            .as_deref()
            .ok_or_else(|| malformed("no payload (detached payloads are not accepted)"))?;
        let set = ClaimsSet::from_slice(payload).map_err(|e| malformed(format!("claims: {e}")))?;
        let iat = match set.issued_at {
            Some(Timestamp::WholeSeconds(s)) => s,
            _ => return Err(malformed("iat (6) must be whole seconds")),
        };
        let claim = |id: iana::CwtClaimName| {
            set.rest
                .iter()
                .find(|(name, _)| *name == ClaimName::Assigned(id))
                .map(|(_, v)| v)
        };
        let bytes = |id: iana::CwtClaimName, name: &str| match claim(id) {
            Some(Value::Bytes(b)) if !b.is_empty() && b.len() <= 64 => Ok(b.clone()),
            _ => Err(malformed(format!("{name} must be 1 to 64 bytes"))),
        };
        let ueid = bytes(UEID, "ueid")?;
        let nonce = bytes(NONCE, "nonce")?;
        let Some(Value::Map(location)) = claim(LOCATION) else {
            return Err(malformed("location (264) must be a map"));
        };
        let field = |key: i64| {
            location
                .iter()
                .find(|(k, _)| matches!(k, Value::Integer(i) if i64::try_from(*i) == Ok(key)))
                .and_then(|(_, v)| as_f64(v))
        };
        let (Some(latitude), Some(longitude)) = (field(1), field(2)) else {
            return Err(malformed("location needs latitude (1) and longitude (2)"));
        };
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
            return Err(malformed("latitude or longitude out of range"));
        }
        Ok(Self {
            claims: LocationClaims {
                ueid,
                nonce,
                iat,
                latitude,
                longitude,
                accuracy: field(4),
            },
            kid: kid.to_ascii_lowercase(),
            sign1,
        })
    }

    /// Checks the signature with the certificate's key (DER SubjectPublicKeyInfo, P-256).
    pub fn verify(&self, spki_der: &[u8]) -> Result<(), EatError> {
        let key = VerifyingKey::from_public_key_der(spki_der)
            .map_err(|_| malformed("the certificate's key is not a P-256 key"))?;
        self.sign1.verify_signature(&[], |signature, tbs| {
            let signature = Signature::from_slice(signature).map_err(|_| EatError::Signature)?;
            key.verify(tbs, &signature).map_err(|_| EatError::Signature)
        })
    }
}

#[cfg(test)]
mod tests;
