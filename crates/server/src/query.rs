//! Query strings and path segments of `/v1`: parsed strictly and bounded at the edge, and refused
//! with a problem+json 400 that names the parameter — never axum's plain-text rejection.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use inkan_authority::PageCursor;
use serde::{Deserialize, Deserializer};

use crate::problem::Problem;

/// An integer parameter within `MIN..=MAX`; a value outside is refused while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounded<const MIN: i64, const MAX: i64>(i64);

/// How many items one page of a list holds: 1 to [`MAX_PAGE`].
pub(crate) type PageLimit = Bounded<1, MAX_PAGE>;

/// A position in the revocation feed (a feed sequence number): 0 or more.
pub(crate) type FeedPosition = Bounded<0, { i64::MAX }>;

/// The largest page a `/v1` list returns, and its default size (documented as the `maximum` of
/// each `limit` parameter).
pub(crate) const MAX_PAGE: i64 = 1000;

impl<const MIN: i64, const MAX: i64> Bounded<MIN, MAX> {
    /// The value, within the bounds.
    pub(crate) fn get(self) -> i64 {
        self.0
    }

    /// The value when within the bounds.
    pub(crate) fn new(value: i64) -> Option<Self> {
        (MIN..=MAX).contains(&value).then_some(Self(value))
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        Self::new(value).ok_or_else(|| {
            serde::de::Error::custom(if MAX == i64::MAX {
                format!("must be at least {MIN}, not {value}")
            } else {
                format!("must be from {MIN} to {MAX}, not {value}")
            })
        })
    }
}

/// Reads a list cursor (`after`) strictly: anything but a `next` value the server gave out is
/// refused while parsing. For `#[serde(default, deserialize_with = "query::cursor")]`.
pub(crate) fn cursor<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PageCursor>, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// The parsed query string, or a 400 saying which parameter is wrong and why.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Problem::bad_request(e.body_text()))
}

/// The path parameter, or a 400 (a segment that is not UTF-8 once percent-decoded).
pub(crate) fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, Problem> {
    path.map(|Path(p)| p)
        .map_err(|e| Problem::bad_request(e.body_text()))
}

#[cfg(test)]
mod tests;
