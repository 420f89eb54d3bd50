use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::GatewayError;

/// `gateway.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address of the TLS listener.
    pub listen: SocketAddr,
    /// Server certificate chain (PEM) and key (PKCS#8 PEM) — or leave both out and use
    /// `[tls_from_authority]`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Server key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Get the gateway's certificate from an inkan authority over EST at start.
    #[serde(default)]
    pub tls_from_authority: Option<TlsFromAuthority>,
    /// PEM files with the CA certificates client certificates may chain to (roots and
    /// intermediates; an inkan data directory's `ca/chain.pem`).
    pub client_ca: Vec<PathBuf>,
    /// P-256 PKCS#8 key (PEM) to sign an `X-Inkan-Assertion` JWS (ES256) for upstreams.
    #[serde(default)]
    pub assertion_key: Option<PathBuf>,
    /// Trust anchors (PEM) for `https://` upstreams; default: the `client_ca` roots.
    #[serde(default)]
    pub upstream_ca: Vec<PathBuf>,
    /// Optional plain-HTTP admin listener serving Prometheus `/metrics` (keep it private).
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// Where revocations come from.
    #[serde(default)]
    pub revocation: RevocationSource,
    /// The arc under which the authority writes assurance levels (`<arc>.<level>`): the
    /// authority's `pki.policy_arc`. Levels under the `2.25.…` arc of certificates issued before the arc was
    /// configurable are read too.
    #[serde(default)]
    pub policy_arc: inkan_pki::PolicyArc,
    /// Address ranges (`10.0.0.0/8`, `::1`) of proxies in front of the gateway whose
    /// `X-Forwarded-For`, `Forwarded`, `X-Real-IP` and `X-Forwarded-Host` are kept; from anyone
    /// else those headers are replaced with what the gateway sees.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Timeouts and connection limits of the listener (`[limits]`, as the authority's
    /// `[server.limits]`).
    #[serde(default)]
    pub limits: inkan_http::ConnectionLimits,
    /// Card + PIN login (`[cards]`, docs/cards.md), for routes with `auth = ["card"]`.
    #[serde(default)]
    pub cards: Option<CardsConfig>,
    /// Routes, matched by host then longest path prefix.
    #[serde(rename = "route")]
    pub routes: Vec<RouteConfig>,
}

/// `[cards]`: where the segments' salts, attempt counters, cards and users are kept, and how
/// card sessions behave.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardsConfig {
    /// The inkan data directory holding the segments (its database and sealing key); the
    /// gateway opens it itself, so card logins work with no authority running.
    pub data_dir: PathBuf,
    /// The local card reader helper the login page asks for the card (`inkan agent card`).
    #[serde(default = "default_helper")]
    pub helper: String,
    /// A session ends when no request came for this long (default 15m).
    #[serde(default = "default_idle", with = "duration")]
    pub session_idle: Duration,
    /// A session ends this long after the login in any case (default 8h).
    #[serde(default = "default_lifetime", with = "duration")]
    pub session_lifetime: Duration,
    /// Bind sessions to the card: the card helper reports the card while it stays on the
    /// reader, and the session ends when it is taken off (default true).
    #[serde(default = "default_true")]
    pub card_presence: bool,
    /// With `card_presence`, a session ends when the helper has not reported the card for this
    /// long (it reports every 3 s; default 10s).
    #[serde(default = "default_presence_timeout", with = "duration")]
    pub presence_timeout: Duration,
    /// A URL that gets a JSON POST when a card or an address is locked (within 5 s).
    #[serde(default)]
    pub alert_webhook: Option<String>,
}

fn default_helper() -> String {
    "http://127.0.0.1:47120".into()
}

fn default_true() -> bool {
    true
}

fn default_presence_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_idle() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_lifetime() -> Duration {
    Duration::from_secs(8 * 3600)
}

/// Enrollment of the gateway's own certificate at start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFromAuthority {
    /// The authority's HTTPS URL.
    pub url: String,
    /// Its TLS trust anchor (PEM).
    pub ca: PathBuf,
    /// EST label (a profile issuing server certificates).
    #[serde(default = "server_label")]
    pub label: String,
    /// File holding the label's enrollment secret.
    pub secret_file: PathBuf,
    /// DNS names and IP addresses the certificate covers (the first is the CN).
    pub names: Vec<String>,
}

fn server_label() -> String {
    "server".into()
}

/// Where the gateway learns about revocations.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSource {
    /// The authority's HTTPS URL; the gateway follows its `/v1/revocations/stream`.
    pub authority: Option<String>,
    /// Trust anchor (PEM) for the authority's TLS certificate.
    pub authority_ca: Option<PathBuf>,
    /// CRL files (DER or PEM) to load at start, for use without an authority.
    #[serde(default)]
    pub crl_files: Vec<PathBuf>,
    /// Refuse client-certificate requests (503) when the feed has been unreachable this long;
    /// unset: keep serving with the last known state.
    #[serde(default, with = "optional_duration")]
    pub fail_closed_after: Option<Duration>,
}

/// One route.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Host to match (without port); unset matches any host.
    pub host: Option<String>,
    /// Path prefix to match.
    #[serde(default = "root_path")]
    pub path: String,
    /// Upstream base URLs (`http://host:port`), used round-robin.
    pub upstreams: Vec<String>,
    /// Whether a client certificate is needed.
    #[serde(default)]
    pub client_cert: ClientCertMode,
    /// The authentication methods the route accepts, tried in order (default: `client-cert`).
    #[serde(default = "default_auth")]
    pub auth: Vec<AuthMethod>,
    /// The lowest assurance level accepted (from the certificate's policy OID).
    #[serde(default)]
    pub min_level: Option<u8>,
    /// Only these subjects (exact, e.g. `CN=dev-1`), if set.
    #[serde(default)]
    pub allow_subjects: Vec<String>,
    /// Only these certificate serials, if set.
    #[serde(default)]
    pub allow_serials: Vec<String>,
    /// Only devices of these products (product ids), if set.
    #[serde(default)]
    pub allow_products: Vec<String>,
    /// Only these devices (device ids), if set.
    #[serde(default)]
    pub allow_devices: Vec<String>,
    /// The card segment whose cards log in here (routes with `auth = ["card"]`).
    #[serde(default)]
    pub segment: Option<String>,
}

fn root_path() -> String {
    "/".into()
}

fn default_auth() -> Vec<AuthMethod> {
    vec![AuthMethod::ClientCert]
}

/// A way a client proves who it is, as a route's `auth` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// A TLS client certificate from the configured CAs, not revoked (`client-cert`).
    ClientCert,
    /// A linked device's certificate (`urn:inkan:linked:` SAN), issued on its anchor's
    /// approval, not revoked (`linked-device`); other certificates are not this credential.
    LinkedDevice,
    /// A card session of the route's segment, opened on the gateway's login page with an IC
    /// card (level 1), + PIN (level 2), + password (level 3) (`card`).
    Card,
}

/// Client-certificate requirement of a route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertMode {
    /// A valid, unrevoked certificate is needed.
    #[default]
    Required,
    /// A certificate is checked if presented; requests without one pass unauthenticated.
    Optional,
    /// Certificates are ignored.
    Off,
}

impl GatewayConfig {
    /// Reads and checks a configuration file; relative paths are taken from its directory.
    pub fn load(path: &Path) -> Result<Self, GatewayError> {
        let text = std::fs::read_to_string(path).map_err(|e| GatewayError::file(path, e))?;
        let mut config: Self = toml::from_str(&text).map_err(|e| GatewayError::file(path, e))?;
        config
            .limits
            .validate()
            .map_err(|e| GatewayError::file(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = config.cert.as_mut() {
            fix(p);
        }
        if let Some(p) = config.key.as_mut() {
            fix(p);
        }
        if let Some(t) = config.tls_from_authority.as_mut() {
            fix(&mut t.ca);
            fix(&mut t.secret_file);
        }
        config.client_ca.iter_mut().for_each(fix);
        config.upstream_ca.iter_mut().for_each(fix);
        config.revocation.crl_files.iter_mut().for_each(fix);
        if let Some(p) = config.revocation.authority_ca.as_mut() {
            fix(p);
        }
        if let Some(p) = config.assertion_key.as_mut() {
            fix(p);
        }
        if let Some(c) = config.cards.as_mut() {
            fix(&mut c.data_dir);
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the configuration; the message names what to fix.
    pub fn validate(&self) -> Result<(), GatewayError> {
        self.check().map_err(GatewayError::Config)
    }

    fn check(&self) -> Result<(), String> {
        if self.routes.is_empty() {
            return Err("add at least one [[route]]".into());
        }
        for r in &self.routes {
            if r.upstreams.is_empty() {
                return Err(format!("route {:?} has no upstreams", r.path));
            }
            if let Some(u) = r
                .upstreams
                .iter()
                .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
            {
                return Err(format!(
                    "upstream {u:?} must start with http:// or https://"
                ));
            }
            if !r.path.starts_with('/') {
                return Err(format!("route path {:?} must start with /", r.path));
            }
            if r.min_level.is_some_and(|l| !(1..=4).contains(&l)) {
                return Err(format!("route {:?}: min_level must be 1 to 4", r.path));
            }
            let card = r.auth.contains(&AuthMethod::Card);
            if card && (r.segment.is_none() || self.cards.is_none()) {
                return Err(format!(
                    "route {:?}: auth \"card\" needs segment = \"NAME\" on the route and a [cards] section",
                    r.path
                ));
            }
            if !card && r.segment.is_some() {
                return Err(format!(
                    "route {:?}: segment is for routes with auth = [\"card\"]",
                    r.path
                ));
            }
            if card && r.path.starts_with(crate::cards::PREFIX) {
                return Err(format!("route path {:?} is the gateway's own", r.path));
            }
            if r.auth.is_empty() && r.client_cert != ClientCertMode::Off {
                return Err(format!(
                    "route {:?}: auth must name at least one method (\"client-cert\", \"linked-device\"), or set client_cert = \"off\"",
                    r.path
                ));
            }
        }
        match (&self.cert, &self.key, &self.tls_from_authority) {
            (Some(_), Some(_), None) | (None, None, Some(_)) => {}
            _ => return Err("give either cert and key, or [tls_from_authority] (not both)".into()),
        }
        if self
            .tls_from_authority
            .as_ref()
            .is_some_and(|t| t.names.is_empty())
        {
            return Err("tls_from_authority.names must list the gateway's names".into());
        }
        if self.client_ca.is_empty() {
            return Err("client_ca must list at least one CA file".into());
        }
        Ok(())
    }
}

mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        inkan_pki::duration_text::parse(&text).map_err(serde::de::Error::custom)
    }
}

mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| inkan_pki::duration_text::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
