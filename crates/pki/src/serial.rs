use std::fmt;
use std::str::FromStr;

use ring::rand::{SecureRandom, SystemRandom};

use crate::PkiError;

/// A certificate serial number: 128 random bits, shown as lowercase hex without leading zeros.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh serial from 128 bits of the system's secure random source.
    pub fn random() -> Result<Self, PkiError> {
        let mut bytes = [0u8; 16];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PkiError::Key("the system random source failed".into()))?;
        Ok(Self::from_be_bytes(&bytes))
    }

    /// A serial from big-endian bytes as they appear in a certificate (leading zeros dropped).
    pub fn from_be_bytes(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let trimmed = &bytes[start..];
        if trimmed.is_empty() {
            Self(vec![0])
        } else {
            Self(trimmed.to_vec())
        }
    }

    /// Big-endian magnitude bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = hex::encode(&self.0);
        let trimmed = hex.trim_start_matches('0');
        f.write_str(if trimmed.is_empty() { "0" } else { trimmed })
    }
}

impl FromStr for Serial {
    type Err = PkiError;

    /// Accepts hex with or without colons, any case, as printed by inkan or openssl.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let clean: String = s.chars().filter(|c| *c != ':').collect();
        if clean.is_empty() || clean.len() > 40 {
            return Err(PkiError::Encoding(format!("{s:?} is not a serial number")));
        }
        let padded = if clean.len() % 2 == 1 {
            format!("0{clean}")
        } else {
            clean
        };
        let bytes = hex::decode(padded)
            .map_err(|_| PkiError::Encoding(format!("{s:?} is not a hex serial number")))?;
        Ok(Self::from_be_bytes(&bytes))
    }
}

#[cfg(test)]
mod tests;
