use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::csr::KeyType;
use crate::name_policy::NamePolicy;

/// What a certificate issued under this profile looks like and which requests it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile name; EST labels select profiles by this name.
    #[serde(default)]
    pub name: String,
    /// How long an issued certificate is valid.
    #[serde(with = "duration_text")]
    pub validity: Duration,
    /// How far before "now" notBefore is set, to tolerate clock skew.
    #[serde(with = "duration_text", default = "default_backdate")]
    pub backdate: Duration,
    /// Key usage bits.
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages.
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Subject alternative name forms a request may carry.
    pub san: Vec<SanKind>,
    /// At most this many SANs.
    #[serde(default = "default_max_sans")]
    pub max_sans: usize,
    /// Subject attributes a request may carry.
    pub subject: Vec<SubjectAttribute>,
    /// Whether the subject must carry a common name.
    #[serde(default)]
    pub require_common_name: bool,
    /// Key types a request may use.
    pub key_types: Vec<KeyType>,
    /// Assurance level (1–4) written as a certificatePolicies OID.
    pub level: u8,
    /// Which names certificates of this profile may carry (`names.allow`, `names.deny`).
    #[serde(default, skip_serializing_if = "NamePolicy::is_unset")]
    pub names: NamePolicy,
}

fn default_backdate() -> Duration {
    Duration::from_secs(300)
}

fn default_max_sans() -> usize {
    16
}

impl Profile {
    /// The built-in `device` profile: TLS client certificates for devices, 90 days, level 2.
    pub fn device() -> Self {
        Self {
            name: "device".into(),
            validity: Duration::from_secs(90 * 86_400),
            backdate: default_backdate(),
            key_usage: vec![KeyUsage::DigitalSignature],
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            san: vec![SanKind::Dns, SanKind::Uri, SanKind::Email],
            max_sans: default_max_sans(),
            subject: vec![
                SubjectAttribute::CommonName,
                SubjectAttribute::Organization,
                SubjectAttribute::OrganizationalUnit,
                SubjectAttribute::Country,
            ],
            require_common_name: true,
            key_types: KeyType::DEFAULT_ALLOWED.to_vec(),
            level: 2,
            names: NamePolicy::default(),
        }
    }

    /// The built-in `server` profile: TLS server certificates, 90 days, level 2. Key
    /// encipherment applies to RSA keys only (see [`KeyUsage::suits`]).
    pub fn server() -> Self {
        Self {
            name: "server".into(),
            validity: Duration::from_secs(90 * 86_400),
            backdate: default_backdate(),
            key_usage: vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment],
            extended_key_usage: vec![ExtendedKeyUsage::ServerAuth],
            san: vec![SanKind::Dns, SanKind::Ip],
            max_sans: 100,
            subject: vec![
                SubjectAttribute::CommonName,
                SubjectAttribute::Organization,
                SubjectAttribute::OrganizationalUnit,
                SubjectAttribute::Country,
            ],
            require_common_name: false,
            key_types: KeyType::DEFAULT_ALLOWED.to_vec(),
            level: 2,
            names: NamePolicy::default(),
        }
    }

    /// The built-in `product` profile: the ProductCert shared by every unit of a product line,
    /// used only to bootstrap each unit's own certificate; 5 years, level 2.
    pub fn product() -> Self {
        Self {
            name: "product".into(),
            validity: Duration::from_secs(5 * 365 * 86_400),
            backdate: default_backdate(),
            key_usage: vec![KeyUsage::DigitalSignature],
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            san: vec![SanKind::Uri],
            max_sans: 1,
            subject: vec![SubjectAttribute::CommonName, SubjectAttribute::Organization],
            require_common_name: true,
            key_types: KeyType::DEFAULT_ALLOWED.to_vec(),
            level: 2,
            names: NamePolicy::default(),
        }
    }

    /// The built-in `admin` profile: TLS client certificates for administrators of the `/v1`
    /// API (the alternative to bearer tokens), 1 year, level 3. Issued only by `inkan admin cert
    /// create`, never through enrollment.
    pub fn admin() -> Self {
        Self {
            name: "admin".into(),
            validity: Duration::from_secs(365 * 86_400),
            backdate: default_backdate(),
            key_usage: vec![KeyUsage::DigitalSignature],
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            san: vec![SanKind::Email],
            max_sans: 1,
            subject: vec![SubjectAttribute::CommonName],
            require_common_name: true,
            key_types: KeyType::DEFAULT_ALLOWED.to_vec(),
            level: 3,
            names: NamePolicy::default(),
        }
    }

    /// The built-in `tpm` profile: TLS client certificates for keys a TPM 2.0 attested, 90 days,
    /// level 3. The subject is the CSR's common name only; the authority sets the one SAN
    /// (`urn:inkan:tpm:<key name prefix>`).
    pub fn tpm() -> Self {
        Self {
            name: "tpm".into(),
            validity: Duration::from_secs(90 * 86_400),
            backdate: default_backdate(),
            key_usage: vec![KeyUsage::DigitalSignature],
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            san: vec![SanKind::Uri],
            max_sans: 1,
            subject: vec![SubjectAttribute::CommonName],
            require_common_name: true,
            key_types: vec![KeyType::P256, KeyType::Rsa2048],
            level: 3,
            names: NamePolicy::default(),
        }
    }

    /// The built-in `tee` profile: TLS client certificates for keys a TA profile's trusted
    /// app generated, 90 days, level 2. The authority writes every name: CN = the device UID,
    /// serialNumber when the TA read one, SANs `urn:inkan:tee:<uid>`, `urn:dev:mac:…`,
    /// `urn:gsma:imei:…`.
    pub fn tee() -> Self {
        Self {
            name: "tee".into(),
            validity: Duration::from_secs(90 * 86_400),
            backdate: default_backdate(),
            key_usage: vec![KeyUsage::DigitalSignature],
            extended_key_usage: vec![ExtendedKeyUsage::ClientAuth],
            san: vec![SanKind::Uri],
            max_sans: 3,
            subject: vec![SubjectAttribute::CommonName, SubjectAttribute::SerialNumber],
            require_common_name: true,
            key_types: vec![KeyType::P256, KeyType::P384],
            level: 2,
            names: NamePolicy::default(),
        }
    }

    /// Certificates for a trusted app whose key lives in the device's TPM (TEE provisioning on
    /// a TPM): as [`Profile::tee`], P-256 only, level 3.
    pub fn tee_tpm() -> Self {
        Self {
            name: "tee-tpm".into(),
            key_types: vec![KeyType::P256],
            level: 3,
            ..Self::tee()
        }
    }

    /// Short-lived client certificates for a linked device's own key, issued on its anchor's
    /// approval: 12 hours, P-256 or P-384, level 2, named by the authority.
    pub fn linked() -> Self {
        Self {
            name: "linked".into(),
            validity: Duration::from_secs(12 * 3600),
            max_sans: 2,
            subject: vec![SubjectAttribute::CommonName],
            key_types: vec![KeyType::P256, KeyType::P384],
            level: 2,
            ..Self::tee()
        }
    }

    /// Whether this is a TLS server profile (its EKU has serverAuth): such profiles allow no
    /// DNS name, IP address or common name until the operator lists them.
    pub fn is_server(&self) -> bool {
        self.extended_key_usage
            .contains(&ExtendedKeyUsage::ServerAuth)
    }

    /// Checks the profile is self-consistent; returns a message naming the problem.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=4).contains(&self.level) {
            return Err(format!("profile {}: level must be 1 to 4", self.name));
        }
        if self.validity.as_secs() < 60 {
            return Err(format!(
                "profile {}: validity must be at least 1m",
                self.name
            ));
        }
        if self.key_types.is_empty() {
            return Err(format!("profile {}: key_types is empty", self.name));
        }
        Ok(())
    }
}

/// Key usage bits inkan sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUsage {
    /// digitalSignature
    DigitalSignature,
    /// keyEncipherment (RSA key transport)
    KeyEncipherment,
    /// keyAgreement
    KeyAgreement,
}

impl KeyUsage {
    /// Whether a key of this type may carry the bit: keyEncipherment is RSA key transport only
    /// (RFC 5480 forbids it for EC keys), keyAgreement is ECDH only (RFC 4055 and RFC 8410 leave
    /// it out for RSA and Ed25519).
    pub fn suits(self, key: KeyType) -> bool {
        let rsa = matches!(key, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096);
        let ec = matches!(key, KeyType::P256 | KeyType::P384);
        match self {
            Self::DigitalSignature => true,
            Self::KeyEncipherment => rsa,
            Self::KeyAgreement => ec,
        }
    }
}

/// Extended key usages inkan sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtendedKeyUsage {
    /// id-kp-clientAuth
    ClientAuth,
    /// id-kp-serverAuth
    ServerAuth,
    /// id-kp-codeSigning
    CodeSigning,
    /// id-kp-emailProtection
    EmailProtection,
}

/// Subject alternative name forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SanKind {
    /// dNSName
    Dns,
    /// iPAddress
    Ip,
    /// rfc822Name
    Email,
    /// uniformResourceIdentifier
    Uri,
}

/// Subject attributes a profile can allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubjectAttribute {
    /// commonName (2.5.4.3)
    #[serde(rename = "CN")]
    CommonName,
    /// organizationName (2.5.4.10)
    #[serde(rename = "O")]
    Organization,
    /// organizationalUnitName (2.5.4.11)
    #[serde(rename = "OU")]
    OrganizationalUnit,
    /// countryName (2.5.4.6)
    #[serde(rename = "C")]
    Country,
    /// serialNumber (2.5.4.5)
    #[serde(rename = "serialNumber")]
    SerialNumber,
    /// localityName (2.5.4.7)
    #[serde(rename = "L")]
    Locality,
    /// stateOrProvinceName (2.5.4.8)
    #[serde(rename = "ST")]
    State,
}

impl SubjectAttribute {
    /// The attribute's dotted OID.
    pub fn oid(self) -> &'static str {
        match self {
            Self::CommonName => "2.5.4.3",
            Self::Organization => "2.5.4.10",
            Self::OrganizationalUnit => "2.5.4.11",
            Self::Country => "2.5.4.6",
            Self::SerialNumber => "2.5.4.5",
            Self::Locality => "2.5.4.7",
            Self::State => "2.5.4.8",
        }
    }

    /// The attribute for a dotted OID, if inkan knows it.
    pub fn from_oid(oid: &str) -> Option<Self> {
        [
            Self::CommonName,
            Self::Organization,
            Self::OrganizationalUnit,
            Self::Country,
            Self::SerialNumber,
            Self::Locality,
            Self::State,
        ]
        .into_iter()
        .find(|a| a.oid() == oid)
    }
}

/// Durations written as `90d`, `12h`, `30m` or `45s` in configuration files.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Parses `<number><unit>` with unit d, h, m or s.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("duration {text:?} needs a unit: d, h, m or s"))?;
        let (number, unit) = text.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("duration {text:?} does not start with a number"))?;
        let scale = match unit {
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" => 1,
            _ => return Err(format!("duration {text:?}: unit must be d, h, m or s")),
        };
        n.checked_mul(scale)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("duration {text:?} is too large"))
    }

    /// Formats a duration in the largest whole unit.
    pub fn format(d: &Duration) -> String {
        let s = d.as_secs();
        match s {
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3_600 == 0 => format!("{}h", s / 3_600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        }
    }

    /// Serde: writes the duration as text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    /// Serde: reads the duration from text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
