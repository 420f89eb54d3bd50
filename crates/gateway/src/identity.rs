//! Who a client certificate says the client is, verified once per certificate (not per
//! request): chain to the configured CAs with rustls-webpki, client-auth usage, validity.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use inkan_pki::{certs_from_pem, der_to_pem, verify_chain, CertificateInfo, ChainUsage, PolicyArc};
use time::OffsetDateTime;

use crate::GatewayError;

/// Results remembered before the cache is cleared (bounds memory under a flood of new certs).
const CACHE_LIMIT: usize = 100_000;

/// A verified client.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    /// Serial (hex).
    pub serial: String,
    /// Subject text.
    pub subject: String,
    /// Assurance level, from the certificate's policy OID under the configured arc.
    pub level: Option<u8>,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The certificate as URL-encoded PEM (as nginx's `$ssl_client_escaped_cert`).
    pub escaped_pem: String,
    /// The inkan device id (`urn:inkan:device:<id>` SAN), for bootstrapped device certificates.
    pub device: Option<String>,
    /// The inkan product id (`urn:inkan:product:<id>` SAN).
    pub product: Option<String>,
    /// A linked device's registration number (`urn:inkan:linked:<registration>` SAN).
    pub linked: Option<String>,
    /// The account of a linked device (`urn:inkan:account:<id>` SAN).
    pub account: Option<String>,
    /// For a card session: its segment, card and user (no certificate then: `serial` and
    /// `escaped_pem` are empty).
    pub card: Option<CardIdentity>,
}

/// Who a card session is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardIdentity {
    /// The segment.
    pub segment: String,
    /// The card's IDm (16 lowercase hex digits).
    pub idm: String,
    /// The level-3 user, or the level-1 card's holder.
    pub user: Option<String>,
}

/// Verifies client certificate chains and remembers the outcome by certificate.
pub struct IdentityVerifier {
    roots: Vec<Vec<u8>>,
    intermediates: Vec<Vec<u8>>,
    policy_arc: PolicyArc,
    cache: Mutex<HashMap<String, Result<Arc<ClientIdentity>, String>>>,
}

impl IdentityVerifier {
    /// Reads CA certificates; self-signed ones become trust anchors, the rest intermediates.
    /// Levels are read under `policy_arc` (the authority's `pki.policy_arc`).
    pub fn from_files(files: &[PathBuf], policy_arc: PolicyArc) -> Result<Self, GatewayError> {
        let mut roots = Vec::new();
        let mut intermediates = Vec::new();
        for file in files {
            let pem = std::fs::read(file).map_err(|e| GatewayError::file(file, e))?;
            for der in certs_from_pem(&pem).map_err(|e| GatewayError::file(file, e))? {
                let info = CertificateInfo::parse(&der).map_err(|e| GatewayError::file(file, e))?;
                if info.issuer == info.subject {
                    roots.push(der);
                } else {
                    intermediates.push(der);
                }
            }
        }
        if roots.is_empty() {
            return Err(GatewayError::Config(
                "client_ca files hold no self-signed root certificate".into(),
            ));
        }
        Ok(Self {
            roots,
            intermediates,
            policy_arc,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The identity in a presented chain (leaf first), or why it is not accepted.
    pub fn verify(
        &self,
        chain: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<Arc<ClientIdentity>, String> {
        let leaf = chain.first().ok_or("no client certificate")?;
        let key = inkan_pki::sha256_hex(leaf);
        let cached = self.cache.lock().ok().and_then(|c| c.get(&key).cloned());
        let result = match cached {
            Some(r) => r,
            None => {
                let r = self.verify_uncached(chain, now);
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(key, r.clone());
                }
                r
            }
        };
        let identity = result?;
        if now.unix_timestamp() > identity.not_after {
            return Err("the certificate has expired".into());
        }
        Ok(identity)
    }

    fn verify_uncached(
        &self,
        chain: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<Arc<ClientIdentity>, String> {
        let leaf = &chain[0];
        let mut intermediates = self.intermediates.clone();
        intermediates.extend(chain.iter().skip(1).cloned());
        verify_chain(
            leaf,
            &intermediates,
            &self.roots,
            ChainUsage::ClientAuth,
            now,
        )
        .map_err(|e| e.to_string())?;
        let info =
            CertificateInfo::parse_with_arc(leaf, &self.policy_arc).map_err(|e| e.to_string())?;
        let uri = |prefix: &str| {
            info.sans.iter().find_map(|s| match s {
                inkan_pki::San::Uri(u) => u.strip_prefix(prefix).map(str::to_string),
                _ => None,
            })
        };
        let (device, product) = (uri("urn:inkan:device:"), uri("urn:inkan:product:"));
        let (linked, account) = (uri("urn:inkan:linked:"), uri("urn:inkan:account:"));
        Ok(Arc::new(ClientIdentity {
            device,
            product,
            linked,
            account,
            card: None,
            serial: info.serial,
            subject: info.subject,
            level: info.level,
            not_after: info.not_after,
            escaped_pem: url_escape(&der_to_pem("CERTIFICATE", leaf)),
        }))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
