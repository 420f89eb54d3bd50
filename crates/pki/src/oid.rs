//! The assurance-level policy arc and the small DER writer for object identifiers.
//!
//! The arc is `2.25.<uuid>` (ITU-T X.667): minted once from a random UUID so it needs no
//! registration. Its third arc is a 128-bit integer, too large for the `u64`-based OID types
//! of the usual crates, hence the writer here.

/// The decimal UUID arc under `2.25` that roots every inkan policy OID.
pub const ASSURANCE_ARC: u128 = 116_349_897_229_494_757_781_875_877_206_570_096_290;

/// The dotted form of the certificatePolicies OID for an assurance level: `2.25.<uuid>.1.<level>`.
pub fn level_policy_oid(level: u8) -> String {
    format!("2.25.{ASSURANCE_ARC}.1.{level}")
}

/// The DER content octets (no tag or length) of the assurance-level OID.
pub fn level_policy_oid_der(level: u8) -> Vec<u8> {
    oid_content(&[2 * 40 + 25, ASSURANCE_ARC, 1, u128::from(level)])
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

/// The certificatePolicies extension value naming the level's policy OID.
pub(crate) fn certificate_policies(level: u8) -> Vec<u8> {
    let oid = tlv(0x06, &level_policy_oid_der(level));
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
