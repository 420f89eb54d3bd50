//! A route's access rules, pure: from what the authenticators found and what the route
//! requires, the identity to forward or the refusal.

use std::sync::Arc;

use crate::auth::Credential;
use crate::error::{AuthRefusal, Unmet};
use crate::identity::ClientIdentity;
use crate::{ClientCertMode, RouteConfig};

/// The client's identity (none for an anonymous client a route lets in), or the refusal.
pub(crate) fn check_identity(
    mode: ClientCertMode,
    found: Credential,
) -> Result<Option<Arc<ClientIdentity>>, AuthRefusal> {
    match (mode, found) {
        (ClientCertMode::Off, _) => Ok(None),
        (ClientCertMode::Required, Credential::Absent) => Err(AuthRefusal::NoCertificate),
        (ClientCertMode::Optional, Credential::Absent) => Ok(None),
        (_, Credential::Refused(refusal)) => Err(refusal),
        (_, Credential::Verified(identity)) => Ok(Some(identity)),
    }
}

/// Whether the client meets the route's requirements (level, allow lists).
pub(crate) fn check_requirements(
    config: &RouteConfig,
    identity: Option<&ClientIdentity>,
) -> Result<(), Unmet> {
    let needs_identity = config.min_level.is_some()
        || !config.allow_subjects.is_empty()
        || !config.allow_serials.is_empty()
        || !config.allow_products.is_empty()
        || !config.allow_devices.is_empty();
    let Some(identity) = identity else {
        return if needs_identity {
            Err(Unmet::NoIdentity)
        } else {
            Ok(())
        };
    };
    if let Some(min) = config.min_level {
        let level = identity.level.unwrap_or(0);
        if level < min {
            return Err(Unmet::Level { level, min });
        }
    }
    if !config.allow_subjects.is_empty() && !config.allow_subjects.contains(&identity.subject) {
        return Err(Unmet::Subject);
    }
    if !config.allow_serials.is_empty()
        && !config
            .allow_serials
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&identity.serial))
    {
        return Err(Unmet::Serial);
    }
    let listed = |allowed: &[String], value: &Option<String>| {
        allowed.is_empty()
            || value
                .as_ref()
                .is_some_and(|v| allowed.iter().any(|a| a == v))
    };
    if !listed(&config.allow_products, &identity.product) {
        return Err(Unmet::Product);
    }
    if !listed(&config.allow_devices, &identity.device) {
        return Err(Unmet::Device);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
