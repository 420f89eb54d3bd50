//! The patterns of a name policy's lists, one type per kind of name: how each is written in
//! TOML (parsed and checked on load) and which names it matches.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A DNS name pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DnsPattern {
    /// Exactly this name.
    Exact(String),
    /// `*.<domain>`: one label under the domain (and the wildcard name itself).
    OneLabel(String),
    /// `.<domain>`: any name under the domain, at any depth.
    Subdomains(String),
}

impl DnsPattern {
    pub(super) fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(d) => name == d,
            Self::OneLabel(d) => match name.strip_suffix(d.as_str()) {
                Some(head) => head
                    .strip_suffix('.')
                    .is_some_and(|label| !label.is_empty() && !label.contains('.')),
                None => false,
            },
            Self::Subdomains(d) => name
                .strip_suffix(d.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        }
    }

    /// Whether a requested wildcard `name` (`*.x`) would cover a name this pattern matches.
    pub(super) fn is_covered_by(&self, name: &str) -> bool {
        let Some(parent) = name.strip_prefix("*.") else {
            return false;
        };
        match self {
            Self::Exact(d) | Self::OneLabel(d) => {
                let probe = match self {
                    Self::Exact(_) => d.clone(),
                    _ => format!("x.{d}"),
                };
                probe
                    .split_once('.')
                    .is_some_and(|(_, rest)| rest == parent)
            }
            // `*.a.example.com` covers names under `.example.com`.
            Self::Subdomains(d) => {
                parent == d
                    || parent
                        .strip_suffix(d.as_str())
                        .is_some_and(|h| h.ends_with('.'))
            }
        }
    }
}

impl TryFrom<String> for DnsPattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let lower = text.trim_end_matches('.').to_ascii_lowercase();
        let (pattern, domain): (fn(String) -> Self, &str) =
            if let Some(d) = lower.strip_prefix("*.") {
                (Self::OneLabel, d)
            } else if let Some(d) = lower.strip_prefix('.') {
                (Self::Subdomains, d)
            } else {
                (Self::Exact, lower.as_str())
            };
        let valid = !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            Ok(pattern(domain.to_string()))
        } else {
            Err(format!(
                "DNS pattern {text:?}: write host.example.com, *.example.com or .example.com"
            ))
        }
    }
}

impl From<DnsPattern> for String {
    fn from(p: DnsPattern) -> Self {
        p.to_string()
    }
}

impl fmt::Display for DnsPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(d) => f.write_str(d),
            Self::OneLabel(d) => write!(f, "*.{d}"),
            Self::Subdomains(d) => write!(f, ".{d}"),
        }
    }
}

/// An IP address range (CIDR); one address is a /32 or /128.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpRange {
    /// The network address (host bits cleared).
    pub network: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl IpRange {
    /// Whether `ip` is in the range (an IPv4 address never matches an IPv6 range).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                mask(u128::from(u32::from(a)), self.prefix, 32) == u128::from(u32::from(n))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                mask(u128::from(a), self.prefix, 128) == u128::from(n)
            }
            _ => false,
        }
    }
}

fn mask(value: u128, prefix: u8, bits: u32) -> u128 {
    let host_bits = bits.saturating_sub(u32::from(prefix));
    if host_bits >= 128 {
        0
    } else {
        (value >> host_bits) << host_bits
    }
}

impl TryFrom<String> for IpRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("IP range {text:?}: write 10.0.0.0/8, 2001:db8::/32 or one address");
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.as_str(), None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let bits: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => bits,
        };
        if prefix > bits {
            return Err(bad());
        }
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(
                u32::try_from(mask(u128::from(u32::from(a)), prefix, 32))
                    .map_err(|_| bad())?
                    .into(),
            ),
            IpAddr::V6(a) => IpAddr::V6(mask(u128::from(a), prefix, 128).into()),
        };
        if network != addr {
            return Err(format!(
                "IP range {text:?} has host bits set: did you mean {network}/{prefix}?"
            ));
        }
        Ok(Self { network, prefix })
    }
}

impl From<IpRange> for String {
    fn from(r: IpRange) -> Self {
        r.to_string()
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An email address pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EmailPattern {
    /// Exactly this mailbox (domain compared case-insensitively).
    Mailbox(String, String),
    /// Any mailbox at the domain.
    Domain(String),
    /// Any mailbox in a subdomain of the domain.
    Subdomains(String),
}

impl EmailPattern {
    pub(super) fn matches(&self, address: &str) -> bool {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return false;
        };
        let domain = domain.to_ascii_lowercase();
        match self {
            Self::Mailbox(l, d) => local == l && domain == *d,
            Self::Domain(d) => domain == *d,
            Self::Subdomains(d) => domain
                .strip_suffix(d.as_str())
                .is_some_and(|h| h.len() > 1 && h.ends_with('.')),
        }
    }
}

impl TryFrom<String> for EmailPattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || {
            format!("email pattern {text:?}: write ops@example.com, example.com or .example.com")
        };
        let ok_domain =
            |d: &str| !d.is_empty() && !d.contains('@') && d.split('.').all(|l| !l.is_empty());
        if let Some((local, domain)) = text.rsplit_once('@') {
            let domain = domain.to_ascii_lowercase();
            if local.is_empty() || !ok_domain(&domain) {
                return Err(bad());
            }
            return Ok(Self::Mailbox(local.to_string(), domain));
        }
        let lower = text.to_ascii_lowercase();
        match lower.strip_prefix('.') {
            Some(d) if ok_domain(d) => Ok(Self::Subdomains(d.to_string())),
            None if ok_domain(&lower) => Ok(Self::Domain(lower)),
            _ => Err(bad()),
        }
    }
}

impl From<EmailPattern> for String {
    fn from(p: EmailPattern) -> Self {
        p.to_string()
    }
}

impl fmt::Display for EmailPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mailbox(l, d) => write!(f, "{l}@{d}"),
            Self::Domain(d) => f.write_str(d),
            Self::Subdomains(d) => write!(f, ".{d}"),
        }
    }
}

/// A URI pattern: exact, or a prefix when it ends in `*`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UriPattern(String);

impl UriPattern {
    pub(super) fn matches(&self, uri: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => uri.starts_with(prefix),
            None => uri == self.0,
        }
    }
}

impl TryFrom<String> for UriPattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let body = text.strip_suffix('*').unwrap_or(&text);
        if !text.contains(':') || body.contains('*') || text.chars().any(char::is_whitespace) {
            return Err(format!(
                "URI pattern {text:?}: write a URI with its scheme, optionally ending in * (a prefix)"
            ));
        }
        Ok(Self(text))
    }
}

impl From<UriPattern> for String {
    fn from(p: UriPattern) -> Self {
        p.0
    }
}

impl fmt::Display for UriPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A common-name pattern: `*` stands for any characters; case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CnPattern(String);

impl CnPattern {
    pub(super) fn matches(&self, cn: &str) -> bool {
        glob(
            self.0.to_lowercase().as_bytes(),
            cn.to_lowercase().as_bytes(),
        )
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

impl TryFrom<String> for CnPattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.is_empty() || text.chars().any(char::is_control) {
            return Err(format!(
                "common-name pattern {text:?} is empty or has control characters"
            ));
        }
        Ok(Self(text))
    }
}

impl From<CnPattern> for String {
    fn from(p: CnPattern) -> Self {
        p.0
    }
}

impl fmt::Display for CnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
