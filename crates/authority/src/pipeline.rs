use std::collections::BTreeMap;
use std::sync::Arc;

use inkan_pki::{
    sha256_hex, CertificateInfo, IssuingCa, OcspIssuer, Profile, RevocationReason, Serial,
};
use inkan_store::{
    IssuerRecord, NewCertificate, RecordOutcome, RevokeOutcome, RevokeResult, Store,
    TeeAttestation, TpmAttestation,
};
use time::OffsetDateTime;

use crate::committer::Committer;
use crate::policy::{decide, EnrollMethod, Grant, PolicyInput};
use crate::{
    AuthorityError, Config, CrlPublisher, OcspService, RevocationFeed, SecretVerifier, TpmTrust,
};

/// One request into the pipeline.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// DER PKCS#10.
    pub csr_der: Vec<u8>,
    /// Profile name.
    pub profile: String,
    /// The EST label the request came through, if any (its holders may widen a client
    /// certificate's reach).
    pub label: Option<String>,
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
    metrics: Arc<crate::Metrics>,
    registry: crate::Registry,
    credentials: crate::Credentials,
    tpm: TpmTrust,
    tee: std::sync::OnceLock<crate::TeeRegistry>,
    segments: std::sync::OnceLock<crate::Segments>,
    login_key: std::sync::OnceLock<inkan_attest::LoginKey>,
    console_key: std::sync::OnceLock<[u8; 32]>,
}

/// Deletes expired, unused TPM activations now and every ten minutes, while the authority lives.
async fn purge_tpm_activations(authority: std::sync::Weak<Authority>) {
    loop {
        let Some(a) = authority.upgrade() else {
            return;
        };
        match a
            .store
            .purge_tpm_activations(crate::unix_ms(a.now()), "system")
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired TPM activations purged"),
            Err(e) => tracing::warn!(error = %e, "purging expired TPM activations failed"),
        }
        drop(a);
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    }
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
            config.revocation.ocsp_cache_certificates,
        );
        let feed = RevocationFeed::new(store.latest_revocation_seq().await?);
        let tpm = TpmTrust::load(&config.tpm)?;
        let metrics = Arc::new(crate::Metrics::default());
        let authority = Arc::new(Self {
            issuer_id: ca.info().fingerprint_sha256.clone(),
            profiles: config.profiles(),
            committer: Committer::start(store.clone(), clock, metrics.clone()),
            secrets: SecretVerifier::new(store.clone()),
            crl: CrlPublisher::new(config.revocation.crl_validity),
            ocsp,
            feed,
            device_issuer: std::sync::RwLock::new(Arc::new(crate::InProcessIssuer)),
            registrar: crate::registrar::Registrar::start(store.clone(), clock, metrics.clone()),
            metrics,
            registry: crate::Registry::with_clock(store.clone(), clock),
            credentials: crate::Credentials::with_clock(store.clone(), clock),
            tpm,
            tee: std::sync::OnceLock::new(),
            segments: std::sync::OnceLock::new(),
            login_key: std::sync::OnceLock::new(),
            console_key: std::sync::OnceLock::new(),
            ca,
            config,
            store,
            clock,
        });
        // The first CRL exists before the authority serves anything.
        authority.crl.publish(authority.clone()).await?;
        tokio::spawn(authority.crl.clone().run(Arc::downgrade(&authority)));
        tokio::spawn(authority.feed.clone().run(Arc::downgrade(&authority)));
        tokio::spawn(purge_tpm_activations(Arc::downgrade(&authority)));
        authority.spawn_link_purge();
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
        let result =
            crate::revocation::revoke(&*self.store, serial, reason, at, actor, cascade).await?;
        if let RevokeOutcome::Revoked(record) = &result.outcome {
            self.metrics.revoked(1 + result.cascaded.len() as u64);
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

    /// The Prometheus text of `/metrics`: the counters and the gauges read now.
    pub fn metrics_text(&self) -> String {
        self.metrics.render_with(&crate::metrics::Gauges {
            ocsp_cached_certificates: self.ocsp.cached_certificates(),
        })
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

    /// Decides (see [`crate::decide`]), signs, records and returns a certificate. Nothing is
    /// returned, and nothing is stored, unless the policy granted it; the certificate is returned
    /// only after its row and audit event are committed.
    pub async fn issue(&self, request: IssueRequest) -> Result<Issued, AuthorityError> {
        let started = std::time::Instant::now();
        let grant = self.grant(&request)?;
        let issued = self.sign_and_record(&grant, &request.method).await?;
        self.metrics
            .issue_took(request.method.name(), started.elapsed());
        Ok(issued)
    }

    /// Signs, records and returns what `grant` (the policy's decision on a request by
    /// `method`) allows: for a caller that had to decide before writes of its own.
    pub(crate) async fn issue_granted(
        &self,
        grant: &Grant,
        method: &EnrollMethod,
    ) -> Result<Issued, AuthorityError> {
        let started = std::time::Instant::now();
        let issued = self.sign_and_record(grant, method).await?;
        self.metrics.issue_took(method.name(), started.elapsed());
        Ok(issued)
    }

    /// What this replica counted (Prometheus text on the admin listener).
    pub fn metrics(&self) -> &crate::Metrics {
        &self.metrics
    }

    /// Decides and signs like [`Authority::issue`] but records nothing: the caller records the
    /// returned row (and its audit event) in its own transaction, with what it belongs to.
    pub(crate) fn sign_unrecorded(
        &self,
        request: &IssueRequest,
    ) -> Result<(NewCertificate, Issued), AuthorityError> {
        let grant = self.grant(request)?;
        self.sign(&grant, &request.method)
    }

    /// The policy's decision on a request (see [`crate::decide`]).
    fn grant(&self, request: &IssueRequest) -> Result<Grant, AuthorityError> {
        let profile = self
            .profiles
            .get(&request.profile)
            .ok_or_else(|| AuthorityError::UnknownProfile(request.profile.clone()))?;
        let label_name = request.label.clone().or_else(|| match &request.method {
            EnrollMethod::EstSecret { label } => Some(label.clone()),
            _ => None,
        });
        let label = match &label_name {
            Some(name) => Some((
                name.as_str(),
                self.config
                    .est_label(name)
                    .map_err(|_| AuthorityError::UnknownProfile(name.clone()))?,
            )),
            None => None,
        };
        Ok(decide(&PolicyInput {
            method: &request.method,
            profile,
            label: label.as_ref().map(|(n, l)| (*n, l)),
            csr_der: &request.csr_der,
            validity: request.validity,
            now: self.now(),
        })?)
    }

    /// Signs what `grant` allows with a fresh serial; the row to record and what to hand out
    /// once it is recorded.
    pub(crate) fn sign(
        &self,
        grant: &Grant,
        method: &EnrollMethod,
    ) -> Result<(NewCertificate, Issued), AuthorityError> {
        let profile = grant.profile();
        let serial = Serial::random()?;
        let mut params = grant.params(serial);
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
            spki_sha256: sha256_hex(grant.spki_der()),
            not_before: info.not_before,
            not_after: info.not_after,
            profile: profile.name.clone(),
            method: method.name().into(),
            evidence: method.evidence(),
            der: der.clone(),
            actor: method.actor(),
            bootstrap_serial: method.bootstrap_serial(),
            device_id: method.device_id().map(str::to_string),
            level: info.level.map(i64::from),
            tpm: match method {
                EnrollMethod::Tpm(evidence) => Some(TpmAttestation {
                    serial: info.serial.clone(),
                    ..(**evidence).clone()
                }),
                _ => None,
            },
            tee: match method {
                EnrollMethod::Tee(evidence) => Some(TeeAttestation {
                    serial: info.serial.clone(),
                    ..(**evidence).clone()
                }),
                _ => None,
            },
            approval: match method {
                EnrollMethod::Linked(login) => Some(inkan_store::ApprovalUse {
                    login_id: login.login_id.clone(),
                    registration: login.registration.clone(),
                    anchor_serial: login.anchor_serial.clone(),
                    signature: login.signature.clone(),
                    delegation_id: login.deputy.as_ref().map(|d| d.delegation_id.clone()),
                }),
                _ => None,
            },
        };
        Ok((
            record,
            Issued {
                serial: info.serial.clone(),
                der,
                info,
            },
        ))
    }

    async fn sign_and_record(
        &self,
        grant: &Grant,
        method: &EnrollMethod,
    ) -> Result<Issued, AuthorityError> {
        // A 128-bit collision is not expected in practice; one retry covers the impossible.
        for _ in 0..2 {
            let (record, issued) = self.sign(grant, method)?;
            match self.committer.record(record).await? {
                RecordOutcome::Recorded => return Ok(issued),
                RecordOutcome::ActivationUnavailable => {
                    return Err(match method {
                        EnrollMethod::Tee(_) => crate::TeeRefusal::ChallengeUsed.into(),
                        EnrollMethod::Linked(l) if l.deputy.is_some() => {
                            crate::LinkRefusal::DelegationUnusable(
                                "used up, ended or expired meanwhile, or the login was approved already"
                                    .into(),
                            )
                            .into()
                        }
                        EnrollMethod::Linked(_) => crate::LinkRefusal::LoginUnavailable.into(),
                        EnrollMethod::Tpm(e) => {
                            AuthorityError::ActivationUsed(e.activation_id.clone())
                        }
                        _ => AuthorityError::ActivationUsed(String::new()),
                    });
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

    /// Registers a device, and records the certificate it comes with if it is admitted, through
    /// the registration group commit.
    pub(crate) async fn register(
        &self,
        registration: inkan_store::NewRegistration,
    ) -> Result<crate::registrar::Registered, AuthorityError> {
        self.registrar.register(registration).await
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

    /// The store: only this crate's services write to it.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The registry service (products, devices, PSK) over this authority's store.
    pub fn registry(&self) -> &crate::Registry {
        &self.registry
    }

    /// Admin tokens and EST secrets over this authority's store.
    pub fn credentials(&self) -> &crate::Credentials {
        &self.credentials
    }

    /// One recorded certificate by serial (lowercase hex).
    pub async fn certificate(
        &self,
        serial: &str,
    ) -> Result<Option<inkan_store::CertificateRecord>, AuthorityError> {
        Ok(self.store.certificate(serial).await?)
    }

    /// The revocation feed from the store: revocations with `seq > after`, in order.
    pub async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<inkan_store::RevocationRecord>, AuthorityError> {
        Ok(self.store.revocations_since(after, limit).await?)
    }

    /// The TPM evidence a certificate was issued on.
    pub async fn tpm_attestation(
        &self,
        serial: &str,
    ) -> Result<Option<TpmAttestation>, AuthorityError> {
        Ok(self.store.tpm_attestation(serial).await?)
    }

    /// The EST secret verifier.
    pub fn secrets(&self) -> &SecretVerifier {
        &self.secrets
    }

    /// Makes a new EST secret for `label` (see [`crate::Credentials::create_est_secret`]); the
    /// old one stops working here at once.
    pub async fn create_est_secret(
        &self,
        label: &str,
        actor: &str,
    ) -> Result<String, AuthorityError> {
        let made = self
            .credentials()
            .create_est_secret(self.config(), label, actor)
            .await;
        self.secrets.forget(label);
        made
    }

    /// Revokes the EST secret of `label` (see [`crate::Credentials::revoke_est_secret`]); it
    /// stops working here at once, on other replicas within two seconds.
    pub async fn revoke_est_secret(
        &self,
        label: &str,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        let revoked = self.credentials().revoke_est_secret(label, actor).await;
        self.secrets.forget(label);
        revoked
    }

    /// The profile a profile name refers to.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// What TPM enrollment trusts: EK CAs and allow-listed EKs.
    pub fn tpm_trust(&self) -> &TpmTrust {
        &self.tpm
    }

    /// Enables TEE provisioning with the key that seals its secrets at rest (the data
    /// directory's `ca/sealing.key`); a second call changes nothing.
    /// Must run inside a Tokio runtime (it starts the purge of expired challenges).
    pub fn install_sealing_key(&self, key: crate::SealingKey) {
        // A second call changes nothing here either.
        let _ = self.login_key.set(key.login_key());
        let _ = self.console_key.set(key.console_key());
        let key = Arc::new(key);
        let _ = self
            .segments
            .set(crate::Segments::new(self.store.clone(), key.clone()));
        let tee = crate::TeeRegistry::with_clock(self.store.clone(), key, self.clock);
        if self.tee.set(tee).is_ok() {
            if let Some(tee) = self.tee.get() {
                tee.spawn_purge();
            }
        }
    }

    /// The HPKE key linked devices seal their login session keys to; an error until
    /// [`Authority::install_sealing_key`].
    pub fn login_key(&self) -> Result<&inkan_attest::LoginKey, AuthorityError> {
        self.login_key.get().ok_or_else(|| {
            AuthorityError::Config(
                "linked-device logins need the sealing key (ca/sealing.key)".into(),
            )
        })
    }

    /// The key signing console sessions; an error until [`Authority::install_sealing_key`].
    pub fn console_key(&self) -> Result<&[u8; 32], AuthorityError> {
        self.console_key.get().ok_or_else(|| {
            AuthorityError::Config("the console needs the sealing key (ca/sealing.key)".into())
        })
    }

    /// Issued certificates, newest first, filtered and keyset-paged by `query`.
    pub async fn certificates(
        &self,
        query: &inkan_store::CertificateQuery,
    ) -> Result<Vec<inkan_store::CertificateRecord>, AuthorityError> {
        Ok(self.store.list_certificates(query).await?)
    }

    /// Counts for an overview: all, revoked, issued in the last hour, and valid ones expiring
    /// within 30 days.
    pub async fn certificate_stats(&self) -> Result<inkan_store::CertificateStats, AuthorityError> {
        let now = self.now();
        Ok(self
            .store
            .certificate_stats(
                crate::unix_ms(now - time::Duration::hours(1)),
                now.unix_timestamp(),
                (now + time::Duration::days(30)).unix_timestamp(),
            )
            .await?)
    }

    /// Audit events after `after`, oldest first, at most `limit`.
    pub async fn audit_events(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<inkan_store::AuditEvent>, AuthorityError> {
        Ok(self.store.audit_events(after, limit).await?)
    }

    /// Verifies the audit log (see [`crate::verify_audit`]).
    pub async fn verify_audit(&self) -> Result<crate::AuditReport, AuthorityError> {
        crate::verify_audit(&**self.store()).await
    }

    /// TA profiles, models and devices; an error until [`Authority::install_sealing_key`].
    pub fn tee(&self) -> Result<&crate::TeeRegistry, AuthorityError> {
        self.tee.get().ok_or_else(|| {
            AuthorityError::Config("TEE provisioning needs the sealing key (ca/sealing.key)".into())
        })
    }

    /// Card segments (their salts are sealed); an error until
    /// [`Authority::install_sealing_key`].
    pub fn segments(&self) -> Result<&crate::Segments, AuthorityError> {
        self.segments.get().ok_or_else(|| {
            AuthorityError::Config("card segments need the sealing key (ca/sealing.key)".into())
        })
    }

    /// The current time by the authority's clock.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// The authority's clock, for background tasks.
    pub(crate) fn clock_fn(&self) -> fn() -> OffsetDateTime {
        self.clock
    }
}

#[cfg(test)]
mod tests;
