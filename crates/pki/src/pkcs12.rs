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

/// Bundles `key_pkcs8` (PKCS#8 DER) with `chain` (leaf first, DER) under `passphrase`.
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
    let local_key_id = crate::sha256_hex(leaf);
    let mut store = KeyStore::new();
    store.add_entry(
        alias,
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
