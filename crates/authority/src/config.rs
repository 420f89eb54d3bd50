use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use inkan_pki::{PolicyArc, Profile};
use serde::{Deserialize, Serialize};

use crate::AuthorityError;

/// The authority's configuration: `inkan.toml` in the data directory, or `--config FILE`.
/// Every field has a default, so an empty file (or none) is a working configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTPS listener and TLS names.
    pub server: ServerConfig,
    /// EST labels.
    pub est: EstConfig,
    /// Extra or overriding certificate profiles by name. A table named like a built-in profile
    /// (`device`, `server`, `product`, `tpm`, `admin`) overrides only the keys it sets; another
    /// may start from a built-in with `base = "device"`.
    #[serde(deserialize_with = "crate::config::profiles::deserialize")]
    pub profiles: BTreeMap<String, Profile>,
    /// Database URL: `sqlite:PATH` (default `sqlite:<data-dir>/inkan.db`) or
    /// `postgres://USER@HOST:PORT/DATABASE`. `--database-url` / `INKAN_DATABASE_URL` override it.
    pub database_url: Option<String>,
    /// Connection pool and timeouts (PostgreSQL).
    pub database: DatabaseConfig,
    /// CRL and OCSP settings.
    pub revocation: RevocationConfig,
    /// A separate certificate authority that issues device certificates over EST, for the
    /// registry-only deployment; by default this authority issues them itself.
    pub device_issuer: Option<DeviceIssuerConfig>,
    /// TPM 2.0 enrollment.
    pub tpm: TpmConfig,
    /// What issued certificates say to relying parties.
    pub pki: PkiConfig,
}

/// How the authority uses a PostgreSQL database (SQLite ignores these).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connections in the pool of each process.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it is answered 503.
    #[serde(with = "inkan_pki::duration_text")]
    pub acquire_timeout: std::time::Duration,
    /// The longest a statement, a lock wait or an idle transaction may take on the server.
    #[serde(with = "inkan_pki::duration_text")]
    pub statement_timeout: std::time::Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        let d = inkan_store::DatabaseOptions::default();
        Self {
            max_connections: d.max_connections,
            acquire_timeout: d.acquire_timeout,
            statement_timeout: d.statement_timeout,
        }
    }
}

impl DatabaseConfig {
    /// The store's connection options.
    pub fn options(&self) -> inkan_store::DatabaseOptions {
        inkan_store::DatabaseOptions {
            max_connections: self.max_connections,
            acquire_timeout: self.acquire_timeout,
            statement_timeout: self.statement_timeout,
        }
    }
}

/// What issued certificates say to relying parties.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PkiConfig {
    /// The arc under which assurance level N is the certificatePolicies OID `<arc>.N`. Use an
    /// arc you own (e.g. under your IANA private enterprise number, `1.3.6.1.4.1.<PEN>.…`);
    /// the default is under the enterprise number RFC 5612 reserves for documentation.
    pub policy_arc: PolicyArc,
}

/// A separate inkan (or any EST) authority that issues the DeviceCerts of registered devices.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceIssuerConfig {
    /// `https://HOST:PORT` of the issuing authority.
    pub est_url: String,
    /// Its EST label (`/.well-known/est/<label>/`); none for the default label.
    pub label: Option<String>,
    /// Trust anchor(s) for its TLS certificate (PEM).
    pub ca_file: std::path::PathBuf,
    /// File holding that label's EST secret (HTTP Basic), first line.
    pub secret_file: Option<std::path::PathBuf>,
    /// Or a client certificate chain (PEM) that authority accepts, with `client_key`.
    pub client_cert: Option<std::path::PathBuf>,
    /// The client certificate's key (PKCS#8 PEM).
    pub client_key: Option<std::path::PathBuf>,
}

/// TPM 2.0 enrollment settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TpmConfig {
    /// PEM files of the TPM manufacturers' EK CAs (roots and intermediates; each one is trusted
    /// to issue EK certificates). Relative paths are relative to the configuration file.
    pub ek_roots: Vec<PathBuf>,
    /// SHA-256 (hex) of EK publics (TPMT_PUBLIC) accepted without an EK certificate.
    pub ek_allow: Vec<String>,
    /// How long a credential activation may be used.
    #[serde(with = "inkan_pki::duration_text")]
    pub activation_ttl: std::time::Duration,
}

impl Default for TpmConfig {
    fn default() -> Self {
        Self {
            ek_roots: Vec::new(),
            ek_allow: Vec::new(),
            activation_ttl: std::time::Duration::from_secs(300),
        }
    }
}

/// CRL and OCSP settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevocationConfig {
    /// Base URL relying parties use for `/crl/...` and `/ocsp`; written into every issued
    /// certificate (CRL distribution point, OCSP in authority information access) and, at
    /// `inkan ca init`, into the issuing CA certificate (the root's CRL). Default: the
    /// plain-HTTP listener (else the HTTPS one) by the first server name, see
    /// [`Config::revocation_base_url`].
    pub base_url: Option<String>,
    /// How long a CRL is valid (nextUpdate - thisUpdate); a new one is made at half of it.
    #[serde(with = "inkan_pki::duration_text")]
    pub crl_validity: std::time::Duration,
    /// How long an OCSP response is valid; cached responses are re-signed at half of it.
    #[serde(with = "inkan_pki::duration_text")]
    pub ocsp_validity: std::time::Duration,
    /// For how many certificates pre-signed OCSP responses are kept in memory (the most
    /// recently asked about); others are signed when asked. A few hundred bytes each.
    pub ocsp_cache_certificates: usize,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            crl_validity: std::time::Duration::from_secs(24 * 3600),
            ocsp_validity: std::time::Duration::from_secs(3600),
            ocsp_cache_certificates: 100_000,
        }
    }
}

/// HTTPS listener settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// DNS names and IP addresses the server certificate covers.
    pub names: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The plain-HTTP listener serving only CRLs, OCSP and health (relying parties fetch
    /// revocation data over HTTP, as RFC 5280 and RFC 6960 expect): by default next to the
    /// HTTPS listener on port 8080; `"off"` for none.
    pub http_listen: HttpListen,
    /// The admin listener (plain HTTP, Prometheus `/metrics` only): off unless set. Bind it
    /// to an address only the monitoring network reaches.
    pub admin_listen: Option<SocketAddr>,
    /// Timeouts and connection limits of both listeners (`[server.limits]`).
    pub limits: inkan_http::ConnectionLimits,
}

/// Where the plain-HTTP (CRL, OCSP) listener listens: `"auto"`, `"off"` or an address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpListen {
    /// The HTTPS listener's address with port 8080 (port 0, a free port, when the HTTPS port
    /// is 0).
    #[default]
    Auto,
    /// No plain-HTTP listener: certificates then name the HTTPS listener unless
    /// `revocation.base_url` says otherwise.
    Off,
    /// This address.
    At(SocketAddr),
}

/// The plain-HTTP port used next to the HTTPS listener by default.
pub const DEFAULT_HTTP_PORT: u16 = 8080;

impl HttpListen {
    /// The address to bind, given the HTTPS listener's address.
    pub fn resolve(self, https: SocketAddr) -> Option<SocketAddr> {
        match self {
            Self::Auto => {
                let port = if https.port() == 0 {
                    0
                } else {
                    DEFAULT_HTTP_PORT
                };
                Some(SocketAddr::new(https.ip(), port))
            }
            Self::Off => None,
            Self::At(addr) => Some(addr),
        }
    }
}

impl std::str::FromStr for HttpListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            _ => text.parse().map(Self::At).map_err(|_| {
                format!("http_listen {text:?} must be an address like 127.0.0.1:8080, \"auto\" or \"off\"")
            }),
        }
    }
}

impl std::fmt::Display for HttpListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Off => f.write_str("off"),
            Self::At(addr) => write!(f, "{addr}"),
        }
    }
}

impl Serialize for HttpListen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HttpListen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            names: vec!["localhost".into(), "127.0.0.1".into()],
            max_body_bytes: 64 * 1024,
            http_listen: HttpListen::Auto,
            admin_listen: None,
            limits: inkan_http::ConnectionLimits::default(),
        }
    }
}

/// EST settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstConfig {
    /// The label used by the unlabelled paths (`/.well-known/est/simpleenroll`).
    pub default_label: String,
    /// Labels that name a profile different from themselves (`sensors = "sensor"`), or a
    /// profile and who else may enroll there (`[est.labels.fleet] profile = "fleet"`,
    /// `holders = ["device"]`). Every profile but `product`, `admin` and `tpm` is also a label of
    /// its own name.
    pub labels: BTreeMap<String, EstLabel>,
}

impl Default for EstConfig {
    fn default() -> Self {
        Self {
            default_label: "device".into(),
            labels: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Reads a TOML file; a missing file gives the defaults only when `optional`.
    pub fn load(path: &Path, optional: bool) -> Result<Self, AuthorityError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(AuthorityError::io(path, e)),
        };
        let mut config: Self = toml::from_str(&text)
            .map_err(|e| AuthorityError::Config(format!("{}: {e}", path.display())))?;
        if let Some(dir) = path.parent() {
            for root in &mut config.tpm.ek_roots {
                if root.is_relative() {
                    *root = dir.join(&*root);
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Every profile: the built-ins overlaid with the configured ones, names filled in.
    pub fn profiles(&self) -> BTreeMap<String, Profile> {
        let mut all = profiles::built_in();
        for (name, profile) in &self.profiles {
            let mut p = profile.clone();
            p.name.clone_from(name);
            all.insert(name.clone(), p);
        }
        all
    }

    /// The base URL written into certificates for CRLs and OCSP, given the bound HTTPS address
    /// and plain-HTTP address (if any): `revocation.base_url` when set; otherwise the
    /// plain-HTTP listener (or, without one, the HTTPS listener) by the first of `server.names`,
    /// with `localhost` written as the loopback address the listener is on (a name that may
    /// resolve to `::1` while the listener is on `127.0.0.1`, and one that URL checkers such as
    /// pkilint refuse).
    pub fn revocation_base_url(&self, https: SocketAddr, http: Option<SocketAddr>) -> String {
        if let Some(url) = &self.revocation.base_url {
            return url.trim_end_matches('/').to_string();
        }
        let listener = http.unwrap_or(https);
        let mut host = self
            .server
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".into());
        if host.eq_ignore_ascii_case("localhost") {
            host = if listener.ip().is_loopback() {
                listener.ip().to_string()
            } else {
                "127.0.0.1".into()
            };
        }
        if host.contains(':') {
            host = format!("[{host}]");
        }
        match http {
            Some(h) => format!("http://{host}:{}", h.port()),
            None => format!("https://{host}:{}", https.port()),
        }
    }

    /// Whether certificates would send relying parties to this machine only: no
    /// `revocation.base_url` and a first server name that is `localhost` or a loopback address.
    pub fn revocation_urls_are_local(&self) -> bool {
        self.revocation.base_url.is_none()
            && self.server.names.first().is_none_or(|name| {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            })
    }

    /// The profile name an EST label selects (none for unknown labels and for the profiles EST
    /// cannot reach).
    pub fn profile_for_label(&self, label: &str) -> Option<String> {
        self.est_label(label).ok().map(|l| l.profile)
    }

    /// What an EST label allows: its profile and the holders who may enroll there. The error
    /// says why a label is not usable.
    pub fn est_label(&self, label: &str) -> Result<EstLabel, String> {
        let found = match self.est.labels.get(label) {
            Some(l) => l.clone(),
            None => EstLabel {
                profile: label.to_string(),
                holders: Vec::new(),
                products: Vec::new(),
            },
        };
        if let Some(why) = crate::policy::reserved_profile(&found.profile) {
            return Err(format!(
                "EST label {label:?} would select the {} profile, which EST cannot reach: {why}",
                found.profile
            ));
        }
        let profiles = self.profiles();
        match profiles.get(&found.profile) {
            // A profile above what a secret proves is its own label only if a label says so.
            Some(p)
                if !self.est.labels.contains_key(label)
                    && p.level > crate::SHARED_SECRET_MAX_LEVEL =>
            {
                return Err(format!(
                    "profile {label} has level {} and is reached only through the EST labels that name it with holders ({})",
                    p.level,
                    self.labels_of(label).join(", ")
                ));
            }
            Some(_) => {}
            None => {}
        }
        if !profiles.contains_key(&found.profile) {
            return Err(format!(
                "unknown EST label {label:?}: use a profile name ({}) or add [est.labels] to the configuration",
                self.profiles()
                    .keys()
                    .filter(|p| crate::policy::reserved_profile(p).is_none())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(found)
    }

    /// The explicit EST labels that issue `profile`.
    pub fn labels_of(&self, profile: &str) -> Vec<String> {
        self.est
            .labels
            .iter()
            .filter(|(_, l)| l.profile == profile)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Checks cross-references and limits; the message says what to fix.
    pub fn validate(&self) -> Result<(), AuthorityError> {
        for profile in self.profiles().values() {
            profile.validate().map_err(AuthorityError::Config)?;
        }
        crate::policy::check_config(self).map_err(AuthorityError::Config)?;
        if let Err(why) = self.est_label(&self.est.default_label) {
            return Err(AuthorityError::Config(format!("est.default_label: {why}")));
        }
        self.server
            .limits
            .validate()
            .map_err(|e| AuthorityError::Config(format!("server.{e}")))?;
        if self.revocation.crl_validity.as_secs() < 60
            || self.revocation.ocsp_validity.as_secs() < 60
        {
            return Err(AuthorityError::Config(
                "revocation.crl_validity and revocation.ocsp_validity must be at least 1m".into(),
            ));
        }
        if self.revocation.ocsp_cache_certificates < 2 {
            return Err(AuthorityError::Config(
                "revocation.ocsp_cache_certificates must be at least 2".into(),
            ));
        }
        if let Some(url) = &self.revocation.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(AuthorityError::Config(format!(
                    "revocation.base_url {url:?} must start with http:// or https://"
                )));
            }
        }
        if self.database.max_connections == 0
            || self.database.acquire_timeout.is_zero()
            || self.database.statement_timeout.as_millis() < 100
        {
            return Err(AuthorityError::Config(
                "database: max_connections must be at least 1, acquire_timeout above 0 and \
                 statement_timeout at least 100ms"
                    .into(),
            ));
        }
        for hash in &self.tpm.ek_allow {
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AuthorityError::Config(format!(
                    "tpm.ek_allow entry {hash:?} is not a SHA-256 in hex (64 characters)"
                )));
            }
        }
        if !(1..=3600).contains(&self.tpm.activation_ttl.as_secs()) {
            return Err(AuthorityError::Config(
                "tpm.activation_ttl must be between 1s and 1h".into(),
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return Err(AuthorityError::Config(
                "server.max_body_bytes must be between 1024 and 16777216".into(),
            ));
        }
        Ok(())
    }
}

/// One EST label: the profile it issues and who besides its secret's holders may enroll there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EstLabel {
    /// The profile issued on this label.
    pub profile: String,
    /// Profiles whose certificate holders may enroll here for a new certificate (not only renew
    /// their own), authenticated by that certificate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<String>,
    /// When set, only holders whose certificate names one of these products (by name or id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
}

impl<'de> Deserialize<'de> for EstLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            profile: String,
            #[serde(default)]
            holders: Vec<String>,
            #[serde(default)]
            products: Vec<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Name(String),
            Table(Table),
        }
        match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "an EST label is a profile name (`sensors = \"sensor\"`) or a table \
                 `{ profile = \"fleet\", holders = [\"device\"], products = [\"cam\"] }`",
            )
        })? {
            Form::Name(profile) => Ok(Self {
                profile,
                holders: Vec::new(),
                products: Vec::new(),
            }),
            Form::Table(t) => Ok(Self {
                profile: t.profile,
                holders: t.holders,
                products: t.products,
            }),
        }
    }
}

mod profiles;

#[cfg(test)]
mod tests;
