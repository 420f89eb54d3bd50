//! The root CA's one online-capable job: signing its own CRL, which lists the issuing CAs it
//! has revoked, so relying parties that check the whole chain (`openssl verify
//! -crl_check_all`) find a CRL for every level.

use crate::ca::{spki_of, subject_key_id_of};
use crate::signing_key::{BoxedKey, RcgenKey};
use crate::{CertificateInfo, PkiError, SigningKey};

/// A root CA certificate with its key.
pub struct RootCa {
    issuer: rcgen::Issuer<'static, BoxedKey>,
    info: CertificateInfo,
    subject_key_id: Vec<u8>,
}

impl std::fmt::Debug for RootCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCa")
            .field("subject", &self.info.subject)
            .finish_non_exhaustive()
    }
}

impl RootCa {
    /// A root CA from its self-signed certificate and its key.
    pub fn new(cert_der: &[u8], key: impl SigningKey + 'static) -> Result<Self, PkiError> {
        let info = CertificateInfo::parse(cert_der)?;
        if !info.is_ca || info.subject != info.issuer {
            return Err(PkiError::Certificate(format!(
                "{} is not a self-signed CA certificate",
                info.subject
            )));
        }
        if key.subject_public_key_info() != spki_of(cert_der)? {
            return Err(PkiError::Key(
                "the root CA key does not match the root CA certificate".into(),
            ));
        }
        let subject_key_id = subject_key_id_of(cert_der)?;
        let key: Box<dyn SigningKey> = Box::new(key);
        let issuer = rcgen::Issuer::from_ca_cert_der(&cert_der.to_vec().into(), RcgenKey(key))
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        Ok(Self {
            issuer,
            info,
            subject_key_id,
        })
    }

    /// What the root certificate says.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// The subjectKeyIdentifier of the root certificate.
    pub fn subject_key_id(&self) -> &[u8] {
        &self.subject_key_id
    }

    pub(crate) fn rcgen_issuer(&self) -> &rcgen::Issuer<'static, BoxedKey> {
        &self.issuer
    }
}
