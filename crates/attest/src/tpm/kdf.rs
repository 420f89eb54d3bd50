//! The TPM's key derivation functions (TPM 2.0 Part 1, §11.4.10), composed from HMAC/SHA-256.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// KDFa with SHA-256: SP 800-108 counter mode with HMAC-SHA-256, as TPM 2.0 defines it.
/// `label` gets its terminating zero byte here; the output is `bits` long (a multiple of 8).
pub fn kdf_a(key: &[u8], label: &str, context_u: &[u8], context_v: &[u8], bits: u32) -> Vec<u8> {
    let len = usize::try_from(bits / 8).unwrap_or(0);
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 1;
    while out.len() < len {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            return Vec::new();
        };
        mac.update(&counter.to_be_bytes());
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(context_u);
        mac.update(context_v);
        mac.update(&bits.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// KDFe with SHA-256: the SP 800-56A concatenation KDF as TPM 2.0 uses it for ECDH seeds.
/// `label` gets its terminating zero byte here.
pub fn kdf_e(z: &[u8], label: &str, party_u: &[u8], party_v: &[u8], bits: u32) -> Vec<u8> {
    let len = usize::try_from(bits / 8).unwrap_or(0);
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(counter.to_be_bytes());
        h.update(z);
        h.update(label.as_bytes());
        h.update([0]);
        h.update(party_u);
        h.update(party_v);
        out.extend_from_slice(&h.finalize());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}
