//! The OCSP responder: answers from pre-signed responses when it can (a hit costs no
//! signature), signs otherwise, and forgets a certificate's responses the moment it is revoked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use inkan_pki::{
    malformed_response, parse_ocsp_request, unauthorized_response, OcspIssuer, OcspResponder,
    OcspStatus, RevocationReason,
};
use inkan_store::CertificateStatus;
use time::OffsetDateTime;

use crate::{Authority, AuthorityError};

/// Responses for one certificate, by the DER of the CertID they answer.
type PerCertificate = HashMap<Vec<u8>, Cached>;

struct Cached {
    der: Bytes,
    refresh_at: i64,
}

/// Pre-signed responses for at most `capacity` certificates, in two generations: new entries
/// go into `current`; when it holds half the capacity it becomes `previous` (whose entries are
/// dropped), and a hit in `previous` moves back into `current`. Recently asked-about
/// certificates stay, memory stays bounded, and every step is O(1).
struct Cache {
    current: HashMap<String, PerCertificate>,
    previous: HashMap<String, PerCertificate>,
    capacity: usize,
}

impl Cache {
    /// The response to `cert_id` for `serial`, if one is kept and still fresh at `now` (unix
    /// seconds): one hash lookup when the certificate is in the current generation.
    fn fresh(&mut self, serial: &str, cert_id: &[u8], now: i64) -> Option<Bytes> {
        let pick = |responses: &PerCertificate| {
            responses
                .get(cert_id)
                .filter(|cached| now < cached.refresh_at)
                .map(|cached| cached.der.clone())
        };
        if let Some(responses) = self.current.get(serial) {
            return pick(responses);
        }
        let moved = self.previous.remove(serial)?;
        let answer = pick(&moved);
        self.make_room();
        self.current.insert(serial.to_string(), moved);
        answer
    }

    fn entry(&mut self, serial: &str) -> &mut PerCertificate {
        let moved = if self.current.contains_key(serial) {
            None
        } else {
            let moved = self.previous.remove(serial);
            self.make_room();
            moved
        };
        self.current
            .entry(serial.to_string())
            .or_insert_with(|| moved.unwrap_or_default())
    }

    /// Ages the current generation into the previous one once it holds half the capacity.
    fn make_room(&mut self) {
        if self.current.len() >= self.capacity.div_ceil(2) {
            self.previous = std::mem::take(&mut self.current);
        }
    }

    fn remove(&mut self, serial: &str) {
        self.current.remove(serial);
        self.previous.remove(serial);
    }

    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// Pre-signed OCSP responses and the logic to answer a request.
pub struct OcspService {
    issuer: OcspIssuer,
    validity: Duration,
    cache: Mutex<Cache>,
}

impl OcspService {
    /// A responder for `issuer` whose responses are valid for `validity`, keeping pre-signed
    /// responses for at most `cache_capacity` certificates (at least 2).
    pub(crate) fn new(issuer: OcspIssuer, validity: Duration, cache_capacity: usize) -> Self {
        Self {
            issuer,
            validity,
            cache: Mutex::new(Cache {
                current: HashMap::new(),
                previous: HashMap::new(),
                capacity: cache_capacity.max(2),
            }),
        }
    }

    /// Drops every cached response for `serial` (it was just revoked).
    pub fn invalidate(&self, serial: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(serial);
        }
    }

    /// How many certificates have pre-signed responses in memory.
    pub fn cached_certificates(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// How long a response is valid (nextUpdate - thisUpdate).
    pub fn validity(&self) -> Duration {
        self.validity
    }

    /// Answers a DER OCSPRequest with a DER OCSPResponse: `malformedRequest` for junk,
    /// `unauthorized` for issuers this responder does not serve, else a signed response. A
    /// failure on this side (the database, signing) is an error, for the caller to answer
    /// with the OCSP status its error table gives.
    pub async fn respond(
        &self,
        authority: &Authority,
        request: &[u8],
    ) -> Result<Bytes, AuthorityError> {
        let info = match parse_ocsp_request(request, &self.issuer) {
            Ok(info) => info,
            Err(_) => return Ok(Bytes::from(malformed_response())),
        };
        if !info.queries.iter().any(|q| q.ours) {
            return Ok(Bytes::from(unauthorized_response()));
        }
        let now = authority.now();
        let cacheable = info.queries.len() == 1 && info.nonce.is_none();
        if cacheable {
            if let Some(hit) =
                self.lookup(&info.queries[0].serial, &info.queries[0].cert_id_der, now)
            {
                authority.metrics().ocsp(true);
                return Ok(hit);
            }
            authority.metrics().ocsp(false);
        }
        let mut answers = Vec::with_capacity(info.queries.len());
        for query in &info.queries {
            let status = if query.ours {
                self.status(authority, &query.serial).await?
            } else {
                OcspStatus::Unknown
            };
            answers.push((query.cert_id.clone(), status));
        }
        let der = Bytes::from(OcspResponder::new(authority.ca()).sign(
            &answers,
            info.nonce.as_ref(),
            now,
            self.validity,
        )?);
        if let (true, Some((_, status))) = (cacheable, answers.first()) {
            if *status != OcspStatus::Unknown {
                self.store(
                    &info.queries[0].serial,
                    info.queries[0].cert_id_der.clone(),
                    der.clone(),
                    now,
                );
            }
        }
        Ok(der)
    }

    async fn status(
        &self,
        authority: &Authority,
        serial: &str,
    ) -> Result<OcspStatus, AuthorityError> {
        let record = authority.store().certificate(serial).await?;
        Ok(match record {
            Some(r) if r.issuer_id == authority.issuer_id() => match r.status {
                CertificateStatus::Valid => OcspStatus::Good,
                CertificateStatus::Revoked => OcspStatus::Revoked {
                    at: r
                        .revoked_at
                        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    reason: r
                        .revocation_reason
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(RevocationReason::Unspecified),
                },
            },
            _ => OcspStatus::Unknown,
        })
    }

    fn lookup(&self, serial: &str, cert_id: &[u8], now: OffsetDateTime) -> Option<Bytes> {
        let mut cache = self.cache.lock().ok()?;
        cache.fresh(serial, cert_id, now.unix_timestamp())
    }

    fn store(&self, serial: &str, cert_id: Vec<u8>, der: Bytes, now: OffsetDateTime) {
        // Re-sign once half the validity has passed, well before nextUpdate.
        let half = i64::try_from(self.validity.as_secs() / 2).unwrap_or(i64::MAX);
        if let Ok(mut cache) = self.cache.lock() {
            cache.entry(serial).insert(
                cert_id,
                Cached {
                    der,
                    refresh_at: now.unix_timestamp().saturating_add(half),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests;
