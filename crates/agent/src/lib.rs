//! inkan-agent: the device side. An EST client (RFC 7030) over rustls with keep-alive
//! connections, first-boot registration with a product's bootstrap credential, and the device's
//! state directory with renewal before expiry.
#![warn(missing_docs)]

mod device_state;
mod error;
mod est_client;
mod https;
mod registration;

pub use device_state::{renewal_due_in, AgentInfo, DeviceState};
pub use error::AgentError;
pub use est_client::{EstClient, EstCredentials};
pub use https::{client_tls_config, HttpConnection, HttpTarget};
pub use registration::{register_device, Bootstrap, Registered};
