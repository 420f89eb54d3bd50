//! Typed statuses: stored as lowercase words, parsed strictly (an unknown stored word is
//! [`StoreError::Corrupt`], never a default).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::StoreError;

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }

            /// Parses a stored word; anything else means the row is corrupt.
            pub fn from_stored(word: &str) -> Result<Self, StoreError> {
                match word {
                    $($word => Ok(Self::$variant),)+
                    other => Err(StoreError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " {:?}"),
                        other
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum!(
    /// Whether a certificate is still good.
    CertificateStatus {
        /// Not revoked (it may still have expired).
        Valid => "valid",
        /// Revoked.
        Revoked => "revoked",
    }
);

status_enum!(
    /// Whether a product accepts new devices.
    ProductStatus {
        /// Devices may register.
        Active => "active",
        /// No new devices.
        Disabled => "disabled",
    }
);

status_enum!(
    /// Whether a device may register again and renew.
    DeviceStatus {
        /// It may.
        Active => "active",
        /// Neither renewals nor registration with its key.
        Disabled => "disabled",
    }
);

impl std::str::FromStr for CertificateStatus {
    type Err = StoreError;

    /// Parses a status a user typed (`valid`, `revoked`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_stored(s)
            .map_err(|_| StoreError::Config(format!("unknown status {s:?}: use valid or revoked")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_stored_statuses_are_corrupt_not_defaults() {
        assert_eq!(
            CertificateStatus::from_stored("revoked").unwrap(),
            CertificateStatus::Revoked
        );
        assert!(matches!(
            CertificateStatus::from_stored("Valid"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            ProductStatus::from_stored(""),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(DeviceStatus::Disabled.to_string(), "disabled");
    }
}
