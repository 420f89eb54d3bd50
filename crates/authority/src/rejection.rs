//! Why the registry rejects a request it understands: one variant per rule of products and
//! devices (caps, disabled products and devices, names, keys). The authorization policy's
//! refusals of an issuance are [`crate::Refusal`]s.

use std::fmt;

/// A typed rejection by a registry rule. `Display` says what was asked and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// A product name is not 1 to 48 bytes of characters up to U+FFFF without '/' or control
    /// characters (it is also a PKCS#12 friendly name, a BMPString).
    ProductName,
    /// A product of this name exists already.
    ProductExists {
        /// The name.
        name: String,
    },
    /// A device attribute the product does not list.
    AttributeNotAllowed {
        /// The attribute.
        attribute: String,
        /// The product's name.
        product: String,
        /// The attributes the product allows.
        allowed: Vec<String>,
    },
    /// The product has as many devices as its `max_devices`.
    DeviceCap {
        /// The product's name.
        product: String,
        /// Its cap.
        max: i64,
    },
    /// The product a registration names does not exist (any more).
    UnknownProduct {
        /// The product's name.
        product: String,
    },
    /// The key is registered to another device.
    KeyInUse,
    /// The product is disabled: no new devices.
    ProductDisabled {
        /// The product's name.
        product: String,
    },
    /// The device holding this key is disabled.
    KeyOfDisabledDevice,
    /// The registration id belongs to a device with another key.
    RegistrationIdInUse,
    /// A disabled device asked to renew.
    DeviceDisabled {
        /// The device id.
        device: String,
    },
    /// A device whose product is gone.
    DeviceWithoutProduct {
        /// The device id.
        device: String,
    },
    /// A registration id that is not a valid one; says why.
    RegistrationId(String),
    /// The product has no PSK group key.
    NoPskKey {
        /// The product's name.
        product: String,
    },
    /// A DeviceCert was asked for an enrollment that names no registered device.
    NotRegisteredDevice,
    /// A TPM delivery's nonce is not 12 bytes.
    DeliveryNonce,
    /// A TPM delivery does not open with the secret given.
    DeliverySecret,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProductName => f.write_str(
                "a product name is 1 to 48 bytes of characters up to U+FFFF, without '/' or control characters",
            ),
            Self::ProductExists { name } => write!(f, "a product named {name:?} exists already"),
            Self::AttributeNotAllowed {
                attribute,
                product,
                allowed,
            } => write!(
                f,
                "device attribute {attribute:?} is not allowed by product {product} (allowed: {})",
                allowed.join(", ")
            ),
            Self::DeviceCap { product, max } => write!(
                f,
                "product {product} has reached its limit of {max} devices"
            ),
            Self::UnknownProduct { product } => write!(f, "product {product} does not exist"),
            Self::KeyInUse => f.write_str(
                "this key is registered to another device: every device needs its own key",
            ),
            Self::ProductDisabled { product } => {
                write!(f, "product {product} is disabled: no new devices")
            }
            Self::KeyOfDisabledDevice => f.write_str(
                "the device with this key is disabled: an administrator must enable it",
            ),
            Self::RegistrationIdInUse => f.write_str(
                "this registration id belongs to a device with another key: register with its key, or disable that device and use a new registration id",
            ),
            Self::DeviceDisabled { device } => write!(
                f,
                "device {device} is disabled: an administrator must enable it before it renews"
            ),
            Self::DeviceWithoutProduct { device } => write!(f, "device {device} has no product"),
            Self::RegistrationId(why) => f.write_str(why),
            Self::NoPskKey { product } => write!(
                f,
                "product {product} has no PSK group key: run `inkan product psk enable {product}`"
            ),
            Self::NotRegisteredDevice => f.write_str("not a registered device"),
            Self::DeliveryNonce => f.write_str("the delivery nonce is not 12 bytes"),
            Self::DeliverySecret => f.write_str("the delivery does not open with this secret"),
        }
    }
}

impl std::error::Error for Rejection {}
