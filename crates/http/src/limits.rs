//! Connection limits and timeouts of one listener, with nginx's names beside them.

use std::time::Duration;

use inkan_pki::duration_text;
use serde::{Deserialize, Serialize};

/// How long a client may take and how many may be connected at once. Every field has a safe
/// default; docs/security.md lists them next to nginx's equivalents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Time for the TLS handshake (nginx `ssl_handshake_timeout`, 60 s).
    #[serde(with = "duration_text")]
    pub handshake_timeout: Duration,
    /// Time for the whole request head from its first byte (nginx `client_header_timeout`, 60 s).
    #[serde(with = "duration_text")]
    pub header_timeout: Duration,
    /// Time for a whole request body to arrive (nginx's `client_body_timeout`, 60 s, is between
    /// two reads; this is for the whole body, so a client dribbling a byte a second is cut off).
    #[serde(with = "duration_text")]
    pub body_timeout: Duration,
    /// A connection with no request in progress and no byte read or written for this long is
    /// closed (nginx `keepalive_timeout`, 75 s). Also bounds a fresh connection that sends nothing.
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    /// Open connections at most; at the limit the listener stops accepting until one closes
    /// (nginx `worker_connections`). Lowered at start to fit the process's file-descriptor limit.
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection (nginx `http2_max_concurrent_streams`, 128).
    pub h2_max_concurrent_streams: u32,
    /// Largest request head, HTTP/1.1 and HTTP/2, in bytes (nginx `large_client_header_buffers`).
    pub max_header_bytes: usize,
    /// HTTP/2 streams a client may reset before their handling completes, before the connection
    /// is closed (the "rapid reset" flood, CVE-2023-44487).
    pub h2_max_pending_reset_streams: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            h2_max_concurrent_streams: 128,
            max_header_bytes: 16 * 1024,
            h2_max_pending_reset_streams: 20,
        }
    }
}

impl ConnectionLimits {
    /// Refuses values that would switch a protection off (zero timeouts or limits).
    pub fn validate(&self) -> Result<(), String> {
        let timeouts = [
            ("handshake_timeout", self.handshake_timeout),
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("idle_timeout", self.idle_timeout),
        ];
        for (name, value) in timeouts {
            if value.is_zero() {
                return Err(format!("limits.{name} must be at least 1s"));
            }
        }
        if self.max_connections == 0 {
            return Err("limits.max_connections must be at least 1".into());
        }
        if self.h2_max_concurrent_streams == 0 {
            return Err("limits.h2_max_concurrent_streams must be at least 1".into());
        }
        if self.max_header_bytes < 1024 {
            return Err("limits.max_header_bytes must be at least 1024".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_keeps_defaults_for_the_rest() {
        let limits: ConnectionLimits =
            toml::from_str("idle_timeout = \"5s\"\nmax_connections = 10\n").unwrap();
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_connections, 10);
        assert_eq!(
            limits.body_timeout,
            ConnectionLimits::default().body_timeout
        );
        assert!(limits.validate().is_ok());
    }

    #[test]
    fn refuses_zero_and_unknown_keys() {
        let zero: ConnectionLimits = toml::from_str("body_timeout = \"0s\"").unwrap();
        assert!(zero.validate().unwrap_err().contains("body_timeout"));
        assert!(toml::from_str::<ConnectionLimits>("keepalive = \"5s\"").is_err());
    }
}
