//! The assurance-level policy arc and the small DER writer for object identifiers.
//!
//! Each level is the certificatePolicies OID `<arc>.<level>` under one arc the operator
//! configures (its own registered arc, such as an IANA private enterprise number). Every arc
//! must fit in 31 bits: pkilint, Go's crypto/x509 before 1.22 and wolfSSL refuse larger ones,
//! which rules out the 128-bit `2.25.<uuid>` form inkan used first ([`LEGACY_LEVEL_ARC`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The default level arc: `1.3.6.1.4.1.32473.1`, under the private enterprise number IANA
/// reserves for documentation (RFC 5612). It belongs to no one, so it collides with no real
/// enterprise's policies, and it tells a reader that the operator has not chosen an arc.
pub const DEFAULT_LEVEL_ARC: &str = "1.3.6.1.4.1.32473.1";

/// The arc of certificates issued before the arc was configurable:
/// `2.25.116349897229494757781875877206570096290.1` (ITU-T X.667 UUID arc). Still read, never
/// written.
pub const LEGACY_LEVEL_ARC: &str = "2.25.116349897229494757781875877206570096290.1";

/// The largest arc inkan accepts: 2^31 - 1, what every X.509 library reads.
const MAX_ARC: u64 = (1 << 31) - 1;

/// A validated OID arc under which assurance level `N` is `<arc>.N`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyArc {
    arcs: Vec<u32>,
}

impl PolicyArc {
    /// The certificatePolicies OID for `level`, dotted.
    pub fn level_oid(&self, level: u8) -> String {
        format!("{self}.{level}")
    }

    /// The DER content octets (no tag or length) of the OID for `level`.
    pub fn level_oid_der(&self, level: u8) -> Vec<u8> {
        let mut arcs: Vec<u128> = Vec::with_capacity(self.arcs.len());
        // Parsing guarantees two arcs at least.
        if let [first, second, rest @ ..] = self.arcs.as_slice() {
            arcs.push(u128::from(*first) * 40 + u128::from(*second));
            arcs.extend(rest.iter().map(|a| u128::from(*a)));
        }
        arcs.push(u128::from(level));
        oid_content(&arcs)
    }

    /// The level a policy OID (DER content octets) names under this arc, if it is `<arc>.1`
    /// to `<arc>.4`.
    pub fn level_of(&self, oid_der: &[u8]) -> Option<u8> {
        (1..=4).find(|l| oid_der == self.level_oid_der(*l).as_slice())
    }

    /// The level a policy OID names under this arc or, for certificates issued before the arc
    /// was configurable, under [`LEGACY_LEVEL_ARC`].
    pub fn level_of_any(&self, oid_der: &[u8]) -> Option<u8> {
        self.level_of(oid_der)
            .or_else(|| (1..=4).find(|l| oid_der == legacy_level_oid_der(*l).as_slice()))
    }
}

impl Default for PolicyArc {
    fn default() -> Self {
        Self {
            arcs: vec![1, 3, 6, 1, 4, 1, 32473, 1],
        }
    }
}

impl FromStr for PolicyArc {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("policy arc {text:?} {why}");
        let arcs = text
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(
                        "must be numbers separated by dots, like 1.3.6.1.4.1.32473.1",
                    ));
                }
                if part.len() > 1 && part.starts_with('0') {
                    return Err(bad("has a number with a leading zero"));
                }
                match part.parse::<u64>() {
                    Ok(n) if n <= MAX_ARC => Ok(n as u32),
                    _ => Err(bad(
                        "has an arc above 2147483647 (31 bits), which many X.509 libraries \
                         refuse; use a registered arc such as an IANA private enterprise number",
                    )),
                }
            })
            .collect::<Result<Vec<u32>, String>>()?;
        if arcs.len() < 2 {
            return Err(bad("needs at least two arcs"));
        }
        if arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
            return Err(bad("does not start with 0.0-39, 1.0-39 or 2.x"));
        }
        if arcs.len() > 30 {
            return Err(bad("has more than 30 arcs"));
        }
        Ok(Self { arcs })
    }
}

impl fmt::Display for PolicyArc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.arcs.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

impl Serialize for PolicyArc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyArc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The DER content octets of a level OID under [`LEGACY_LEVEL_ARC`] (its UUID arc needs 128 bits).
fn legacy_level_oid_der(level: u8) -> Vec<u8> {
    const UUID: u128 = 116_349_897_229_494_757_781_875_877_206_570_096_290;
    oid_content(&[2 * 40 + 25, UUID, 1, u128::from(level)])
}

/// Base-128 content octets for already-combined arcs (the first entry is `40*a + b`).
fn oid_content(arcs: &[u128]) -> Vec<u8> {
    let mut out = Vec::new();
    for &arc in arcs {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(((rest & 0x7f) as u8) | 0x80);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

/// DER of a tag-length-value with the given content.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend(&bytes[skip..]);
    }
    out.extend(content);
    out
}

/// The certificatePolicies extension value naming the level's policy OID under `arc`.
pub(crate) fn certificate_policies(arc: &PolicyArc, level: u8) -> Vec<u8> {
    let oid = tlv(0x06, &arc.level_oid_der(level));
    let policy_information = tlv(0x30, &oid);
    tlv(0x30, &policy_information)
}

/// The authorityInfoAccess extension value with one OCSP responder URL.
pub(crate) fn authority_info_access_ocsp(url: &str) -> Vec<u8> {
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1
    let method = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    let location = tlv(0x86, url.as_bytes());
    let description = tlv(0x30, &[method, location].concat());
    tlv(0x30, &description)
}

#[cfg(test)]
mod tests;
