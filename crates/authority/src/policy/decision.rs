//! The one authorization decision: from verified evidence, the requested profile and the CSR,
//! exactly what to issue, or a typed refusal. Pure: no IO, `now` passed in.

use std::time::Duration;

use inkan_pki::{
    CheckedCsr, CsrCheck, IssueParams, Profile, San, Serial, Subject, SubjectAttribute,
};
use time::OffsetDateTime;

use super::names::{self, is_inkan_identifier, Lists};
use super::{reach, EnrollMethod, PresentedCert, Refusal};
use crate::EstLabel;

/// Everything the decision reads.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInput<'a> {
    /// What the requester proved.
    pub method: &'a EnrollMethod,
    /// The requested profile.
    pub profile: &'a Profile,
    /// The EST label the request came through (its name and configuration), if any.
    pub label: Option<(&'a str, &'a EstLabel)>,
    /// The DER PKCS#10 request.
    pub csr_der: &'a [u8],
    /// A validity other than the profile's (a product's device validity).
    pub validity: Option<Duration>,
    /// The time of issuance.
    pub now: OffsetDateTime,
}

/// What the policy grants: the exact subject, names, key, validity, level and extensions.
#[derive(Clone, Debug)]
pub struct Grant {
    profile: Profile,
    csr: CheckedCsr,
    now: OffsetDateTime,
}

impl Grant {
    /// The certificate's parameters with `serial` (extensions come from the profile).
    pub fn params(&self, serial: Serial) -> IssueParams {
        IssueParams::new(&self.profile, &self.csr, serial, self.now)
    }

    /// The profile in force (validity possibly replaced by the product's).
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The subject to issue.
    pub fn subject(&self) -> &Subject {
        &self.csr.subject
    }

    /// The SANs to issue.
    pub fn sans(&self) -> &[San] {
        &self.csr.sans
    }

    /// The certified key (DER SubjectPublicKeyInfo).
    pub fn spki_der(&self) -> &[u8] {
        &self.csr.spki_der
    }

    /// The assurance level to write.
    pub fn level(&self) -> u8 {
        self.profile.level
    }

    /// How long the certificate is valid.
    pub fn validity(&self) -> Duration {
        self.profile.validity
    }
}

/// Decides one issuance. Deny by default: every method reaches only the profiles its table
/// entry names, no profile's level is above the method's maximum, a presented certificate
/// renews only itself (unless a label admits its profile's holders), `urn:inkan:` identifiers
/// come only from verified facts, and every other name passes the profile's name policy.
pub fn decide(input: &PolicyInput<'_>) -> Result<Grant, Refusal> {
    let (method, profile) = (input.method, input.profile);
    reach::authorize(method, &profile.name, input.label)?;
    let max = method.max_level();
    if profile.level > max {
        return Err(Refusal::LevelAboveMethod {
            profile: profile.name.clone(),
            level: profile.level,
            method: method.name(),
            max,
        });
    }
    let mut csr = CsrCheck::new(profile)
        .check(input.csr_der)
        .map_err(Refusal::Csr)?;
    // A presented certificate's own identifiers are verified facts a renewal CSR may repeat;
    // any other `urn:inkan:` name in a CSR is an attempt to claim someone else's identity.
    let presented = match method {
        EnrollMethod::ClientCert(p) | EnrollMethod::Renewal(p) => Some(p),
        _ => None,
    };
    let known: Vec<&San> = presented
        .map(|p| p.sans.iter().filter(|s| is_inkan_identifier(s)).collect())
        .unwrap_or_default();
    if let Some(claimed) = csr
        .sans
        .iter()
        .find(|s| is_inkan_identifier(s) && !known.contains(s))
    {
        return Err(Refusal::InkanIdentifier(claimed.to_string()));
    }
    csr.sans.retain(|s| !is_inkan_identifier(s));

    match method {
        EnrollMethod::Renewal(p) | EnrollMethod::ClientCert(p) if p.profile == profile.name => {
            renew_itself(p, profile, &csr, input.label)?;
            // Held to today's policy: a name no longer allowed does not renew. A registered
            // device's id as CN was written by the authority.
            let device_cn = p.device_id.as_deref();
            names::check(
                profile,
                &csr.subject,
                &csr.sans,
                Lists::AllowAndDeny,
                device_cn,
            )?;
            csr.sans.extend(known.into_iter().cloned());
        }
        EnrollMethod::Renewal(p) => {
            return Err(Refusal::RenewalProfile {
                presented: p.profile.clone(),
                requested: profile.name.clone(),
                label: input.label.map(|(name, _)| name.to_string()),
            })
        }
        EnrollMethod::ClientCert(p) => {
            admit_holder(p, profile, input.label)?;
            // A new certificate for a new, unattested key: no more than a secret proves.
            let max = p.level.min(super::SHARED_SECRET_MAX_LEVEL);
            if profile.level > max {
                return Err(Refusal::LevelAboveMethod {
                    profile: profile.name.clone(),
                    level: profile.level,
                    method: method.name(),
                    max,
                });
            }
            names::check(profile, &csr.subject, &csr.sans, Lists::AllowAndDeny, None)?;
            // The holder's verified identity follows it when the profile carries URIs.
            if profile.san.contains(&inkan_pki::SanKind::Uri) {
                csr.sans.extend(known.into_iter().cloned());
            }
        }
        EnrollMethod::EstSecret { .. } => {
            names::check(profile, &csr.subject, &csr.sans, Lists::AllowAndDeny, None)?;
        }
        EnrollMethod::Bootstrap { .. } | EnrollMethod::Psk { .. } => {
            if let Some((device_id, product_id)) = method.device_identity() {
                // A DeviceCert names the device by its random local id only: no hardware
                // serial, nothing from the shared ProductCert; relying parties (the gateway)
                // read device and product from the URIs.
                csr.subject = Subject(vec![(SubjectAttribute::CommonName, device_id.to_string())]);
                csr.sans = vec![
                    San::Uri(format!("urn:inkan:device:{device_id}")),
                    San::Uri(format!("urn:inkan:product:{product_id}")),
                ];
            }
        }
        EnrollMethod::Tpm(evidence) => {
            names::check(profile, &csr.subject, &[], Lists::AllowAndDeny, None)?;
            // Relying parties name the TPM key by its name's first 16 bytes.
            let prefix = evidence.key_name.get(..32).unwrap_or(&evidence.key_name);
            csr.sans = vec![San::Uri(format!("urn:inkan:tpm:{prefix}"))];
        }
        EnrollMethod::Tee(evidence) => {
            // The trusted app built the CSR (its MAC verified): the names are the device's UID
            // and the identity fields it read, nothing else.
            let (subject, sans) = super::tee_names::names(evidence);
            csr.subject = subject;
            csr.sans = sans;
        }
        EnrollMethod::Linked(login) => {
            // Named by the authority: the registration number and the account, nothing from
            // the CSR.
            csr.subject = Subject(vec![(
                SubjectAttribute::CommonName,
                login.registration.clone(),
            )]);
            csr.sans = vec![
                San::Uri(format!("urn:inkan:linked:{}", login.registration)),
                San::Uri(format!("urn:inkan:account:{}", login.account_id)),
            ];
        }
        EnrollMethod::Admin { .. } => {
            // The operator chose these names; its deny lists still hold.
            names::check(profile, &csr.subject, &csr.sans, Lists::DenyOnly, None)?;
        }
        EnrollMethod::ProductCreation { product_id, .. } => {
            names::check(profile, &csr.subject, &[], Lists::DenyOnly, None)?;
            csr.sans = vec![San::Uri(format!("urn:inkan:product:{product_id}"))];
        }
    }
    let mut profile = profile.clone();
    if let Some(validity) = input.validity {
        profile.validity = validity;
    }
    Ok(Grant {
        profile,
        csr,
        now: input.now,
    })
}

/// RFC 7030 §4.2.2: a re-enrollment keeps the subject; inkan also keeps the names and the
/// profile (the level cannot rise: the method's maximum is the presented certificate's).
fn renew_itself(
    presented: &PresentedCert,
    profile: &Profile,
    csr: &CheckedCsr,
    label: Option<(&str, &EstLabel)>,
) -> Result<(), Refusal> {
    if presented.profile != profile.name {
        return Err(Refusal::RenewalProfile {
            presented: presented.profile.clone(),
            requested: profile.name.clone(),
            label: label.map(|(name, _)| name.to_string()),
        });
    }
    let subject = csr.subject.to_string();
    if subject != presented.subject {
        return Err(Refusal::RenewalSubject {
            presented: presented.subject.clone(),
            requested: subject,
        });
    }
    let shown = |sans: &mut dyn Iterator<Item = &San>| {
        let mut v: Vec<String> = sans
            .filter(|s| !is_inkan_identifier(s))
            .map(ToString::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let requested = shown(&mut csr.sans.iter());
    let current = shown(&mut presented.sans.iter());
    if requested != current {
        return Err(Refusal::RenewalNames {
            presented: current,
            requested,
        });
    }
    Ok(())
}

/// A holder of another profile's certificate enrolls only where a label names that profile
/// (and, if the label lists products, only for those products).
fn admit_holder(
    presented: &PresentedCert,
    profile: &Profile,
    label: Option<(&str, &EstLabel)>,
) -> Result<(), Refusal> {
    let refuse = || Refusal::RenewalProfile {
        presented: presented.profile.clone(),
        requested: profile.name.clone(),
        label: label.map(|(name, _)| name.to_string()),
    };
    let Some((name, label)) = label else {
        return Err(refuse());
    };
    if label.profile != profile.name || !label.holders.contains(&presented.profile) {
        return Err(refuse());
    }
    if !label.products.is_empty() {
        let admitted = presented
            .product
            .as_ref()
            .is_some_and(|(id, product)| label.products.iter().any(|p| p == id || p == product));
        if !admitted {
            return Err(Refusal::HolderProduct {
                label: name.to_string(),
                product: presented.product.as_ref().map(|(_, n)| n.clone()),
            });
        }
    }
    Ok(())
}
