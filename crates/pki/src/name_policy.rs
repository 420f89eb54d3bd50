//! A profile's name policy: which DNS names, IP addresses, email addresses, URIs and common names
//! a certificate may carry. Written in a profile's TOML as `names.allow` and `names.deny`, each
//! with `dns`, `ip`, `email`, `uri` and `cn` lists. Deny wins; an allow list that is not set
//! leaves its kind to the default the caller passes (the authority's: nothing for server
//! profiles, anything the profile's forms allow for the others).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

mod patterns;

pub use patterns::{CnPattern, DnsPattern, EmailPattern, IpRange, UriPattern};

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

#[cfg(test)]
mod tests;
