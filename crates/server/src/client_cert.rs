use inkan_authority::Authority;
use inkan_pki::{verify_chain, CertificateInfo, ChainUsage};
use inkan_store::CertificateStatus;

pub use inkan_http::PeerCertificates;

/// A client certificate that is ours, currently valid, recorded and not revoked.
#[derive(Clone, Debug)]
pub struct VerifiedClient {
    /// What the certificate says.
    pub info: CertificateInfo,
    /// The profile it was issued under, from this authority's record.
    pub profile: String,
}

/// Why a presented client certificate is not accepted.
#[derive(Debug)]
pub(crate) enum ClientCertProblem {
    /// No certificate was presented.
    Missing,
    /// It does not chain to this authority, has expired, or is not for client auth.
    Untrusted(String),
    /// It was revoked.
    Revoked,
    /// The store could not be read.
    Store(String),
}

/// Checking a connection's client certificate against the authority.
pub(crate) trait VerifyPeer {
    /// Checks the presented certificate: chain to our root through our issuing CA, validity
    /// now, client-auth usage, a matching record, and not revoked.
    async fn verify(&self, authority: &Authority) -> Result<VerifiedClient, ClientCertProblem>;
}

impl VerifyPeer for PeerCertificates {
    async fn verify(&self, authority: &Authority) -> Result<VerifiedClient, ClientCertProblem> {
        let leaf = self.0.first().ok_or(ClientCertProblem::Missing)?;
        verify_chain(
            leaf,
            &[authority.ca().cert_der().to_vec()],
            &[authority.ca().root_der().to_vec()],
            ChainUsage::ClientAuth,
            authority.now(),
        )
        .map_err(|e| ClientCertProblem::Untrusted(e.to_string()))?;
        let info = CertificateInfo::parse(leaf)
            .map_err(|e| ClientCertProblem::Untrusted(e.to_string()))?;
        let record = authority
            .certificate(&info.serial)
            .await
            .map_err(|e| ClientCertProblem::Store(e.to_string()))?
            .ok_or_else(|| {
                ClientCertProblem::Untrusted(
                    "the certificate is not in this authority's records".into(),
                )
            })?;
        if record.der != *leaf {
            return Err(ClientCertProblem::Untrusted(
                "the certificate does not match this authority's record".into(),
            ));
        }
        if record.status == CertificateStatus::Revoked {
            return Err(ClientCertProblem::Revoked);
        }
        Ok(VerifiedClient {
            info,
            profile: record.profile,
        })
    }
}
