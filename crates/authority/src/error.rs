use inkan_pki::{CsrError, PkiError};
use inkan_store::StoreError;
use thiserror::Error;

/// Errors of the authority. Variants map one-to-one to what a client is told.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The request was refused by a CSR check.
    #[error("{0}")]
    Csr(#[from] CsrError),
    /// The label or profile does not exist.
    #[error("unknown EST label or profile {0:?}")]
    UnknownProfile(String),
    /// The authorization policy refused the issuance; the refusal names the rule (403).
    #[error(transparent)]
    Policy(crate::Refusal),
    /// The request is understood but a registry rule rejects it (a cap, a disabled product...).
    #[error(transparent)]
    Rejected(#[from] crate::Rejection),
    /// The request itself is malformed (a passphrase that cannot be used, a bad number...);
    /// says what to fix. Nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The requester did not prove who it is (a bad or replayed PSK token); says why.
    #[error("{0}")]
    Unauthenticated(String),
    /// A separate CA this authority relies on failed or refused; says which and why.
    #[error("the certificate authority at {0}")]
    Upstream(String),
    /// Configuration is wrong; the message says what to change.
    #[error("configuration: {0}")]
    Config(String),
    /// The CA files are missing or unreadable.
    #[error("{0}")]
    Ca(String),
    /// A certificate or key operation failed.
    #[error(transparent)]
    Pki(PkiError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TPM evidence is malformed (400) or failed a named check (403).
    #[error(transparent)]
    Evidence(#[from] inkan_attest::AttestError),
    /// No TPM activation has this id.
    #[error("no activation {0:?}: ask for a new one at /v1/tpm/activations")]
    ActivationUnknown(String),
    /// The TPM activation was used by an earlier enrollment.
    #[error("activation {0:?} was used already: each activation allows one enrollment")]
    ActivationUsed(String),
    /// The EK holds too many unused activations.
    #[error("this EK has {0} unused activations already: use one, or wait until they expire")]
    TooManyActivations(i64),
    /// The TPM activation expired.
    #[error("activation {0:?} expired: ask for a new one at /v1/tpm/activations")]
    ActivationExpired(String),
    /// TEE provisioning refused the request; the refusal says why.
    #[error(transparent)]
    Tee(#[from] crate::TeeRefusal),
    /// Linking or a linked device's login refused the request; the refusal says why.
    #[error(transparent)]
    Link(#[from] crate::LinkRefusal),
    /// The authority is shutting down.
    #[error("the authority is shutting down")]
    ShuttingDown,
    /// An IO error with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<PkiError> for AuthorityError {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::Csr(c) => Self::Csr(c),
            PkiError::Passphrase(why) => Self::Invalid(why),
            other => Self::Pki(other),
        }
    }
}

impl From<crate::Refusal> for AuthorityError {
    fn from(r: crate::Refusal) -> Self {
        match r {
            // A CSR that fails the profile's form checks is a bad request, as before.
            crate::Refusal::Csr(c) => Self::Csr(c),
            other => Self::Policy(other),
        }
    }
}

impl AuthorityError {
    /// Wraps an IO error with its path.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
