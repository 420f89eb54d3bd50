//! Applies a profile's name policy to what a request asks for: its SANs and its common name.
//! Server profiles allow no DNS name, IP address or common name until the operator lists them;
//! other profiles allow any name of the forms they accept unless an allow list is set.
//! `urn:inkan:` identifiers never come from a request.

use inkan_pki::{Name, NameKind, NameVerdict, Profile, San, Subject};

use super::Refusal;

/// The prefix of the identifiers only the authority sets.
pub const INKAN_URN: &str = "urn:inkan:";

/// Whether a SAN is an inkan identifier.
pub fn is_inkan_identifier(san: &San) -> bool {
    matches!(san, San::Uri(uri) if uri.len() >= INKAN_URN.len()
        && uri.get(..INKAN_URN.len()).is_some_and(|p| p.eq_ignore_ascii_case(INKAN_URN)))
}

/// Which lists apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lists {
    /// Allow (with the profile's default) and deny.
    AllowAndDeny,
    /// Deny only: names an administrator chose, or that a renewal keeps.
    DenyOnly,
}

/// Checks every SAN (inkan identifiers excepted: the authority set them) and the common name
/// (unless it is `authority_cn`, a registered device's id the authority wrote).
pub fn check(
    profile: &Profile,
    subject: &Subject,
    sans: &[San],
    lists: Lists,
    authority_cn: Option<&str>,
) -> Result<(), Refusal> {
    for san in sans.iter().filter(|s| !is_inkan_identifier(s)) {
        let name = match san {
            San::Dns(v) => Name::Dns(v),
            San::Ip(ip) => Name::Ip(*ip),
            San::Email(v) => Name::Email(v),
            San::Uri(v) => Name::Uri(v),
        };
        check_one(profile, name, &san.to_string(), lists)?;
    }
    if let Some(cn) = subject.common_name().filter(|cn| Some(*cn) != authority_cn) {
        let shown = format!("CN={cn}");
        // A server profile's common name is a host name unless common names are listed.
        if profile.is_server() && !profile.names.allows_kind_explicitly(NameKind::Cn) {
            check_one(profile, Name::Cn(cn), &shown, Lists::DenyOnly)?;
            let as_host = match cn.parse() {
                Ok(ip) => Name::Ip(ip),
                Err(_) => Name::Dns(cn),
            };
            check_one(profile, as_host, &shown, lists)?;
        } else {
            check_one(profile, Name::Cn(cn), &shown, lists)?;
        }
    }
    Ok(())
}

fn check_one(profile: &Profile, name: Name<'_>, shown: &str, lists: Lists) -> Result<(), Refusal> {
    let default_allow = match lists {
        Lists::DenyOnly => true,
        Lists::AllowAndDeny => !profile.is_server(),
    };
    let policy = if lists == Lists::DenyOnly {
        inkan_pki::NamePolicy {
            allow: inkan_pki::NameRules::default(),
            deny: profile.names.deny.clone(),
        }
    } else {
        profile.names.clone()
    };
    policy
        .check(name, default_allow)
        .map_err(|verdict| match verdict {
            NameVerdict::Denied(kind, pattern) => Refusal::NameDenied {
                profile: profile.name.clone(),
                name: shown.to_string(),
                key: kind.key(),
                pattern,
            },
            NameVerdict::NotAllowed(kind) => Refusal::NameNotAllowed {
                profile: profile.name.clone(),
                name: shown.to_string(),
                key: kind.key(),
                unset: !profile.names.allows_kind_explicitly(kind),
            },
        })
}
