use std::collections::BTreeMap;
use std::sync::Arc;

use inkan_pki::{
    sha256_hex, CertificateInfo, CheckedCsr, CsrCheck, IssueParams, IssuingCa, OcspIssuer, Profile,
    RevocationReason, Serial,
};
use inkan_store::{
    DeviceRecord, IssuerRecord, NewCertificate, RecordOutcome, RegisterOutcome, RevokeOutcome,
    RevokeResult, Store, TpmAttestation,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::committer::Committer;
use crate::{
    AuthorityError, Config, CrlPublisher, OcspService, RevocationFeed, SecretVerifier, TpmTrust,
};

/// How a requester proved it may have a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrollMethod {
    /// HTTP Basic with the EST secret of a label.
    EstSecret {
        /// The label whose secret matched.
        label: String,
    },
    /// A TLS client certificate issued by this authority.
    ClientCert {
        /// Its serial.
        serial: String,
    },
    /// Renewal with the current certificate (EST simplereenroll).
    Renewal(RenewalOf),
    /// A device bootstrapping its own certificate with its product's ProductCert.
    Bootstrap {
        /// The product.
        product_id: String,
        /// The ProductCert presented.
        product_cert_serial: String,
        /// The device registered for this key.
        device_id: String,
    },
    /// A device registering with a key derived from its product's PSK group key.
    Psk {
        /// The product.
        product_id: String,
        /// The registration id the device key derives from.
        registration_id: String,
        /// The device registered for this key.
        device_id: String,
    },
    /// An administrator on the command line.
    Admin {
        /// Who.
        actor: String,
    },
    /// TPM 2.0 attestation: a credential activation plus TPM2_Certify of the CSR's key
    /// (its `serial` is filled in when the certificate is signed).
    Tpm(Box<TpmAttestation>),
}

/// The certificate a renewal replaces; the new one must keep its subject and names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalOf {
    /// Serial of the current certificate.
    pub serial: String,
    /// Its subject text.
    pub subject: String,
    /// Its SANs as display strings.
    pub sans: Vec<String>,
    /// The registered device it names, if any (the renewal joins that device's certificates).
    pub device_id: Option<String>,
}

impl EnrollMethod {
    fn name(&self) -> &'static str {
        match self {
            Self::EstSecret { .. } => "est-secret",
            Self::ClientCert { .. } => "client-cert",
            Self::Renewal(_) => "renewal",
            Self::Bootstrap { .. } => "bootstrap-cert",
            Self::Psk { .. } => "psk",
            Self::Admin { .. } => "admin",
            Self::Tpm(_) => "tpm2",
        }
    }

    fn evidence(&self) -> serde_json::Value {
        match self {
            Self::EstSecret { label } => json!({"label": label}),
            Self::ClientCert { serial } => json!({"client_cert_serial": serial}),
            Self::Renewal(r) => match &r.device_id {
                Some(device) => json!({"renews": r.serial, "device": device}),
                None => json!({"renews": r.serial}),
            },
            Self::Bootstrap {
                product_id,
                product_cert_serial,
                device_id,
            } => json!({
                "product": product_id,
                "product_cert_serial": product_cert_serial,
                "device": device_id,
            }),
            Self::Psk {
                product_id,
                registration_id,
                device_id,
            } => json!({
                "product": product_id,
                "registration_id": registration_id,
                "device": device_id,
            }),
            Self::Admin { actor } => json!({"admin": actor}),
            Self::Tpm(e) => json!({
                "activation": e.activation_id,
                "ek_certificate_sha256": e.ek_cert_sha256,
                "ek_public_sha256": e.ek_public_sha256,
                "ak_name": e.ak_name,
                "key_name": e.key_name,
            }),
        }
    }

    /// The certificate the requester authenticated with, which a cascading revocation follows.
    fn bootstrap_serial(&self) -> Option<String> {
        match self {
            Self::ClientCert { serial } => Some(serial.clone()),
            Self::Bootstrap {
                product_cert_serial,
                ..
            } => Some(product_cert_serial.clone()),
            _ => None,
        }
    }

    /// (device id, product id) for the methods that certify a registered device.
    fn device_identity(&self) -> Option<(&str, &str)> {
        match self {
            Self::Bootstrap {
                device_id,
                product_id,
                ..
            }
            | Self::Psk {
                device_id,
                product_id,
                ..
            } => Some((device_id, product_id)),
            _ => None,
        }
    }

    /// The registered device a certificate issued this way belongs to.
    pub fn device_id(&self) -> Option<&str> {
        match self {
            Self::Renewal(r) => r.device_id.as_deref(),
            other => other.device_identity().map(|(device, _)| device),
        }
    }

    fn actor(&self) -> String {
        match self {
            Self::EstSecret { label } => format!("est-secret:{label}"),
            Self::ClientCert { serial } => format!("cert:{serial}"),
            Self::Renewal(r) => format!("cert:{}", r.serial),
            Self::Bootstrap { product_id, .. } | Self::Psk { product_id, .. } => {
                format!("product:{product_id}")
            }
            Self::Admin { actor } => format!("admin:{actor}"),
            Self::Tpm(e) => format!("tpm-activation:{}", e.activation_id),
        }
    }
}

/// One request into the pipeline.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// DER PKCS#10.
    pub csr_der: Vec<u8>,
    /// Profile name.
    pub profile: String,
    /// What the requester proved.
    pub method: EnrollMethod,
    /// A validity other than the profile's (a product's device validity).
    pub validity: Option<std::time::Duration>,
}

/// A certificate that is durably recorded and may be handed out.
#[derive(Clone, Debug)]
pub struct Issued {
    /// Serial (hex).
    pub serial: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// What it says.
    pub info: CertificateInfo,
}

/// The authority: CA, profiles, store and the one issuance pipeline.
pub struct Authority {
    ca: IssuingCa,
    issuer_id: String,
    profiles: BTreeMap<String, Profile>,
    config: Config,
    store: Arc<dyn Store>,
    committer: Committer,
    secrets: SecretVerifier,
    clock: fn() -> OffsetDateTime,
    crl: Arc<CrlPublisher>,
    ocsp: OcspService,
    feed: Arc<RevocationFeed>,
    device_issuer: std::sync::RwLock<Arc<dyn crate::Issuer>>,
    registrar: crate::registrar::Registrar,
    tpm: TpmTrust,
}

fn system_clock() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Authority {
    /// Builds the authority and registers its CA certificates in the store.
    /// Must run inside a Tokio runtime (it starts the group-commit writer).
    pub async fn start(
        config: Config,
        ca: IssuingCa,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Self>, AuthorityError> {
        Self::start_with_clock(config, ca, store, system_clock).await
    }

    /// [`Authority::start`] with another clock, for tests that stand elsewhere in time.
    pub async fn start_with_clock(
        config: Config,
        ca: IssuingCa,
        store: Arc<dyn Store>,
        clock: fn() -> OffsetDateTime,
    ) -> Result<Arc<Self>, AuthorityError> {
        config.validate()?;
        let now_ms = crate::unix_ms(clock());
        let root = CertificateInfo::parse(ca.root_der())?;
        for (role, der, info) in [
            ("root", ca.root_der().to_vec(), root),
            ("issuing", ca.cert_der().to_vec(), ca.info().clone()),
        ] {
            store
                .register_issuer(
                    &IssuerRecord {
                        id: info.fingerprint_sha256.clone(),
                        role: role.into(),
                        subject: info.subject.clone(),
                        not_after: info.not_after,
                        der,
                        created_at_ms: now_ms,
                    },
                    "system",
                )
                .await?;
        }
        let ocsp = OcspService::new(
            OcspIssuer::new(ca.cert_der())?,
            config.revocation.ocsp_validity,
        );
        let feed = RevocationFeed::new(store.latest_revocation_seq().await?);
        let tpm = TpmTrust::load(&config.tpm)?;
        let authority = Arc::new(Self {
            issuer_id: ca.info().fingerprint_sha256.clone(),
            profiles: config.profiles(),
            committer: Committer::start(store.clone(), clock),
            secrets: SecretVerifier::new(store.clone()),
            crl: CrlPublisher::new(config.revocation.crl_validity),
            ocsp,
            feed,
            device_issuer: std::sync::RwLock::new(Arc::new(crate::InProcessIssuer)),
            registrar: crate::registrar::Registrar::start(store.clone()),
            tpm,
            ca,
            config,
            store,
            clock,
        });
        // The first CRL exists before the authority serves anything.
        authority.crl.publish(authority.clone()).await?;
        tokio::spawn(authority.crl.clone().run(Arc::downgrade(&authority)));
        tokio::spawn(authority.feed.clone().run(Arc::downgrade(&authority)));
        Ok(authority)
    }

    /// Revokes a certificate: durable and audited before this returns; OCSP answers "revoked"
    /// at once and a new CRL follows within moments. Idempotent (see [`RevokeOutcome`]).
    pub async fn revoke(
        &self,
        serial: &str,
        reason: RevocationReason,
        actor: &str,
        cascade: bool,
    ) -> Result<RevokeResult, AuthorityError> {
        let at = self.now().unix_timestamp();
        let result = self
            .store
            .revoke(serial, reason.name(), at, actor, cascade)
            .await?;
        if let RevokeOutcome::Revoked(record) = &result.outcome {
            self.ocsp.invalidate(&record.serial);
            for child in &result.cascaded {
                self.ocsp.invalidate(&child.serial);
            }
            self.feed.kick();
        }
        Ok(result)
    }

    /// The issuing CA's id (SHA-256 fingerprint of its certificate).
    pub fn issuer_id(&self) -> &str {
        &self.issuer_id
    }

    /// The CRL publisher.
    pub fn crl(&self) -> &CrlPublisher {
        &self.crl
    }

    /// The OCSP responder.
    pub fn ocsp(&self) -> &OcspService {
        &self.ocsp
    }

    /// The live revocation feed.
    pub fn feed(&self) -> &RevocationFeed {
        &self.feed
    }

    /// Where relying parties fetch this issuer's CRL, if a base URL is configured.
    pub fn crl_url(&self) -> Option<String> {
        self.config
            .revocation
            .base_url
            .as_ref()
            .map(|base| format!("{}/crl/{}.crl", base.trim_end_matches('/'), self.issuer_id))
    }

    /// Where relying parties ask OCSP, if a base URL is configured.
    pub fn ocsp_url(&self) -> Option<String> {
        self.config
            .revocation
            .base_url
            .as_ref()
            .map(|base| format!("{}/ocsp", base.trim_end_matches('/')))
    }

    /// Checks, signs, records and returns a certificate. Nothing is returned, and nothing is
    /// stored, unless every check passed; the certificate is returned only after its row and
    /// audit event are committed.
    pub async fn issue(&self, request: IssueRequest) -> Result<Issued, AuthorityError> {
        let profile = self
            .profiles
            .get(&request.profile)
            .ok_or_else(|| AuthorityError::UnknownProfile(request.profile.clone()))?;
        // Level 3 is reached only with TPM evidence, and TPM evidence only issues level 3.
        if (profile.name == "tpm") != matches!(request.method, EnrollMethod::Tpm(_)) {
            return Err(AuthorityError::Refused(format!(
                "profile {} is not available to {} enrollment",
                profile.name,
                request.method.name()
            )));
        }
        // Admin certificates carry API rights: only an administrator on the command line makes them.
        if profile.name == "admin" && !matches!(request.method, EnrollMethod::Admin { .. }) {
            return Err(AuthorityError::Refused(
                "admin certificates are made with `inkan admin cert create`, not by enrollment"
                    .into(),
            ));
        }
        let mut checked = CsrCheck::new(profile).check(&request.csr_der)?;
        if let EnrollMethod::Renewal(current) = &request.method {
            check_renewal(current, &checked)?;
        }
        let mut profile = profile.clone();
        if let Some(validity) = request.validity {
            profile.validity = validity;
        }
        if let Some((device_id, product_id)) = request.method.device_identity() {
            // A DeviceCert names the device by its random local id only: no hardware serial,
            // nothing from the shared ProductCert.
            checked.subject = inkan_pki::Subject(vec![(
                inkan_pki::SubjectAttribute::CommonName,
                device_id.to_string(),
            )]);
            // Relying parties (the gateway) read device and product from these URIs.
            checked.sans = vec![
                inkan_pki::San::Uri(format!("urn:inkan:device:{device_id}")),
                inkan_pki::San::Uri(format!("urn:inkan:product:{product_id}")),
            ];
        }
        if let EnrollMethod::Tpm(evidence) = &request.method {
            // Relying parties name the TPM key by its name's first 16 bytes.
            let prefix = evidence.key_name.get(..32).unwrap_or(&evidence.key_name);
            checked.sans = vec![inkan_pki::San::Uri(format!("urn:inkan:tpm:{prefix}"))];
        }
        self.sign_and_record(&profile, &checked, &request.method)
            .await
    }

    async fn sign_and_record(
        &self,
        profile: &Profile,
        checked: &CheckedCsr,
        method: &EnrollMethod,
    ) -> Result<Issued, AuthorityError> {
        // A 128-bit collision is not expected in practice; one retry covers the impossible.
        for _ in 0..2 {
            let serial = Serial::random()?;
            let mut params = IssueParams::new(profile, checked, serial, (self.clock)());
            params.crl_url = self.crl_url();
            params.ocsp_url = self.ocsp_url();
            params.policy_arc = self.config.pki.policy_arc.clone();
            let der = self.ca.issue(&params)?;
            let info = CertificateInfo::parse_with_arc(&der, &self.config.pki.policy_arc)?;
            let record = NewCertificate {
                serial: info.serial.clone(),
                issuer_id: self.issuer_id.clone(),
                subject: info.subject.clone(),
                sans: info.sans.iter().map(ToString::to_string).collect(),
                spki_sha256: sha256_hex(&checked.spki_der),
                not_before: info.not_before,
                not_after: info.not_after,
                profile: profile.name.clone(),
                method: method.name().into(),
                evidence: method.evidence(),
                der: der.clone(),
                actor: method.actor(),
                bootstrap_serial: method.bootstrap_serial(),
                device_id: method.device_id().map(str::to_string),
                tpm: match method {
                    EnrollMethod::Tpm(evidence) => Some(TpmAttestation {
                        serial: info.serial.clone(),
                        ..(**evidence).clone()
                    }),
                    _ => None,
                },
            };
            match self.committer.record(record).await? {
                RecordOutcome::Recorded => {
                    return Ok(Issued {
                        serial: info.serial.clone(),
                        der,
                        info,
                    })
                }
                RecordOutcome::ActivationUnavailable => {
                    let id = match method {
                        EnrollMethod::Tpm(e) => e.activation_id.clone(),
                        _ => String::new(),
                    };
                    return Err(AuthorityError::ActivationUsed(id));
                }
                RecordOutcome::DuplicateSerial => {}
            }
        }
        Err(AuthorityError::Ca(
            "could not allocate a unique serial number".into(),
        ))
    }

    /// Sends device certificates to another CA (see [`crate::Issuer`]); the default is this
    /// authority's own pipeline.
    pub fn set_device_issuer(&self, issuer: Arc<dyn crate::Issuer>) {
        if let Ok(mut slot) = self.device_issuer.write() {
            *slot = issuer;
        }
    }

    /// Registers a device through the registration group commit.
    pub(crate) async fn register(
        &self,
        device: DeviceRecord,
        actor: String,
    ) -> Result<RegisterOutcome, AuthorityError> {
        self.registrar.register(device, actor).await
    }

    /// The CA device certificates come from.
    pub fn device_issuer(&self) -> Arc<dyn crate::Issuer> {
        match self.device_issuer.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The issuing CA.
    pub fn ca(&self) -> &IssuingCa {
        &self.ca
    }

    /// The issuing CA certificate followed by the root, DER.
    pub fn ca_chain(&self) -> Vec<Vec<u8>> {
        vec![self.ca.cert_der().to_vec(), self.ca.root_der().to_vec()]
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The EST secret verifier.
    pub fn secrets(&self) -> &SecretVerifier {
        &self.secrets
    }

    /// The profile a profile name refers to.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// What TPM enrollment trusts: EK CAs and allow-listed EKs.
    pub fn tpm_trust(&self) -> &TpmTrust {
        &self.tpm
    }

    /// The current time by the authority's clock.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }
}

fn check_renewal(current: &RenewalOf, checked: &CheckedCsr) -> Result<(), AuthorityError> {
    let subject = checked.subject.to_string();
    if subject != current.subject {
        return Err(AuthorityError::RenewalMismatch(format!(
            "requested subject {subject:?}, current {:?}",
            current.subject
        )));
    }
    let mut requested: Vec<String> = checked.sans.iter().map(ToString::to_string).collect();
    let mut existing = current.sans.clone();
    requested.sort();
    existing.sort();
    if requested != existing {
        return Err(AuthorityError::RenewalMismatch(format!(
            "requested names {requested:?}, current {existing:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
