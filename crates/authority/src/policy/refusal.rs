//! Why the policy refuses an issuance: one variant per rule; the message names the rule.

use std::fmt;

use inkan_pki::CsrError;

/// A typed refusal. `Display` says what was asked, which rule refused it and, where the
/// operator can change that, which configuration key to set.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The CSR fails the profile's form checks (key type, subject attributes, SAN forms).
    Csr(CsrError),
    /// The profile is reserved to other methods (`product`, `admin`, `tpm`, the registry's
    /// `device`).
    ProfileNotForMethod {
        /// The requested profile.
        profile: String,
        /// The method that asked.
        method: &'static str,
        /// Which methods reach it.
        reserved_to: &'static str,
    },
    /// An EST secret authorizes its label's profile only.
    LabelProfile {
        /// The secret's label.
        label: String,
        /// The profile that label issues, if the label exists.
        label_profile: Option<String>,
        /// The requested profile.
        requested: String,
    },
    /// The profile's level is above what the method can prove.
    LevelAboveMethod {
        /// The profile.
        profile: String,
        /// Its level.
        level: u8,
        /// The method.
        method: &'static str,
        /// The most that method proves.
        max: u8,
    },
    /// A presented certificate renews itself only: another profile was asked for.
    RenewalProfile {
        /// The presented certificate's profile.
        presented: String,
        /// The requested profile.
        requested: String,
        /// The EST label (a label's `holders` can let other profiles' holders enroll).
        label: Option<String>,
    },
    /// A renewal asked for another subject.
    RenewalSubject {
        /// The presented certificate's subject.
        presented: String,
        /// The requested one.
        requested: String,
    },
    /// A renewal asked for other names.
    RenewalNames {
        /// The presented certificate's names.
        presented: Vec<String>,
        /// The requested names.
        requested: Vec<String>,
    },
    /// The holder's certificate is of a product the label does not list.
    HolderProduct {
        /// The label.
        label: String,
        /// The holder's product name, if any.
        product: Option<String>,
    },
    /// The CSR carries a `urn:inkan:` identifier; only the authority sets those.
    InkanIdentifier(String),
    /// A name is on the profile's deny list.
    NameDenied {
        /// The profile.
        profile: String,
        /// The name, e.g. `DNS:bank.example.com`.
        name: String,
        /// The deny key (`dns`, `ip`, ...).
        key: &'static str,
        /// The pattern that matched.
        pattern: String,
    },
    /// A name is not on the profile's allow list (or the list is unset and the profile allows
    /// none by default).
    NameNotAllowed {
        /// The profile.
        profile: String,
        /// The name.
        name: String,
        /// The allow key (`dns`, `ip`, ...).
        key: &'static str,
        /// Whether the allow list is unset (server profiles then allow nothing).
        unset: bool,
    },
}

impl Refusal {
    /// The rule's short id (stable; for logs and clients).
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Csr(_) => "csr-form",
            Self::ProfileNotForMethod { .. } => "reserved-profile",
            Self::LabelProfile { .. } => "est-secret-label-profile",
            Self::LevelAboveMethod { .. } => "method-maximum-level",
            Self::RenewalProfile { .. } => "renew-only-itself",
            Self::RenewalSubject { .. } => "renewal-same-subject",
            Self::RenewalNames { .. } => "renewal-same-names",
            Self::HolderProduct { .. } => "label-holder-products",
            Self::InkanIdentifier(_) => "inkan-identifiers-from-authority",
            Self::NameDenied { .. } => "name-policy-deny",
            Self::NameNotAllowed { .. } => "name-policy-allow",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Csr(e) => write!(f, "{e}")?,
            Self::ProfileNotForMethod {
                profile,
                method,
                reserved_to,
            } => write!(
                f,
                "profile {profile} is not available to {method} enrollment: {reserved_to}"
            )?,
            Self::LabelProfile {
                label,
                label_profile,
                requested,
            } => match label_profile {
                Some(p) => write!(
                    f,
                    "the EST secret of label {label:?} authorizes profile {p} only, not {requested}"
                )?,
                None => write!(
                    f,
                    "the EST secret of label {label:?} authorizes no profile here ({requested} was asked)"
                )?,
            },
            Self::LevelAboveMethod {
                profile,
                level,
                method,
                max,
            } => write!(
                f,
                "profile {profile} issues level {level}, but {method} enrollment proves at most level {max} (profiles.{profile}.level)"
            )?,
            Self::RenewalProfile {
                presented,
                requested,
                label,
            } => {
                write!(
                    f,
                    "a client certificate may only renew itself: it is of profile {presented}, and profile {requested} was asked (renew it on a label of profile {presented})"
                )?;
                if let Some(label) = label {
                    write!(
                        f,
                        "; to let {presented} holders enroll on label {label:?}, an operator sets est.labels.{label}.holders = [\"{presented}\"]"
                    )?;
                }
            }
            Self::RenewalSubject {
                presented,
                requested,
            } => write!(
                f,
                "a renewal must keep the subject of the current certificate: requested {requested:?}, current {presented:?}"
            )?,
            Self::RenewalNames {
                presented,
                requested,
            } => write!(
                f,
                "a renewal must keep the names of the current certificate: requested {requested:?}, current {presented:?}"
            )?,
            Self::HolderProduct { label, product } => write!(
                f,
                "label {label:?} admits holders of the products in est.labels.{label}.products only; this certificate's product is {}",
                product.as_deref().unwrap_or("none")
            )?,
            Self::InkanIdentifier(name) => write!(
                f,
                "{name} is an inkan identifier: urn:inkan: names are set only by the authority from verified facts, never taken from a CSR"
            )?,
            Self::NameDenied {
                profile,
                name,
                key,
                pattern,
            } => write!(
                f,
                "{name} is denied by profiles.{profile}.names.deny.{key} ({pattern:?})"
            )?,
            Self::NameNotAllowed {
                profile,
                name,
                key,
                unset: true,
            } => write!(
                f,
                "profile {profile} allows no {key} names until the operator lists them: {name} is refused (set profiles.{profile}.names.allow.{key})"
            )?,
            Self::NameNotAllowed {
                profile,
                name,
                key,
                unset: false,
            } => write!(
                f,
                "{name} is not allowed by profiles.{profile}.names.allow.{key}"
            )?,
        }
        write!(f, " [rule: {}]", self.rule())
    }
}

impl std::error::Error for Refusal {}
