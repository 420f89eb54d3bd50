//! What a requester proved: one variant per enrollment method, carrying the verified facts the
//! policy decides from, and the method table (name, maximum level).

use inkan_pki::San;
use inkan_store::{TeeAttestation, TpmAttestation};
use serde_json::json;

/// How a requester proved it may have a certificate (verified before the policy sees it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrollMethod {
    /// HTTP Basic with the EST secret of a label.
    EstSecret {
        /// The label whose secret matched.
        label: String,
    },
    /// EST `simpleenroll` authenticated by a TLS client certificate of this authority: it
    /// renews itself, or enrolls where a label names its profile among the holders.
    ClientCert(PresentedCert),
    /// EST `simplereenroll` with the current certificate: it renews itself only.
    Renewal(PresentedCert),
    /// A device bootstrapping its own certificate with its product's ProductCert (registry path).
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
    /// An administrator on the command line (server identity, admin certificates).
    Admin {
        /// Who.
        actor: String,
    },
    /// An administrator creating a product: its ProductCert, named by the product id.
    ProductCreation {
        /// Who.
        actor: String,
        /// The new product's id.
        product_id: String,
    },
    /// TPM 2.0 attestation: a credential activation plus TPM2_Certify of the CSR's key
    /// (its `serial` is filled in when the certificate is signed).
    Tpm(Box<TpmAttestation>),
    /// TEE-style provisioning: a CSR MAC'd by the trusted app of a TA profile over a
    /// single-use challenge (its `serial` is filled in when the certificate is signed).
    Tee(Box<TeeAttestation>),
    /// A linked device's login, approved by its account's trust anchor (the approval is
    /// consumed with the certificate).
    Linked(Box<LinkedLogin>),
}

/// The verified facts of a linked device's approved login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedLogin {
    /// The account.
    pub account_id: String,
    /// The linked device's registration number.
    pub registration: String,
    /// The login.
    pub login_id: String,
    /// The approving anchor's certificate serial.
    pub anchor_serial: String,
    /// That certificate's level.
    pub anchor_level: u8,
    /// The anchor's signature over the approval message.
    pub signature: Vec<u8>,
    /// The approval's time (Unix s).
    pub signed_at: i64,
    /// Set when a deputy approved under the anchor's delegation (the anchor was away); then
    /// `anchor_serial` is the certificate that signed the delegation and `signature` the
    /// deputy's.
    pub deputy: Option<DeputyApproval>,
}

/// A deputy device's approval under its anchor's delegation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeputyApproval {
    /// The delegation.
    pub delegation_id: String,
    /// The deputy's registration number.
    pub registration: String,
}

/// The verified facts of a certificate presented as TLS client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresentedCert {
    /// Serial of the presented certificate.
    pub serial: String,
    /// Its subject text.
    pub subject: String,
    /// Its SANs.
    pub sans: Vec<San>,
    /// The profile it was issued under.
    pub profile: String,
    /// Its assurance level.
    pub level: u8,
    /// The registered device it names, if any (a renewal joins that device's certificates).
    pub device_id: Option<String>,
    /// The product of that device: (id, name).
    pub product: Option<(String, String)>,
}

/// The highest level an EST secret, a PSK token or a ProductCert can prove.
pub const SHARED_SECRET_MAX_LEVEL: u8 = 2;
/// The highest level TPM 2.0 attestation proves.
pub const TPM_MAX_LEVEL: u8 = 3;
/// The highest level an administrator issues (the level of the `admin` profile).
pub const ADMIN_MAX_LEVEL: u8 = 3;

impl EnrollMethod {
    /// The method's name, as recorded with every certificate.
    pub fn name(&self) -> &'static str {
        match self {
            Self::EstSecret { .. } => "est-secret",
            Self::ClientCert(_) => "client-cert",
            Self::Renewal(_) => "renewal",
            Self::Bootstrap { .. } => "bootstrap-cert",
            Self::Psk { .. } => "psk",
            Self::Admin { .. } | Self::ProductCreation { .. } => "admin",
            Self::Tpm(_) => "tpm2",
            Self::Tee(_) => "tee",
            Self::Linked(_) => "linked-device",
        }
    }

    /// The highest assurance level this evidence proves.
    pub fn max_level(&self) -> u8 {
        match self {
            Self::EstSecret { .. } | Self::Bootstrap { .. } | Self::Psk { .. } => {
                SHARED_SECRET_MAX_LEVEL
            }
            // A re-enrollment of itself; a holder's new certificate is capped further (at most
            // what a secret proves) by the decision.
            Self::ClientCert(p) | Self::Renewal(p) => p.level,
            Self::Tpm(_) => TPM_MAX_LEVEL,
            // Only a key the device's TPM holds is bound to the hardware; a software TA proves
            // what a shared secret does.
            Self::Tee(e) if e.key_storage == "tpm" => TPM_MAX_LEVEL,
            Self::Tee(_) => SHARED_SECRET_MAX_LEVEL,
            // A linked device's own key is not attested: at most what a secret proves, and
            // never more than its anchor.
            Self::Linked(l) => l.anchor_level.min(SHARED_SECRET_MAX_LEVEL),
            Self::Admin { .. } | Self::ProductCreation { .. } => ADMIN_MAX_LEVEL,
        }
    }

    /// The evidence stored with the certificate.
    pub(crate) fn evidence(&self) -> serde_json::Value {
        match self {
            Self::EstSecret { label } => json!({"label": label}),
            Self::ClientCert(p) => with_device(json!({"client_cert_serial": p.serial}), p),
            Self::Renewal(p) => with_device(json!({"renews": p.serial}), p),
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
            Self::ProductCreation { actor, product_id } => {
                json!({"admin": actor, "product": product_id})
            }
            Self::Tpm(e) => json!({
                "activation": e.activation_id,
                "ek_certificate_sha256": e.ek_cert_sha256,
                "ek_public_sha256": e.ek_public_sha256,
                "ak_name": e.ak_name,
                "key_name": e.key_name,
            }),
            Self::Tee(e) => json!({
                "uid": e.uid,
                "model": e.model,
                "ta_profile": e.profile,
                "ta_version": e.version,
                "challenge": e.challenge,
                "key_storage": e.key_storage,
            }),
            Self::Linked(l) => json!({
                "account": l.account_id,
                "registration": l.registration,
                "login": l.login_id,
                "anchor_serial": l.anchor_serial,
                "anchor_level": l.anchor_level,
                "approved_at": l.signed_at,
                "delegation": l.deputy.as_ref().map(|d| &d.delegation_id),
                "deputy": l.deputy.as_ref().map(|d| &d.registration),
            }),
        }
    }

    /// The certificate the requester authenticated with, which a cascading revocation follows.
    pub(crate) fn bootstrap_serial(&self) -> Option<String> {
        match self {
            Self::ClientCert(p) => Some(p.serial.clone()),
            // Revoking the anchor's certificate revokes what its approvals produced.
            Self::Linked(l) => Some(l.anchor_serial.clone()),
            Self::Bootstrap {
                product_cert_serial,
                ..
            } => Some(product_cert_serial.clone()),
            _ => None,
        }
    }

    /// (device id, product id) for the methods that certify a registered device.
    pub(crate) fn device_identity(&self) -> Option<(&str, &str)> {
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
            Self::Renewal(p) | Self::ClientCert(p) => p.device_id.as_deref(),
            other => other.device_identity().map(|(device, _)| device),
        }
    }

    /// Who acted, for the audit log.
    pub(crate) fn actor(&self) -> String {
        match self {
            Self::EstSecret { label } => format!("est-secret:{label}"),
            Self::ClientCert(p) | Self::Renewal(p) => format!("cert:{}", p.serial),
            Self::Bootstrap { product_id, .. } | Self::Psk { product_id, .. } => {
                format!("product:{product_id}")
            }
            Self::Admin { actor } | Self::ProductCreation { actor, .. } => format!("admin:{actor}"),
            Self::Tpm(e) => format!("tpm-activation:{}", e.activation_id),
            Self::Tee(e) => format!("tee-device:{}", e.uid),
            Self::Linked(l) => match &l.deputy {
                Some(d) => format!("deputy:{}", d.registration),
                None => format!("anchor:{}", l.anchor_serial),
            },
        }
    }
}

fn with_device(mut value: serde_json::Value, p: &PresentedCert) -> serde_json::Value {
    if let (Some(device), Some(map)) = (&p.device_id, value.as_object_mut()) {
        map.insert("device".into(), json!(device));
    }
    value
}
