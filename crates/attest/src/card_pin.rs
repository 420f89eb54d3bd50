//! Card PINs (DESIGN.md §4.5): a PIN derived from what any reader can read off an everyday IC
//! card (a FeliCa card's system code and IDm, optionally its PMm) and a segment's secret salt,
//! so a segment stores no PIN and no PIN hash. Pure: salts, card data and time are passed in.
//!
//! The PIN of a card in segment `S` under salt generation `g` is
//!
//! ```text
//! mac = HMAC-SHA256(salt_g, "inkan-pin-v1" ‖ len(S) ‖ S ‖ system code (2 bytes) ‖ IDm (8 bytes) [‖ PMm (8 bytes)])
//! o   = mac[31] & 0x0f
//! n   = big-endian u64 of mac[o..o+8] with the top bit cleared
//! PIN = n mod 10^digits, left-padded with zeros to `digits` (6 to 10)
//! ```
//!
//! `len(S)` is one byte. This is RFC 4226's dynamic truncation with SHA-256 and eight bytes
//! instead of four, so that ten digits are uniform too.
//!
//! ```
//! use inkan_attest::card_pin::{derive_pin, CardData};
//! let card = CardData::parse("0003", "0123456789abcdef", None).unwrap();
//! let pin = derive_pin(&[7u8; 32], "physics", &card, 6).unwrap();
//! assert_eq!(pin.len(), 6);
//! ```

use ring::hmac;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Fewest and most PIN digits.
pub const PIN_DIGITS: std::ops::RangeInclusive<u8> = 6..=10;
/// Shortest and longest renewal window of a salt rotation, in seconds (2 to 4 weeks).
pub const RENEWAL_WINDOW: std::ops::RangeInclusive<i64> = (14 * 86_400)..=(28 * 86_400);

/// Why card data or a PIN request is unusable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PinError {
    /// The card data is malformed; says which field.
    #[error("card data: {0}")]
    Card(String),
    /// The number of digits is out of range.
    #[error("a PIN has 6 to 10 digits, not {0}")]
    Digits(u8),
    /// The segment name is unusable.
    #[error("segment name: 1 to 64 letters, digits or -, not {0:?}")]
    Segment(String),
    /// A salt is too short.
    #[error("a salt has at least 16 bytes")]
    Salt,
    /// A rotation's terms are out of range.
    #[error("{0}")]
    Rotation(String),
}

/// What a reader reads off a FeliCa card without keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardData {
    /// The system code (e.g. 0003 for transport cards such as Suica).
    pub system_code: [u8; 2],
    /// The manufacture ID (IDm): the card's number. Not secret, and can be emulated.
    pub idm: [u8; 8],
    /// The manufacture parameter (PMm), where the segment uses it.
    pub pmm: Option<[u8; 8]>,
}

fn hex_field<const N: usize>(what: &str, text: &str) -> Result<[u8; N], PinError> {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    let bytes = hex::decode(&cleaned)
        .map_err(|_| PinError::Card(format!("{what} is not hex: {text:?}")))?;
    bytes.try_into().map_err(|_| {
        PinError::Card(format!(
            "{what} has {} hex digits, not {}",
            cleaned.len(),
            N * 2
        ))
    })
}

impl CardData {
    /// Card data from hex text (colons, spaces and dashes allowed), as a reader or a person
    /// types it.
    pub fn parse(system_code: &str, idm: &str, pmm: Option<&str>) -> Result<Self, PinError> {
        Ok(Self {
            system_code: hex_field("system code", system_code)?,
            idm: hex_field("IDm", idm)?,
            pmm: pmm.map(|p| hex_field("PMm", p)).transpose()?,
        })
    }
}

fn check_segment(segment: &str) -> Result<(), PinError> {
    if segment.is_empty()
        || segment.len() > 64
        || !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(PinError::Segment(segment.to_string()));
    }
    Ok(())
}

/// The PIN of `card` in `segment` under `salt`, `digits` long (see the module docs).
pub fn derive_pin(
    salt: &[u8],
    segment: &str,
    card: &CardData,
    digits: u8,
) -> Result<String, PinError> {
    if !PIN_DIGITS.contains(&digits) {
        return Err(PinError::Digits(digits));
    }
    if salt.len() < 16 {
        return Err(PinError::Salt);
    }
    check_segment(segment)?;
    let mut message = b"inkan-pin-v1".to_vec();
    message.push(segment.len() as u8);
    message.extend_from_slice(segment.as_bytes());
    message.extend_from_slice(&card.system_code);
    message.extend_from_slice(&card.idm);
    if let Some(pmm) = card.pmm {
        message.extend_from_slice(&pmm);
    }
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), &message);
    let mac = tag.as_ref();
    let offset = usize::from(mac[31] & 0x0f);
    let mut eight = [0u8; 8];
    eight.copy_from_slice(&mac[offset..offset + 8]);
    let n = u64::from_be_bytes(eight) & 0x7fff_ffff_ffff_ffff;
    let modulus = 10u64.pow(u32::from(digits));
    Ok(format!(
        "{:0width$}",
        n % modulus,
        width = usize::from(digits)
    ))
}

/// One salt generation of a segment: its salt and the window in which its PINs are accepted
/// (Unix seconds, `valid_until` excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaltGeneration {
    /// 1, 2, … in order of creation.
    pub number: u32,
    /// The secret salt (at least 16 bytes).
    pub salt: Vec<u8>,
    /// From when its PINs are accepted.
    pub valid_from: i64,
    /// Until when.
    pub valid_until: i64,
}

impl SaltGeneration {
    /// Whether its PINs are accepted at `now`.
    pub fn accepts_at(&self, now: i64) -> bool {
        self.valid_from <= now && now < self.valid_until
    }
}

/// The generation whose PIN `entered` is, among those accepted at `now` (compared in constant
/// time); None if it is no current PIN of the card. In a renewal window the old and the new
/// PIN both match.
pub fn matching_generation(
    generations: &[SaltGeneration],
    now: i64,
    segment: &str,
    card: &CardData,
    digits: u8,
    entered: &str,
) -> Result<Option<u32>, PinError> {
    let mut found = None;
    for generation in generations.iter().filter(|g| g.accepts_at(now)) {
        let expected = derive_pin(&generation.salt, segment, card, digits)?;
        let same: bool = expected.as_bytes().ct_eq(entered.as_bytes()).into();
        if same && found.is_none() {
            found = Some(generation.number);
        }
    }
    Ok(found)
}

/// The terms of the next generation when a segment rotates at `now`: the current generation
/// stays accepted for `window` (2 to 4 weeks: the renewal window, in which users get their new
/// PIN), the new one is accepted from `now` for `lifetime` (at least the window) — so both
/// PINs work during the window. Returns (the current generation's new `valid_until`, the new
/// generation's `valid_from`, `valid_until`).
pub fn rotation(
    current: &SaltGeneration,
    now: i64,
    window: i64,
    lifetime: i64,
) -> Result<(i64, i64, i64), PinError> {
    if !RENEWAL_WINDOW.contains(&window) {
        return Err(PinError::Rotation(format!(
            "the renewal window is 14 to 28 days, not {} days",
            window / 86_400
        )));
    }
    if lifetime < window {
        return Err(PinError::Rotation(
            "a generation lasts at least its renewal window".into(),
        ));
    }
    if !current.accepts_at(now) {
        return Err(PinError::Rotation(format!(
            "generation {} is not the current one: rotate from the generation accepted now",
            current.number
        )));
    }
    Ok((current.valid_until.min(now + window), now, now + lifetime))
}

#[cfg(test)]
mod tests;
