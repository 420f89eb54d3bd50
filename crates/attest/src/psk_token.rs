//! PSK device registration tokens (as Azure DPS symmetric-key group enrollment derives keys):
//! `device_key = HMAC-SHA256(group_key, registration_id)`, and each request carries
//! `Authorization: InkanPSK product="…", registration="…", ts="…", nonce="…", sig="…"` where
//! `sig = HMAC-SHA256(device_key, string_to_sign)` over the method, path, timestamp, nonce and
//! the SHA-256 of the body.

use base64::Engine;
use ring::hmac;
use sha2::{Digest, Sha256};

/// The authorization scheme name.
pub const PSK_SCHEME: &str = "InkanPSK";

/// Why a PSK token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PskError {
    /// The header does not parse.
    #[error("malformed InkanPSK authorization: {0}")]
    Malformed(String),
    /// The signature does not match the derived device key.
    #[error("the PSK token signature does not verify for this registration id")]
    BadSignature,
    /// The timestamp is outside the accepted window.
    #[error(
        "the PSK token timestamp is {} s {} the authority's clock (at most {window_secs} s either way allowed): check the device clock",
        .offset_secs.unsigned_abs(),
        if *.offset_secs > 0 { "ahead of" } else { "behind" }
    )]
    Stale {
        /// The token's time minus the authority's: positive when the device clock is ahead.
        offset_secs: i64,
        /// How far apart the two may be.
        window_secs: i64,
    },
}

/// The key a device with `registration_id` holds.
pub fn derive_device_key(group_key: &[u8], registration_id: &str) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, group_key);
    let tag = hmac::sign(&key, registration_id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// A registration id: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`.
pub fn check_registration_id(id: &str) -> Result<(), PskError> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(PskError::Malformed(
            "a registration id is 1 to 128 characters of A-Z a-z 0-9 . _ : -".into(),
        ));
    }
    Ok(())
}

/// The fields of an `InkanPSK` authorization header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PskToken {
    /// Product id or name.
    pub product: String,
    /// The device's registration id.
    pub registration_id: String,
    /// Unix seconds when the device signed.
    pub timestamp: i64,
    /// Random, single use (base64url, 16 to 64 characters).
    pub nonce: String,
    /// HMAC-SHA256 tag, base64.
    pub signature: String,
}

fn string_to_sign(token: &PskToken, method: &str, path: &str, body: &[u8]) -> String {
    format!(
        "inkan-psk-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        token.product,
        token.registration_id,
        token.timestamp,
        token.nonce,
        hex::encode(Sha256::digest(body)),
    )
}

impl PskToken {
    /// Signs a request for `device_key` and returns the `Authorization` header value.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        device_key: &[u8],
        product: &str,
        registration_id: &str,
        timestamp: i64,
        nonce: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> String {
        let mut token = PskToken {
            product: product.into(),
            registration_id: registration_id.into(),
            timestamp,
            nonce: nonce.into(),
            signature: String::new(),
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, device_key);
        let tag = hmac::sign(&key, string_to_sign(&token, method, path, body).as_bytes());
        token.signature = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
        format!(
            "{PSK_SCHEME} product=\"{}\", registration=\"{}\", ts=\"{}\", nonce=\"{}\", sig=\"{}\"",
            token.product, token.registration_id, token.timestamp, token.nonce, token.signature
        )
    }

    /// Parses an `Authorization` header value (`InkanPSK k="v", …`), strictly.
    pub fn parse(header: &str) -> Result<Self, PskError> {
        let bad = |why: &str| PskError::Malformed(why.to_string());
        if header.len() > 1024 {
            return Err(bad("header longer than 1024 bytes"));
        }
        let rest = header
            .strip_prefix(PSK_SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("expected the InkanPSK scheme"))?;
        let (mut product, mut registration, mut ts, mut nonce, mut sig) =
            (None, None, None, None, None);
        for part in rest.split(',') {
            let (key, value) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| bad("expected key=\"value\" pairs"))?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| bad("values must be quoted"))?;
            let slot = match key {
                "product" => &mut product,
                "registration" => &mut registration,
                "ts" => &mut ts,
                "nonce" => &mut nonce,
                "sig" => &mut sig,
                other => return Err(PskError::Malformed(format!("unknown field {other:?}"))),
            };
            if slot.replace(value.to_string()).is_some() {
                return Err(PskError::Malformed(format!("field {key:?} given twice")));
            }
        }
        let need = |v: Option<String>, name: &str| {
            v.ok_or_else(|| PskError::Malformed(format!("missing field {name:?}")))
        };
        let token = PskToken {
            product: need(product, "product")?,
            registration_id: need(registration, "registration")?,
            timestamp: need(ts, "ts")?
                .parse()
                .map_err(|_| bad("ts must be Unix seconds"))?,
            nonce: need(nonce, "nonce")?,
            signature: need(sig, "sig")?,
        };
        check_registration_id(&token.registration_id)?;
        if token.product.is_empty() || token.product.len() > 64 {
            return Err(bad("product must be 1 to 64 characters"));
        }
        if !(16..=64).contains(&token.nonce.len())
            || !token
                .nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("nonce must be 16 to 64 base64url characters"));
        }
        Ok(token)
    }

    /// Checks the signature (constant time) and the timestamp window.
    pub fn verify(
        &self,
        device_key: &[u8],
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
        window_secs: i64,
    ) -> Result<(), PskError> {
        let tag = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|_| PskError::Malformed("sig must be base64".into()))?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, device_key);
        hmac::verify(
            &key,
            string_to_sign(self, method, path, body).as_bytes(),
            &tag,
        )
        .map_err(|_| PskError::BadSignature)?;
        let offset_secs = self.timestamp.saturating_sub(now);
        if offset_secs.saturating_abs() > window_secs {
            return Err(PskError::Stale {
                offset_secs,
                window_secs,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
