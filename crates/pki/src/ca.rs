use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose,
};
use time::OffsetDateTime;

use crate::certificate::IssueParams;
use crate::oid::{authority_info_access_ocsp, certificate_policies};
use crate::profile::{ExtendedKeyUsage, KeyUsage};
use crate::signing_key::{BoxedKey, RcgenKey};
use crate::{
    CertificateInfo, GeneratedKey, KeyAlgorithm, PkiError, Serial, SignatureAlgorithm, SigningKey,
    SoftwareKey,
};

const ROOT_YEARS: i64 = 20;
const ISSUING_YEARS: i64 = 10;

/// A freshly created root CA and the online issuing intermediate it signed.
pub struct CaSet {
    /// The root's key (keep it offline once the intermediate exists).
    pub root_key: GeneratedKey,
    /// The root certificate, DER.
    pub root_der: Vec<u8>,
    /// The issuing intermediate's key.
    pub issuing_key: GeneratedKey,
    /// The issuing intermediate certificate, DER.
    pub issuing_der: Vec<u8>,
}

impl CaSet {
    /// Creates a root (`<name> Root CA`) and an issuing CA (`<name> Issuing CA`), both with new
    /// keys of `algorithm`, valid from `now`.
    pub fn create(
        name: &str,
        algorithm: KeyAlgorithm,
        now: OffsetDateTime,
    ) -> Result<Self, PkiError> {
        Self::create_with_crl_url(name, algorithm, now, None)
    }

    /// Like [`CaSet::create`]; the issuing CA certificate names `root_crl_url` as its CRL
    /// distribution point (where the root's CRL is published, so relying parties can check the
    /// issuing CA too).
    pub fn create_with_crl_url(
        name: &str,
        algorithm: KeyAlgorithm,
        now: OffsetDateTime,
        root_crl_url: Option<&str>,
    ) -> Result<Self, PkiError> {
        let root_key = GeneratedKey::generate(algorithm)?;
        let issuing_key = GeneratedKey::generate(algorithm)?;
        let build = |e: rcgen::Error| PkiError::Build(e.to_string());

        let mut root = ca_params(&format!("{name} Root CA"), name, now, ROOT_YEARS, None)?;
        root.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        let root_cert = root.self_signed(root_key.signer()).map_err(build)?;
        let root_issuer = rcgen::Issuer::new(root, root_key.signer());

        let mut issuing = ca_params(
            &format!("{name} Issuing CA"),
            name,
            now,
            ISSUING_YEARS,
            None,
        )?;
        issuing.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        issuing.use_authority_key_identifier_extension = true;
        if let Some(url) = root_crl_url {
            issuing.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
                uris: vec![url.to_string()],
            }];
        }
        let issuing_cert = issuing
            .signed_by(issuing_key.signer(), &root_issuer)
            .map_err(build)?;
        Ok(Self {
            root_der: root_cert.der().to_vec(),
            issuing_der: issuing_cert.der().to_vec(),
            root_key,
            issuing_key,
        })
    }
}

fn ca_params(
    common_name: &str,
    organization: &str,
    now: OffsetDateTime,
    years: i64,
    serial: Option<Serial>,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, organization);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(365 * years);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let serial = match serial {
        Some(s) => s,
        None => Serial::random()?,
    };
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    Ok(params)
}

/// The online CA that signs end-entity certificates, CRLs and OCSP responses, with any
/// [`SigningKey`].
pub struct IssuingCa {
    issuer: rcgen::Issuer<'static, BoxedKey>,
    cert_der: Vec<u8>,
    root_der: Vec<u8>,
    info: CertificateInfo,
    subject_key_id: Vec<u8>,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa")
            .field("subject", &self.info.subject)
            .finish_non_exhaustive()
    }
}

impl CaSet {
    /// The issuing CA of this set, ready to sign.
    pub fn issuing_ca(&self) -> Result<IssuingCa, PkiError> {
        let key = GeneratedKey::from_pkcs8_der(&self.issuing_key.signer().serialize_der())?;
        IssuingCa::new(&self.issuing_der, SoftwareKey::new(key)?, &self.root_der)
    }

    /// The root CA of this set, ready to sign its CRL.
    pub fn root_ca(&self) -> Result<crate::RootCa, PkiError> {
        let key = GeneratedKey::from_pkcs8_der(&self.root_key.signer().serialize_der())?;
        crate::RootCa::new(&self.root_der, SoftwareKey::new(key)?)
    }
}

impl IssuingCa {
    /// An issuing CA from its certificate, its key and the root above it.
    pub fn new(
        cert_der: &[u8],
        key: impl SigningKey + 'static,
        root_der: &[u8],
    ) -> Result<Self, PkiError> {
        let info = CertificateInfo::parse(cert_der)?;
        if !info.is_ca {
            return Err(PkiError::Certificate(format!(
                "{} is not a CA certificate",
                info.subject
            )));
        }
        CertificateInfo::parse(root_der)?;
        if key.subject_public_key_info() != spki_of(cert_der)? {
            return Err(PkiError::Key(
                "the issuing CA key does not match the issuing CA certificate".into(),
            ));
        }
        let subject_key_id = subject_key_id_of(cert_der)?;
        let key: Box<dyn SigningKey> = Box::new(key);
        let issuer = rcgen::Issuer::from_ca_cert_der(&cert_der.to_vec().into(), RcgenKey(key))
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        Ok(Self {
            issuer,
            cert_der: cert_der.to_vec(),
            root_der: root_der.to_vec(),
            info,
            subject_key_id,
        })
    }

    /// Signs an end-entity certificate; validity is capped to this CA's own.
    pub fn issue(&self, params: &IssueParams) -> Result<Vec<u8>, PkiError> {
        let build = |e: rcgen::Error| PkiError::Build(e.to_string());
        let mut p = CertificateParams::default();
        p.serial_number = Some(rcgen::SerialNumber::from_slice(params.serial.as_bytes()));
        p.distinguished_name = params.subject.to_rcgen()?;
        p.subject_alt_names = params
            .sans
            .iter()
            .map(|s| s.to_rcgen())
            .collect::<Result<_, _>>()?;
        p.not_before = params.not_before;
        let ca_end = OffsetDateTime::from_unix_timestamp(self.info.not_after)
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        p.not_after = params.not_after.min(ca_end);
        p.is_ca = IsCa::ExplicitNoCa;
        if params.key_usage.is_empty() {
            return Err(PkiError::Build(
                "no key usage of the profile suits the request's key type".into(),
            ));
        }
        p.key_usages = params
            .key_usage
            .iter()
            .map(|k| match k {
                KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
                KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
                KeyUsage::KeyAgreement => KeyUsagePurpose::KeyAgreement,
            })
            .collect();
        p.extended_key_usages = params
            .extended_key_usage
            .iter()
            .map(|k| match k {
                ExtendedKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsage::CodeSigning => ExtendedKeyUsagePurpose::CodeSigning,
                ExtendedKeyUsage::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
            })
            .collect();
        p.use_authority_key_identifier_extension = true;
        p.custom_extensions.push(CustomExtension::from_oid_content(
            &[2, 5, 29, 32],
            certificate_policies(&params.policy_arc, params.level),
        ));
        if let Some(url) = &params.crl_url {
            p.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
                uris: vec![url.clone()],
            }];
        }
        if let Some(url) = &params.ocsp_url {
            p.custom_extensions.push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                authority_info_access_ocsp(url),
            ));
        }
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&params.spki_der).map_err(build)?;
        let cert = p.signed_by(&spki, &self.issuer).map_err(build)?;
        Ok(cert.der().to_vec())
    }

    /// This CA's certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The root certificate above this CA, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// What this CA's certificate says.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// The subjectKeyIdentifier of this CA's certificate.
    pub fn subject_key_id(&self) -> &[u8] {
        &self.subject_key_id
    }

    /// Signs arbitrary bytes with the CA key (the signature in X.509 encoding) and names the
    /// signature algorithm: for OCSP responses.
    pub fn sign_raw(&self, message: &[u8]) -> Result<(Vec<u8>, SignatureAlgorithm), PkiError> {
        let key = &self.issuer.key().0;
        Ok((key.sign(message)?, key.algorithm()))
    }

    pub(crate) fn rcgen_issuer(&self) -> &rcgen::Issuer<'static, BoxedKey> {
        &self.issuer
    }
}

pub(crate) fn subject_key_id_of(cert_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::extensions::ParsedExtension;
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| {
            PkiError::Certificate("the CA certificate has no subject key identifier".into())
        })
}

pub(crate) fn spki_of(cert_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    Ok(cert.public_key().raw.to_vec())
}

#[cfg(test)]
mod tests;
