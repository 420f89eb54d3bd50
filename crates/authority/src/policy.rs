//! The one authorization policy every issuance goes through.
//!
//! [`decide`] takes the verified evidence ([`EnrollMethod`]), the requested profile and the
//! CSR, and answers with exactly what to issue ([`Grant`]) or a typed [`Refusal`] naming the
//! rule. It is pure: no IO, `now` passed in. The method table:
//!
//! | method | profiles it reaches | names from | maximum level |
//! | --- | --- | --- | --- |
//! | `est-secret` | its label's profile (never `product`, `admin`, `tpm`) | CSR, name policy | 2 |
//! | `client-cert` | its own profile (renewal), or a label whose `holders` list its profile | same as presented (renewal), else CSR; name policy | the presented certificate's (a holder's new certificate: also 2) |
//! | `renewal` | its own profile | same subject and names as presented; name policy | the presented certificate's |
//! | `bootstrap-cert`, `psk` | `device` (registry path) | the authority: device id, product | 2 |
//! | `tpm2` | `tpm` | CSR common name; the authority: TPM key | 3 |
//! | `tee` | the TA profile's (`tee` by default; never `product`, `admin`, `tpm`) | the authority: device UID, identity fields the TA read | 2 (3 with a TPM-held key) |
//! | `admin` | any but `product` (`product` by product creation) | CSR, deny lists | 3 |

mod decision;
mod evidence;
mod names;
mod reach;
mod refusal;
mod tee_names;

pub use decision::{decide, Grant, PolicyInput};
pub use evidence::{
    DeputyApproval, EnrollMethod, LinkedLogin, PresentedCert, ADMIN_MAX_LEVEL,
    SHARED_SECRET_MAX_LEVEL, TPM_MAX_LEVEL,
};
pub use names::{is_inkan_identifier, INKAN_URN};
pub(crate) use reach::check_config;
pub use reach::reserved_profile;
pub use refusal::Refusal;
pub use tee_names::{read_identity, IDENTITY_FIELDS};

#[cfg(test)]
mod tests;
