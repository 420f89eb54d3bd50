//! Pages of the device list: the opaque cursor a client passes back (`after`) to get the next
//! page, and one page with the cursor that follows it.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use inkan_store::{DeviceCursor, DeviceRecord};

/// The longest cursor accepted (far above any real one), so a hostile value is refused before
/// it is decoded.
const MAX_CURSOR_CHARS: usize = 200;

/// The longest device id a cursor may name.
const MAX_ID_CHARS: usize = 64;

/// Where the next page of the device list starts: the last device of the previous page.
/// Written as base64url (no padding) of `<created_at_ms>:<id>`; clients treat it as opaque.
/// Parsing is strict: only the exact text [`fmt::Display`] writes is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor(DeviceCursor);

impl PageCursor {
    /// The store's keyset position.
    pub fn position(&self) -> &DeviceCursor {
        &self.0
    }
}

impl From<&DeviceRecord> for PageCursor {
    fn from(device: &DeviceRecord) -> Self {
        Self(DeviceCursor::from(device))
    }
}

impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = format!("{}:{}", self.0.created_at_ms, self.0.id);
        f.write_str(&URL_SAFE_NO_PAD.encode(plain))
    }
}

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a device list cursor: pass the `next` value of the previous page unchanged")]
pub struct BadCursor;

impl FromStr for PageCursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Self, BadCursor> {
        if text.is_empty() || text.len() > MAX_CURSOR_CHARS {
            return Err(BadCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
        let plain = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let (ms, id) = plain.split_once(':').ok_or(BadCursor)?;
        let valid_id = (1..=MAX_ID_CHARS).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_id {
            return Err(BadCursor);
        }
        let created_at_ms = ms.parse::<i64>().map_err(|_| BadCursor)?;
        let cursor = Self(DeviceCursor {
            created_at_ms,
            id: id.to_string(),
        });
        // Only the canonical spelling: one cursor, one text.
        if cursor.to_string() != text {
            return Err(BadCursor);
        }
        Ok(cursor)
    }
}

/// One page of the device list, newest first.
#[derive(Debug, Clone)]
pub struct DevicePage {
    /// The devices of this page.
    pub devices: Vec<DeviceRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageCursor>,
}

impl DevicePage {
    /// The page from up to `limit + 1` devices read from the store: the extra one only tells
    /// that there is a next page.
    pub(crate) fn from_overfetch(mut devices: Vec<DeviceRecord>, limit: usize) -> Self {
        let next = if devices.len() > limit {
            devices.truncate(limit);
            devices.last().map(PageCursor::from)
        } else {
            None
        };
        Self { devices, next }
    }
}

#[cfg(test)]
mod tests;
