//! What the upstream is told: hop-by-hop and spoofed headers removed, the verified identity and
//! the forwarding facts set by the gateway alone. Pure functions over header maps.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::identity::ClientIdentity;

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1).
pub(crate) const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwarding headers a client may not set, unless it is a trusted proxy.
const FORWARDING: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Why a request's host is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HostError {
    /// More than one `Host` header.
    Duplicate,
    /// The request target's authority (HTTP/2 `:authority`, or an absolute-form target) and
    /// the `Host` header name different hosts.
    Conflicting,
    /// Not valid text.
    Malformed,
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Duplicate => "more than one Host header",
            Self::Conflicting => "the request target and the Host header name different hosts",
            Self::Malformed => "the Host header is not valid",
        })
    }
}

/// The host a request is for, one rule for HTTP/1.1 and HTTP/2: the request target's authority
/// when it has one (HTTP/2 `:authority`, absolute-form HTTP/1.1), else the single `Host` header.
/// Both present and different, or two `Host` headers, is an error (RFC 9112 §3.2).
pub(crate) fn request_host(headers: &HeaderMap, uri: &Uri) -> Result<Option<String>, HostError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Duplicate);
    }
    let host = host
        .map(|h| h.to_str().map_err(|_| HostError::Malformed))
        .transpose()?;
    match (uri.authority().map(|a| a.as_str()), host) {
        (Some(target), Some(host)) if !target.eq_ignore_ascii_case(host) => {
            Err(HostError::Conflicting)
        }
        (Some(target), _) => Ok(Some(target.to_ascii_lowercase())),
        (None, host) => Ok(host.map(str::to_ascii_lowercase)),
    }
}

/// The host name of `host` without its port (`[::1]:8443` → `[::1]`).
pub(crate) fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// Facts about the connection the gateway forwards.
pub(crate) struct Forwarding<'a> {
    /// The client's address.
    pub client: IpAddr,
    /// The host the request is for ([`request_host`]).
    pub host: Option<&'a str>,
    /// Whether the client is a configured trusted proxy, whose forwarding headers are kept.
    pub from_trusted_proxy: bool,
}

/// Rewrites a client's headers for the upstream: removes hop-by-hop headers, every header
/// whose name has an underscore (CGI and WSGI fold `X_Inkan_Subject` into `X-Inkan-Subject`;
/// nginx drops such headers by default), every `X-Inkan-*` header, and the forwarding headers
/// unless the client is a trusted proxy; then sets the identity and forwarding headers.
pub(crate) fn prepare_headers(
    headers: &mut HeaderMap,
    identity: Option<&ClientIdentity>,
    forwarding: &Forwarding<'_>,
) {
    let previous_for = if forwarding.from_trusted_proxy {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    } else {
        None
    };
    let removed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let name = k.as_str();
            name.contains('_')
                || name.starts_with("x-inkan-")
                || HOP_BY_HOP.contains(&name)
                || (!forwarding.from_trusted_proxy && FORWARDING.contains(&name))
        })
        .cloned()
        .collect();
    for name in removed {
        headers.remove(name);
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    match identity {
        Some(id) => {
            set("x-inkan-verified", "SUCCESS");
            set("x-inkan-subject", &id.subject);
            if !id.serial.is_empty() {
                set("x-inkan-serial", &id.serial);
            }
            if let Some(level) = id.level {
                set("x-inkan-level", &level.to_string());
            }
            if let Some(card) = &id.card {
                set("x-inkan-method", "card");
                set("x-inkan-card-segment", &card.segment);
                set("x-inkan-card-idm", &card.idm);
                if let Some(user) = &card.user {
                    set("x-inkan-user", user);
                }
            }
            if let Some(device) = &id.device {
                set("x-inkan-device", device);
            }
            if let Some(product) = &id.product {
                set("x-inkan-product", product);
            }
            if let Some(linked) = &id.linked {
                set("x-inkan-linked-device", linked);
            }
            if let Some(account) = &id.account {
                set("x-inkan-account", account);
            }
            if !id.escaped_pem.is_empty() {
                set("x-inkan-client-cert", &id.escaped_pem);
            }
        }
        None => set("x-inkan-verified", "NONE"),
    }
    let client = forwarding.client.to_string();
    let forwarded_for = match previous_for {
        Some(previous) => format!("{previous}, {client}"),
        None => client.clone(),
    };
    set("x-forwarded-for", &forwarded_for);
    set("x-forwarded-proto", "https");
    if !forwarding.from_trusted_proxy {
        set("x-real-ip", &client);
        let node = match forwarding.client {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        match forwarding.host {
            Some(host) => {
                set("x-forwarded-host", host);
                set(
                    "forwarded",
                    &format!("for={node};proto=https;host=\"{host}\""),
                );
            }
            None => set("forwarded", &format!("for={node};proto=https")),
        }
    }
    if let Some(host) = forwarding.host {
        set("host", host);
    }
}

/// Whether a request may be sent to another upstream after this one failed or timed out once
/// it may have reached it: only idempotent methods (RFC 9110 §9.2.2), as nginx's
/// `proxy_next_upstream` does. A request that never reached an upstream (connection refused)
/// may always be sent to the next one.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// A list of address ranges (`10.0.0.0/8`, `::1/128`, or single addresses).
#[derive(Clone, Debug, Default)]
pub(crate) struct AddressRanges(Vec<(IpAddr, u8)>);

impl AddressRanges {
    /// Parses CIDR ranges; the error names the bad entry.
    pub(crate) fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let (address, bits) = match entry.split_once('/') {
                    Some((a, b)) => (a, Some(b)),
                    None => (entry.as_str(), None),
                };
                let address: IpAddr = address
                    .parse()
                    .map_err(|_| format!("trusted_proxies: {entry:?} is not an address range"))?;
                let max = if address.is_ipv4() { 32 } else { 128 };
                let bits = match bits {
                    Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| {
                        format!("trusted_proxies: bad prefix length in {entry:?}")
                    })?,
                    None => max,
                };
                Ok((address, bits))
            })
            .collect::<Result<Vec<_>, String>>()
            .map(Self)
    }

    /// Whether `ip` is in one of the ranges.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|(range, bits)| match (range, ip) {
            (IpAddr::V4(r), IpAddr::V4(a)) => prefix_matches(&r.octets(), &a.octets(), *bits),
            (IpAddr::V6(r), IpAddr::V6(a)) => prefix_matches(&r.octets(), &a.octets(), *bits),
            _ => false,
        })
    }
}

fn prefix_matches(range: &[u8], address: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let whole = bits / 8;
    if range.get(..whole) != address.get(..whole) {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (range.get(whole), address.get(whole)) {
        (Some(r), Some(a)) => r & mask == a & mask,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
