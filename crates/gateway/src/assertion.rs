//! The signed identity assertion: a compact JWS (ES256) carrying the same claims as the
//! `X-Inkan-*` headers, so an upstream can verify they came from this gateway even where other
//! hops could add headers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use crate::identity::ClientIdentity;

/// How long an assertion is valid.
const LIFETIME_SECONDS: i64 = 60;

/// Signs assertions with a P-256 key.
pub struct AssertionSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    key_id: String,
}

impl AssertionSigner {
    /// A signer from a PKCS#8 P-256 key; its key id is the SHA-256 of the public key (hex, 16).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| format!("the assertion key must be a P-256 PKCS#8 key: {e}"))?;
        let key_id = inkan_pki::sha256_hex(key.public_key().as_ref())[..16].to_string();
        Ok(Self { key, rng, key_id })
    }

    /// `header.claims.signature`, base64url, for this identity, issued at `now` (Unix seconds)
    /// for `audience` (the requested host).
    pub fn sign(&self, identity: &ClientIdentity, audience: &str, now: i64) -> Option<String> {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.key_id});
        let claims = json!({
            "iss": "inkan-gateway",
            "sub": identity.subject,
            "serial": identity.serial,
            "level": identity.level,
            "device": identity.device,
            "product": identity.product,
            "linked_device": identity.linked,
            "account": identity.account,
            "aud": audience,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key.sign(&self.rng, signing_input.as_bytes()).ok()?;
        Some(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertions_verify_with_the_public_key() {
        let key = inkan_pki::GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256).unwrap();
        let signer = AssertionSigner::from_pkcs8(key.pkcs8_der()).unwrap();
        let identity = ClientIdentity {
            card: None,
            serial: "abc".into(),
            subject: "CN=d".into(),
            level: Some(2),
            not_after: 0,
            escaped_pem: String::new(),
            device: None,
            product: None,
            linked: None,
            account: None,
        };
        let jws = signer.sign(&identity, "app.example", 1000).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["serial"], "abc");
        assert_eq!(claims["exp"], 1060);
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            signer.key.public_key().as_ref().to_vec(),
        );
        let message = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(
                message.as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
    }
}
