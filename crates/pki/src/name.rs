//! Subject names and alternative names, in the typed form the rest of inkan uses.

use std::fmt;
use std::net::IpAddr;

use rcgen::{DistinguishedName, DnType, DnValue, SanType};
use serde::{Deserialize, Serialize};

use crate::profile::{SanKind, SubjectAttribute};
use crate::PkiError;

/// An ordered list of subject attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject(pub Vec<(SubjectAttribute, String)>);

impl Subject {
    /// The first common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(a, _)| *a == SubjectAttribute::CommonName)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn to_rcgen(&self) -> Result<DistinguishedName, PkiError> {
        let mut dn = DistinguishedName::new();
        for (attr, value) in &self.0 {
            let ty = match attr {
                SubjectAttribute::CommonName => DnType::CommonName,
                SubjectAttribute::Organization => DnType::OrganizationName,
                SubjectAttribute::OrganizationalUnit => DnType::OrganizationalUnitName,
                SubjectAttribute::Country => DnType::CountryName,
                SubjectAttribute::Locality => DnType::LocalityName,
                SubjectAttribute::State => DnType::StateOrProvinceName,
                SubjectAttribute::SerialNumber => DnType::CustomDnType(vec![2, 5, 4, 5]),
            };
            let value = match attr {
                SubjectAttribute::Country | SubjectAttribute::SerialNumber => {
                    DnValue::PrintableString(value.as_str().try_into().map_err(|_| {
                        PkiError::Build(format!("{value:?} is not a printable string"))
                    })?)
                }
                _ => DnValue::Utf8String(value.clone()),
            };
            dn.push(ty, value);
        }
        Ok(dn)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (attr, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let short = match attr {
                SubjectAttribute::CommonName => "CN",
                SubjectAttribute::Organization => "O",
                SubjectAttribute::OrganizationalUnit => "OU",
                SubjectAttribute::Country => "C",
                SubjectAttribute::SerialNumber => "serialNumber",
                SubjectAttribute::Locality => "L",
                SubjectAttribute::State => "ST",
            };
            write!(f, "{short}=")?;
            for c in value.chars() {
                if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// A subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum San {
    /// dNSName
    Dns(String),
    /// iPAddress
    Ip(IpAddr),
    /// rfc822Name
    Email(String),
    /// uniformResourceIdentifier
    Uri(String),
}

impl San {
    /// Which form this name has.
    pub fn kind(&self) -> SanKind {
        match self {
            Self::Dns(_) => SanKind::Dns,
            Self::Ip(_) => SanKind::Ip,
            Self::Email(_) => SanKind::Email,
            Self::Uri(_) => SanKind::Uri,
        }
    }

    /// Reads a name given on a command line: an IP address if it parses as one, else a DNS name,
    /// an email address if it has `@`, a URI if it has `:`.
    pub fn guess(text: &str) -> Self {
        if let Ok(ip) = text.parse() {
            Self::Ip(ip)
        } else if text.contains('@') {
            Self::Email(text.into())
        } else if text.contains(':') {
            Self::Uri(text.into())
        } else {
            Self::Dns(text.into())
        }
    }

    /// The name without its form prefix (what [`San::guess`] reads back).
    pub fn value(&self) -> String {
        match self {
            Self::Dns(v) | Self::Email(v) | Self::Uri(v) => v.clone(),
            Self::Ip(ip) => ip.to_string(),
        }
    }

    pub(crate) fn to_rcgen(&self) -> Result<SanType, PkiError> {
        let bad = |v: &str| PkiError::Build(format!("{v:?} is not an IA5 string"));
        Ok(match self {
            Self::Dns(v) => SanType::DnsName(v.as_str().try_into().map_err(|_| bad(v))?),
            Self::Ip(ip) => SanType::IpAddress(*ip),
            Self::Email(v) => SanType::Rfc822Name(v.as_str().try_into().map_err(|_| bad(v))?),
            Self::Uri(v) => SanType::URI(v.as_str().try_into().map_err(|_| bad(v))?),
        })
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(v) => write!(f, "DNS:{v}"),
            Self::Ip(v) => write!(f, "IP:{v}"),
            Self::Email(v) => write!(f, "email:{v}"),
            Self::Uri(v) => write!(f, "URI:{v}"),
        }
    }
}

/// Reads a parsed X.509 name into a [`Subject`]; unknown attribute types are reported by OID.
pub(crate) fn subject_from_x509(
    name: &x509_parser::x509::X509Name<'_>,
) -> Result<Subject, UnknownAttribute> {
    let mut out = Vec::new();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            let oid = atv.attr_type().to_id_string();
            let attr = SubjectAttribute::from_oid(&oid).ok_or(UnknownAttribute::Type(oid))?;
            let value = atv
                .as_str()
                .map_err(|_| UnknownAttribute::Value(format!("{attr:?}")))?;
            out.push((attr, value.to_string()));
        }
    }
    Ok(Subject(out))
}

/// A subject attribute inkan cannot represent.
#[derive(Debug)]
pub(crate) enum UnknownAttribute {
    /// An attribute type outside [`SubjectAttribute`].
    Type(String),
    /// A value that is not a string.
    Value(String),
}

/// Reads a parsed general name into a [`San`]; other forms are reported by name.
pub(crate) fn san_from_x509(
    name: &x509_parser::extensions::GeneralName<'_>,
) -> Result<San, String> {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(v) => Ok(San::Dns(v.to_string())),
        GeneralName::RFC822Name(v) => Ok(San::Email(v.to_string())),
        GeneralName::URI(v) => Ok(San::Uri(v.to_string())),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => {
                let octets: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
                Ok(San::Ip(IpAddr::from(octets)))
            }
            16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(bytes);
                Ok(San::Ip(IpAddr::from(octets)))
            }
            _ => Err("a malformed IP address".into()),
        },
        other => Err(format!("{other:?}")),
    }
}
