use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use inkan_pki::Profile;
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
    /// Database URL; default `sqlite:<data-dir>/inkan.db`.
    pub database_url: Option<String>,
    /// CRL and OCSP settings.
    pub revocation: RevocationConfig,
    /// A separate certificate authority that issues device certificates over EST, for the
    /// registry-only deployment; by default this authority issues them itself.
    pub device_issuer: Option<DeviceIssuerConfig>,
    /// TPM 2.0 enrollment.
    pub tpm: TpmConfig,
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
    /// certificate (CRL distribution point, OCSP in authority information access). Default: the
    /// plain-HTTP listener if there is one, else the HTTPS listener, by the first server name.
    pub base_url: Option<String>,
    /// How long a CRL is valid (nextUpdate - thisUpdate); a new one is made at half of it.
    #[serde(with = "inkan_pki::duration_text")]
    pub crl_validity: std::time::Duration,
    /// How long an OCSP response is valid; cached responses are re-signed at half of it.
    #[serde(with = "inkan_pki::duration_text")]
    pub ocsp_validity: std::time::Duration,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            crl_validity: std::time::Duration::from_secs(24 * 3600),
            ocsp_validity: std::time::Duration::from_secs(3600),
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
    /// Optional plain-HTTP listener serving only CRLs, OCSP and health (relying parties fetch
    /// revocation data over HTTP, as RFC 5280 and RFC 6960 expect).
    pub http_listen: Option<SocketAddr>,
    /// Timeouts and connection limits of both listeners (`[server.limits]`).
    pub limits: inkan_http::ConnectionLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            names: vec!["localhost".into(), "127.0.0.1".into()],
            max_body_bytes: 64 * 1024,
            http_listen: None,
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
        if let Some(url) = &self.revocation.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(AuthorityError::Config(format!(
                    "revocation.base_url {url:?} must start with http:// or https://"
                )));
            }
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
