use thiserror::Error;

/// The named checks of TPM enrollment; each refusal names the one that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The EK certificate chains to a configured root and certifies the EK (or the EK is
    /// allow-listed).
    EkChain,
    /// The EK is a restricted decryption key that credential activation can use.
    EkKey,
    /// The AK is a restricted signing key, fixed to its TPM, with SHA-256 names.
    AkRestrictedSign,
    /// The secret returned matches the one sealed by credential activation.
    CredentialActivated,
    /// The attestation is signed by the AK.
    CertifySignature,
    /// The attestation is a TPM2_Certify over the authority's nonce.
    AttestNonce,
    /// The certified name is the device key's name.
    KeyName,
    /// The device key cannot leave its TPM.
    KeyFixedTpm,
    /// The device key cannot be duplicated under another parent.
    KeyFixedParent,
    /// The device key's private part was generated inside the TPM.
    KeySensitiveDataOrigin,
    /// The device key is an unrestricted signing-only key.
    KeySignNotRestricted,
    /// The CSR carries the certified device key.
    CsrKey,
}

impl Check {
    /// The check's name as the API reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::EkChain => "ek-chain",
            Self::EkKey => "ek-key",
            Self::AkRestrictedSign => "ak-restricted-sign",
            Self::CredentialActivated => "credential-activated",
            Self::CertifySignature => "certify-signature",
            Self::AttestNonce => "attest-nonce",
            Self::KeyName => "key-name",
            Self::KeyFixedTpm => "key-fixed-tpm",
            Self::KeyFixedParent => "key-fixed-parent",
            Self::KeySensitiveDataOrigin => "key-sensitive-data-origin",
            Self::KeySignNotRestricted => "key-sign-not-restricted",
            Self::CsrKey => "csr-key",
        }
    }

    /// Every check a successful TPM enrollment passed, in the order the API lists them.
    pub const ENROLLMENT: [Check; 11] = [
        Self::EkChain,
        Self::AkRestrictedSign,
        Self::CredentialActivated,
        Self::CertifySignature,
        Self::AttestNonce,
        Self::KeyName,
        Self::KeyFixedTpm,
        Self::KeyFixedParent,
        Self::KeySensitiveDataOrigin,
        Self::KeySignNotRestricted,
        Self::CsrKey,
    ];
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of evidence verification.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttestError {
    /// The bytes are not a well-formed structure of the kind expected; says which and why.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// The structure (e.g. "ak_public").
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The evidence is well formed but a check failed.
    #[error("check {check} failed: {why}")]
    Refused {
        /// The failed check.
        check: Check,
        /// Why.
        why: String,
    },
    /// The random number generator or a primitive failed (not the requester's fault).
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

impl AttestError {
    pub(crate) fn refused(check: Check, why: impl Into<String>) -> Self {
        Self::Refused {
            check,
            why: why.into(),
        }
    }

    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            why: why.into(),
        }
    }

    /// Renames the structure of a [`AttestError::Malformed`] (parsers do not know which field
    /// of a request they read).
    pub fn in_field(self, field: &'static str) -> Self {
        match self {
            Self::Malformed { why, .. } => Self::Malformed { what: field, why },
            other => other,
        }
    }
}
