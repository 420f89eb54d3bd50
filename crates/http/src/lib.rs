//! inkan-http: the server edge the authority and the gateway share.
//!
//! [`serve`] and [`serve_plain`] run the accept loop on a listener the caller bound (so tests
//! can use port 0) with every limit of [`ConnectionLimits`]: TLS handshake, header, body and
//! idle timeouts, a connection cap with back-pressure, HTTP/2 stream and reset limits. Each
//! request carries the connection's [`PeerCertificates`] and address as extensions. The
//! middleware of [`body_limit`] and [`body_deadline`] bound each request's body in size and time.
#![warn(missing_docs)]

mod accept;
mod activity;
pub mod body_deadline;
pub mod body_limit;
mod fd_limit;
mod limits;
mod log_limit;

use std::sync::Arc;

pub use accept::{serve, serve_plain};
pub use fd_limit::{connection_cap, raise_open_files_limit};
pub use limits::ConnectionLimits;

/// The certificates a TLS client presented (leaf first), attached to every request of the
/// connection. Empty when the client presented none.
#[derive(Clone, Debug, Default)]
pub struct PeerCertificates(pub Arc<Vec<Vec<u8>>>);
