//! inkan-agent: the device side, over the HTTP and EST client of `inkan-client`. First-boot
//! registration with a product's bootstrap credential (ProductCert or PSK), the device's state directory with renewal before expiry, a local forwarding proxy that
//! adds the device's TLS client certificate, and (with the `tpm` feature) a TPM 2.0 key backend
//! with TPM-attested enrollment.
#![warn(missing_docs)]

#[cfg(feature = "pcsc")]
pub mod card_helper;
#[cfg(feature = "pcsc")]
pub mod card_presence;
#[cfg(feature = "pcsc")]
pub mod card_reader;
mod device_state;
mod error;
pub mod keyd;
pub mod linking;
pub mod linking_pages;
mod proxy;
mod registration;
#[cfg(feature = "tpm")]
pub mod tpm;

pub use device_state::{renewal_due_in, AgentInfo, DeviceState};
pub use error::AgentError;
pub use proxy::{serve_proxy, ForwardProxy};
pub use registration::{register_device, Bootstrap, Registered};
