//! How the registry reaches a CA for device certificates: this authority's own pipeline
//! (in-process, the default), or a separate certificate authority over EST (the split between a
//! device-management server and a certificate-management server).

use std::time::Duration;

use async_trait::async_trait;

use crate::{Authority, AuthorityError, EnrollMethod, Grant, IssueRequest};

/// What the registry asks a CA to certify for a device it has registered.
#[derive(Clone, Debug)]
pub struct DeviceCertRequest {
    /// The device's DER PKCS#10.
    pub csr_der: Vec<u8>,
    /// How the device proved it belongs to the product (recorded as evidence).
    pub method: EnrollMethod,
    /// The product's device-certificate validity.
    pub validity: Duration,
    /// The policy's decision on this very request, when the registry made it before
    /// registering: the in-process pipeline issues exactly it instead of deciding (and
    /// verifying the CSR) again; a separate CA decides for itself.
    pub grant: Option<Grant>,
}

/// A DeviceCert and the chain above it.
#[derive(Clone, Debug)]
pub struct IssuedDeviceCert {
    /// Serial (hex).
    pub serial: String,
    /// Leaf first, then the issuing CA, DER.
    pub chain: Vec<Vec<u8>>,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

/// A certificate authority the registry can ask for device certificates.
#[async_trait]
pub trait Issuer: Send + Sync {
    /// Issues the certificate; it is durably recorded by the CA, and in the registry's list of
    /// the device's certificates, before this returns.
    async fn issue_device_cert(
        &self,
        authority: &Authority,
        request: DeviceCertRequest,
    ) -> Result<IssuedDeviceCert, AuthorityError>;

    /// `local`, or where the separate CA is (recorded with every certificate it issues).
    fn name(&self) -> String;

    /// Whether this is the authority's own pipeline, whose certificate a new device's
    /// registration may sign ahead and record in its own commit.
    fn is_in_process(&self) -> bool {
        false
    }
}

/// Issues through this authority's own pipeline.
pub struct InProcessIssuer;

#[async_trait]
impl Issuer for InProcessIssuer {
    async fn issue_device_cert(
        &self,
        authority: &Authority,
        request: DeviceCertRequest,
    ) -> Result<IssuedDeviceCert, AuthorityError> {
        let issued = match &request.grant {
            Some(grant) => authority.issue_granted(grant, &request.method).await?,
            None => {
                authority
                    .issue(IssueRequest {
                        csr_der: request.csr_der,
                        profile: "device".into(),
                        method: request.method,
                        validity: Some(request.validity),
                        label: None,
                    })
                    .await?
            }
        };
        Ok(IssuedDeviceCert {
            serial: issued.serial,
            not_after: issued.info.not_after,
            chain: vec![issued.der, authority.ca().cert_der().to_vec()],
        })
    }

    fn name(&self) -> String {
        "local".into()
    }

    fn is_in_process(&self) -> bool {
        true
    }
}
