//! PKCS#12 (RFC 7292) bundles: a private key with its certificate chain, under a passphrase
//! (PBES2 with HMAC-SHA256 and AES-256-CBC, HMAC-SHA256 integrity — what OpenSSL 3 writes).

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};

use crate::PkiError;

/// Refuse bundles larger than this before parsing.
const MAX_PKCS12_BYTES: usize = 256 * 1024;

/// A key and its chain taken out of a PKCS#12 bundle.
pub struct Pkcs12Contents {
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// Leaf first, then the issuers, DER.
    pub chain: Vec<Vec<u8>>,
}

/// The fewest characters a passphrase of a bundle written here may have.
pub const PKCS12_MIN_PASSPHRASE_CHARS: usize = 8;

/// The most characters a passphrase of a bundle written here may have.
pub const PKCS12_MAX_PASSPHRASE_CHARS: usize = 1024;

/// Checks that `passphrase` can protect a bundle [`pkcs12_encode`] writes: 8 to 1024
/// characters, none of them NUL, each in Unicode's Basic Multilingual Plane (RFC 7292 B.1
/// encodes passphrases as BMPString, UTF-16 without surrogates, so an emoji cannot be one).
pub fn check_pkcs12_passphrase(passphrase: &str) -> Result<(), PkiError> {
    let chars = passphrase.chars().count();
    if chars < PKCS12_MIN_PASSPHRASE_CHARS {
        return Err(PkiError::Passphrase(format!(
            "the PKCS#12 passphrase has {chars} characters; it needs at least {PKCS12_MIN_PASSPHRASE_CHARS}"
        )));
    }
    if chars > PKCS12_MAX_PASSPHRASE_CHARS {
        return Err(PkiError::Passphrase(format!(
            "the PKCS#12 passphrase has {chars} characters; at most {PKCS12_MAX_PASSPHRASE_CHARS} are allowed"
        )));
    }
    if let Some((position, c)) = passphrase
        .chars()
        .enumerate()
        .find(|(_, c)| !is_bmp(*c) || *c == '\0')
    {
        return Err(PkiError::Passphrase(format!(
            "the PKCS#12 passphrase cannot hold U+{:04X} (character {}): PKCS#12 encodes passphrases as BMPString, which allows only characters up to U+FFFF and no NUL",
            u32::from(c),
            position + 1
        )));
    }
    Ok(())
}

fn is_bmp(c: char) -> bool {
    u32::from(c) <= 0xFFFF
}

/// Bundles `key_pkcs8` (PKCS#8 DER) with `chain` (leaf first, DER) under `passphrase` (see
/// [`check_pkcs12_passphrase`]). Characters of `alias` outside the BMP become U+FFFD.
pub fn pkcs12_encode(
    key_pkcs8: &[u8],
    chain: &[Vec<u8>],
    alias: &str,
    passphrase: &str,
) -> Result<Vec<u8>, PkiError> {
    let certs = chain
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Encoding(format!("certificate for PKCS#12: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| PkiError::Encoding("a PKCS#12 bundle needs a certificate".into()))?;
    check_pkcs12_passphrase(passphrase)?;
    // The alias is a BMPString too (friendlyName).
    let alias: String = alias
        .chars()
        .map(|c| {
            if is_bmp(c) {
                c
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect();
    let local_key_id = crate::sha256_hex(leaf);
    let mut store = KeyStore::new();
    store.add_entry(
        &alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            key_pkcs8,
            &local_key_id.as_bytes()[..20],
            certs,
        )),
    );
    store
        .writer(passphrase)
        .write()
        .map_err(|e| PkiError::Encoding(format!("writing PKCS#12: {e}")))
}

/// Opens a PKCS#12 bundle: the first private key and its chain.
pub fn pkcs12_decode(bundle: &[u8], passphrase: &str) -> Result<Pkcs12Contents, PkiError> {
    if bundle.len() > MAX_PKCS12_BYTES {
        return Err(PkiError::Encoding(format!(
            "PKCS#12 bundle larger than {MAX_PKCS12_BYTES} bytes"
        )));
    }
    let store = KeyStore::from_pkcs12(bundle, passphrase).map_err(|e| {
        PkiError::Encoding(format!(
            "cannot open the PKCS#12 bundle (wrong passphrase or not PKCS#12): {e}"
        ))
    })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| PkiError::Encoding("the PKCS#12 bundle holds no private key".into()))?;
    let chain_der: Vec<Vec<u8>> = chain.chain().iter().map(|c| c.as_der().to_vec()).collect();
    if chain_der.is_empty() {
        return Err(PkiError::Encoding(
            "the PKCS#12 bundle holds no certificate for its key".into(),
        ));
    }
    Ok(Pkcs12Contents {
        key_pkcs8: chain.key().to_vec(),
        chain: chain_der,
    })
}

#[cfg(test)]
mod tests;
