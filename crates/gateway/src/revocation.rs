//! The gateway's view of revocation: a set of revoked serials, filled from CRL files and kept
//! current by following the authority's revocation stream (resuming by sequence after a
//! disconnect).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use inkan_client::{HttpConnection, HttpTarget};

/// Revoked serials and how fresh that knowledge is.
pub struct RevokedSet {
    serials: RwLock<HashSet<String>>,
    last_seq: AtomicI64,
    last_contact: Mutex<Option<Instant>>,
    fail_closed_after: Option<Duration>,
}

impl RevokedSet {
    /// An empty set; `fail_closed_after` makes [`RevokedSet::is_stale`] meaningful.
    pub fn new(fail_closed_after: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            serials: RwLock::new(HashSet::new()),
            last_seq: AtomicI64::new(0),
            last_contact: Mutex::new(None),
            fail_closed_after,
        })
    }

    /// Whether `serial` (lowercase hex) is revoked.
    pub fn is_revoked(&self, serial: &str) -> bool {
        self.serials
            .read()
            .map(|s| s.contains(serial))
            .unwrap_or(true)
    }

    /// Whether the feed has been silent longer than the fail-closed limit.
    pub fn is_stale(&self) -> bool {
        let Some(limit) = self.fail_closed_after else {
            return false;
        };
        match self.last_contact.lock().ok().and_then(|c| *c) {
            Some(t) => t.elapsed() > limit,
            None => true,
        }
    }

    /// How many serials are known revoked.
    pub fn len(&self) -> usize {
        self.serials.read().map(|s| s.len()).unwrap_or(0)
    }

    /// Whether no serial is known revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Seconds since the feed was last heard, if it ever was.
    pub fn feed_age_seconds(&self) -> Option<f64> {
        self.last_contact
            .lock()
            .ok()
            .and_then(|c| *c)
            .map(|t| t.elapsed().as_secs_f64())
    }

    fn insert(&self, serial: String) {
        if let Ok(mut s) = self.serials.write() {
            s.insert(serial);
        }
    }

    fn touch(&self) {
        if let Ok(mut c) = self.last_contact.lock() {
            *c = Some(Instant::now());
        }
    }

    /// Adds every entry of CRL files (DER or PEM).
    pub fn load_crls(&self, files: &[PathBuf]) -> Result<usize, crate::GatewayError> {
        let mut count = 0;
        for file in files {
            let bytes = std::fs::read(file).map_err(|e| crate::GatewayError::file(file, e))?;
            let der = if bytes.starts_with(b"-----") {
                x509_parser::pem::parse_x509_pem(&bytes)
                    .map_err(|e| crate::GatewayError::file(file, e))?
                    .1
                    .contents
            } else {
                bytes
            };
            let (_, crl) = x509_parser::parse_x509_crl(&der)
                .map_err(|e| crate::GatewayError::file(file, e))?;
            for entry in crl.iter_revoked_certificates() {
                self.insert(inkan_pki::Serial::from_be_bytes(entry.raw_serial()).to_string());
                count += 1;
            }
        }
        Ok(count)
    }

    /// Follows `<authority>/v1/revocations/stream` forever, reconnecting after a second on any
    /// failure and resuming after the last sequence seen.
    pub async fn follow(self: Arc<Self>, authority: String, tls: Arc<rustls::ClientConfig>) {
        loop {
            if let Err(e) = self.follow_once(&authority, tls.clone()).await {
                tracing::warn!(error = %e, "revocation stream interrupted; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn follow_once(
        &self,
        authority: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<(), String> {
        let target = HttpTarget::parse(authority).map_err(|e| e.to_string())?;
        let mut conn = HttpConnection::connect(&target, tls)
            .await
            .map_err(|e| e.to_string())?;
        let since = self.last_seq.load(Ordering::SeqCst);
        let (status, mut body) = conn
            .open(
                http::Method::GET,
                &format!("/v1/revocations/stream?since={since}"),
                &[("accept", "text/event-stream".into())],
            )
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("the authority answered {status}"));
        }
        self.touch();
        let mut buffer = String::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            self.touch();
            buffer.push_str(&String::from_utf8_lossy(data));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                self.apply(&event);
            }
        }
        Err("the stream ended".into())
    }

    fn apply(&self, event: &str) {
        for line in event.lines() {
            if let Some(data) = line.strip_prefix("data:") {
                if let Ok(record) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                    if let (Some(serial), Some(seq)) =
                        (record["serial"].as_str(), record["seq"].as_i64())
                    {
                        self.insert(serial.to_string());
                        self.last_seq.fetch_max(seq, Ordering::SeqCst);
                        tracing::info!(serial, seq, "revoked");
                    }
                }
            }
        }
    }
}
