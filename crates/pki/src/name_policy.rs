//! A profile's name policy: which DNS names, IP addresses, email addresses, URIs and common names
//! a certificate may carry. Written in a profile's TOML as `names.allow` and `names.deny`, each
//! with `dns`, `ip`, `email`, `uri` and `cn` lists. Deny wins; an allow list that is not set
//! leaves its kind to the default the caller passes (the authority's: nothing for server
//! profiles, anything the profile's forms allow for the others).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Allow and deny lists of one profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamePolicy {
    /// Names a certificate may carry, by kind; a kind left unset uses the default.
    #[serde(skip_serializing_if = "NameRules::is_empty")]
    pub allow: NameRules,
    /// Names a certificate may never carry, whatever else allows them.
    #[serde(skip_serializing_if = "NameRules::is_empty")]
    pub deny: NameRules,
}

/// One list per kind of name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NameRules {
    /// DNS names: `host.example.com` (exact), `*.example.com` (one label),
    /// `.example.com` (any subdomain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<DnsPattern>>,
    /// IP addresses: `10.0.0.0/8`, `2001:db8::/32` or one address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<Vec<IpRange>>,
    /// Email addresses: `ops@example.com` (exact), `example.com` (any mailbox there),
    /// `.example.com` (any mailbox in a subdomain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Vec<EmailPattern>>,
    /// URIs: exact, or a prefix ending in `*` (`https://example.com/devices/*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<Vec<UriPattern>>,
    /// Subject common names: exact or with `*` wildcards (`sensor-*`), case-insensitive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cn: Option<Vec<CnPattern>>,
}

impl NameRules {
    /// Whether no list is set.
    pub fn is_empty(&self) -> bool {
        self.dns.is_none()
            && self.ip.is_none()
            && self.email.is_none()
            && self.uri.is_none()
            && self.cn.is_none()
    }
}

/// The kinds of names a policy lists (the TOML key of each list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// `dns`
    Dns,
    /// `ip`
    Ip,
    /// `email`
    Email,
    /// `uri`
    Uri,
    /// `cn`
    Cn,
}

impl NameKind {
    /// The key of this kind's list in `names.allow` / `names.deny`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Ip => "ip",
            Self::Email => "email",
            Self::Uri => "uri",
            Self::Cn => "cn",
        }
    }
}

/// Why a policy refuses a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameVerdict {
    /// Listed in `names.deny.<kind>` (the pattern that matched).
    Denied(NameKind, String),
    /// Not in `names.allow.<kind>`, or that list is unset and the default allows nothing.
    NotAllowed(NameKind),
}

/// A name to check, in the form the policy compares.
#[derive(Clone, Copy, Debug)]
pub enum Name<'a> {
    /// A DNS name (may be a wildcard `*.example.com`).
    Dns(&'a str),
    /// An IP address.
    Ip(IpAddr),
    /// An email address.
    Email(&'a str),
    /// A URI.
    Uri(&'a str),
    /// A subject common name.
    Cn(&'a str),
}

impl Name<'_> {
    fn kind(&self) -> NameKind {
        match self {
            Self::Dns(_) => NameKind::Dns,
            Self::Ip(_) => NameKind::Ip,
            Self::Email(_) => NameKind::Email,
            Self::Uri(_) => NameKind::Uri,
            Self::Cn(_) => NameKind::Cn,
        }
    }
}

impl NamePolicy {
    /// Whether neither list sets anything (the profile's defaults apply to every kind).
    pub fn is_unset(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Checks one name: refused when a deny pattern matches; else allowed when its allow list
    /// has a match, or when that list is unset and `default_allow` is true.
    pub fn check(&self, name: Name<'_>, default_allow: bool) -> Result<(), NameVerdict> {
        let kind = name.kind();
        if let Some(pattern) = self.deny.matching(name, true) {
            return Err(NameVerdict::Denied(kind, pattern));
        }
        if self.allow.is_set(kind) {
            if self.allow.matching(name, false).is_some() {
                return Ok(());
            }
            return Err(NameVerdict::NotAllowed(kind));
        }
        if default_allow {
            Ok(())
        } else {
            Err(NameVerdict::NotAllowed(kind))
        }
    }

    /// Whether the allow list of `kind` is set (even to an empty list).
    pub fn allows_kind_explicitly(&self, kind: NameKind) -> bool {
        self.allow.is_set(kind)
    }
}

impl NameRules {
    fn is_set(&self, kind: NameKind) -> bool {
        match kind {
            NameKind::Dns => self.dns.is_some(),
            NameKind::Ip => self.ip.is_some(),
            NameKind::Email => self.email.is_some(),
            NameKind::Uri => self.uri.is_some(),
            NameKind::Cn => self.cn.is_some(),
        }
    }

    /// The first pattern matching `name`, as written. For deny lists a requested wildcard
    /// also matches every name it would cover.
    fn matching(&self, name: Name<'_>, deny: bool) -> Option<String> {
        fn first<P: fmt::Display>(
            list: &Option<Vec<P>>,
            hit: impl Fn(&P) -> bool,
        ) -> Option<String> {
            list.as_ref()?
                .iter()
                .find(|p| hit(p))
                .map(ToString::to_string)
        }
        match name {
            Name::Dns(v) => {
                let v = v.trim_end_matches('.').to_ascii_lowercase();
                first(&self.dns, |p| {
                    p.matches(&v) || (deny && p.is_covered_by(&v))
                })
            }
            Name::Ip(ip) => first(&self.ip, |p| p.contains(ip)),
            Name::Email(v) => first(&self.email, |p| p.matches(v)),
            Name::Uri(v) => first(&self.uri, |p| p.matches(v)),
            Name::Cn(v) => first(&self.cn, |p| p.matches(v)),
        }
    }
}

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
    fn matches(&self, name: &str) -> bool {
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
    fn is_covered_by(&self, name: &str) -> bool {
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
    fn matches(&self, address: &str) -> bool {
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
    fn matches(&self, uri: &str) -> bool {
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
    fn matches(&self, cn: &str) -> bool {
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

#[cfg(test)]
mod tests;
