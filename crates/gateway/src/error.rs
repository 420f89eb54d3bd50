//! Everything that can go wrong in the gateway: loading its configuration, and refusing or
//! failing a request. [`crate::response`] turns each into the client's answer, in one place.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::headers::HostError;

/// An error of the gateway.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// A file (configuration, CA, CRL, key) could not be read or parsed.
    #[error("{}: {why}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The configuration is inconsistent; the message says what to fix.
    #[error("{0}")]
    Config(String),
    /// The upstream TLS configuration could not be built.
    #[error("{0}")]
    Tls(String),
    /// The routing table's lock was poisoned by a panic.
    #[error("routing lock poisoned")]
    Poisoned,
    /// The request's host is ambiguous or malformed (400).
    #[error("{0}")]
    Host(HostError),
    /// The routing table is unavailable (500).
    #[error("routing unavailable")]
    RoutingUnavailable,
    /// No route matches the host and path (404).
    #[error("no route for this host and path")]
    NoRoute,
    /// The client did not authenticate as the route needs (401, 403 or 503).
    #[error(transparent)]
    Auth(#[from] AuthRefusal),
    /// The verified client does not meet the route's requirements (401 or 403).
    #[error(transparent)]
    Unmet(#[from] Unmet),
    /// The request body did not arrive in time (408); says how long was allowed.
    #[error("{0}")]
    BodyTimeout(String),
    /// The request body is larger than the gateway buffers (413).
    #[error("request body too large")]
    BodyTooLarge,
    /// The request target cannot be put after an upstream's URL (400).
    #[error("malformed request target")]
    MalformedTarget,
    /// The upstream failed after the request was sent, and it is not retried (502).
    #[error("the upstream failed")]
    UpstreamFailed,
    /// The upstream did not answer in time, and the request is not retried (504).
    #[error("the upstream timed out")]
    UpstreamTimeout,
    /// No upstream of the route could be reached (502).
    #[error("no upstream of this route is reachable")]
    NoUpstream,
}

impl GatewayError {
    /// A file error with its path.
    pub(crate) fn file(path: &Path, why: impl ToString) -> Self {
        Self::File {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }
}

/// Why an authenticator refuses a client.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRefusal {
    /// The route needs a certificate and none was presented.
    #[error("this route needs a client certificate from a trusted CA")]
    NoCertificate,
    /// The certificate does not verify (expired, not from these CAs...); says why.
    #[error("client certificate not accepted: {0}")]
    Untrusted(String),
    /// The revocation feed has been silent longer than `fail_closed_after`.
    #[error("revocation status is unknown (the authority's feed is unreachable); try again later")]
    RevocationUnknown,
    /// The certificate is revoked.
    #[error("the client certificate has been revoked")]
    Revoked,
}

/// Which requirement of a route a verified client does not meet.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unmet {
    /// The route has requirements and the client is anonymous.
    #[error("this route needs a client certificate")]
    NoIdentity,
    /// The assurance level is below `min_level`.
    #[error("assurance level {level} is below this route's minimum of {min}")]
    Level {
        /// The client's level (0 without one).
        level: u8,
        /// The route's minimum.
        min: u8,
    },
    /// The subject is not in `allow_subjects`.
    #[error("this subject may not use this route")]
    Subject,
    /// The serial is not in `allow_serials`.
    #[error("this certificate may not use this route")]
    Serial,
    /// The product is not in `allow_products`.
    #[error("devices of this product may not use this route")]
    Product,
    /// The device is not in `allow_devices`.
    #[error("this device may not use this route")]
    Device,
}
