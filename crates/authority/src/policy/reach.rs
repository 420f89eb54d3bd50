//! Which methods reach which profiles: the reserved profiles, an EST secret's label binding,
//! and the configuration check that no profile's level exceeds what its methods prove.

use super::evidence::{ADMIN_MAX_LEVEL, SHARED_SECRET_MAX_LEVEL, TPM_MAX_LEVEL};
use super::{EnrollMethod, Refusal};
use crate::{Config, EstLabel};

/// Why EST cannot reach a profile, for the profiles reserved to other methods.
pub fn reserved_profile(name: &str) -> Option<&'static str> {
    match name {
        "product" => Some(
            "ProductCerts are made by `inkan product create` (POST /v1/products) and register devices through the registry only",
        ),
        "admin" => Some("admin certificates are made by `inkan admin cert create` only"),
        "tpm" => Some("tpm certificates are issued only on TPM 2.0 attestation (/v1/tpm/enrollments)"),
        "tee" | "tee-tpm" => Some("tee certificates are issued only to a TA profile's trusted app (/v1/tee/enrollments)"),
        "linked" => Some("linked-device certificates are issued only on an anchor's approval (/v1/approvals)"),
        _ => None,
    }
}

/// Whether `method` may ask for `profile` at all (levels and names are checked after).
pub(super) fn authorize(
    method: &EnrollMethod,
    profile: &str,
    label: Option<(&str, &EstLabel)>,
) -> Result<(), Refusal> {
    let only = |reserved_to: &'static str| Refusal::ProfileNotForMethod {
        profile: profile.to_string(),
        method: method.name(),
        reserved_to,
    };
    match method {
        EnrollMethod::ProductCreation { .. } if profile != "product" => {
            Err(only("a product creation issues the product profile only"))
        }
        EnrollMethod::Tpm(_) if profile != "tpm" => {
            Err(only("TPM evidence issues the tpm profile only"))
        }
        EnrollMethod::Linked(_) if profile != "linked" => {
            Err(only("an anchor's approval issues the linked profile only"))
        }
        EnrollMethod::Tee(_) if matches!(profile, "product" | "admin" | "tpm" | "linked") => Err(
            only("a TA profile's certificates use the tee profile or one of the operator's own"),
        ),
        EnrollMethod::Bootstrap { .. } | EnrollMethod::Psk { .. } if profile != "device" => {
            Err(only("registered devices get the device profile only"))
        }
        EnrollMethod::Admin { .. } if profile == "product" => Err(only(
            "ProductCerts are made by `inkan product create` only, which names the product",
        )),
        EnrollMethod::EstSecret { .. } | EnrollMethod::ClientCert(_) | EnrollMethod::Renewal(_) => {
            if let Some(why) = reserved_profile(profile) {
                return Err(only(why));
            }
            if let EnrollMethod::EstSecret {
                label: secret_label,
            } = method
            {
                let bound = label.filter(|(name, _)| name == secret_label);
                if bound.map(|(_, l)| l.profile.as_str()) != Some(profile) {
                    return Err(Refusal::LabelProfile {
                        label: secret_label.clone(),
                        label_profile: bound.map(|(_, l)| l.profile.clone()),
                        requested: profile.to_string(),
                    });
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Refuses a configuration in which a profile's level is above what every method that reaches
/// it can prove, naming the key to change; also checks labels name existing profiles.
pub(crate) fn check_config(config: &Config) -> Result<(), String> {
    let profiles = config.profiles();
    for (label, l) in &config.est.labels {
        let Some(profile) = profiles.get(&l.profile) else {
            return Err(format!(
                "est.labels.{label} names profile {:?}, which does not exist",
                l.profile
            ));
        };
        if let Some(why) = reserved_profile(&l.profile) {
            return Err(format!(
                "est.labels.{label} names profile {}, which EST cannot reach: {why}",
                l.profile
            ));
        }
        // A holder's new key is not attested: it proves no more than a secret would.
        let max = SHARED_SECRET_MAX_LEVEL;
        for holder in &l.holders {
            if holder == "product" {
                return Err(format!(
                    "est.labels.{label}.holders names product: ProductCerts register devices through the registry only"
                ));
            }
            if !profiles.contains_key(holder) {
                return Err(format!(
                    "est.labels.{label}.holders names profile {holder:?}, which does not exist"
                ));
            }
        }
        if profile.level > max {
            return Err(format!(
                "est.labels.{label}: profile {} has level {} (profiles.{}.level), but an EST secret, and a holder's new key, prove at most level {SHARED_SECRET_MAX_LEVEL}: lower profiles.{}.level or remove the label",
                l.profile,
                profile.level,
                l.profile,
                l.profile
            ));
        }
    }
    for (name, profile) in &profiles {
        let max = match name.as_str() {
            "tpm" | "tee" | "tee-tpm" => TPM_MAX_LEVEL,
            "admin" | "product" => ADMIN_MAX_LEVEL,
            // Reachable by an EST secret of its own name (unless a label of that name says
            // otherwise, checked above).
            _ if config.est.labels.contains_key(name) || !config.labels_of(name).is_empty() => {
                continue
            }
            _ => SHARED_SECRET_MAX_LEVEL,
        };
        if profile.level > max {
            return Err(format!(
                "profiles.{name}.level = {}: profile {name} is reached by {}, which proves at most level {max}",
                profile.level,
                match name.as_str() {
                    "tpm" => "TPM 2.0 attestation".to_string(),
                    "tee" | "tee-tpm" => "a TPM-backed trusted app".to_string(),
                    "admin" | "product" => "an administrator".to_string(),
                    _ => format!("the EST secret of label {name:?}"),
                }
            ));
        }
    }
    Ok(())
}
