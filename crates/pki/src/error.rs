use thiserror::Error;

/// Errors from the certificate core.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A certificate signing request was refused; the inner error says which check failed.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// Building or signing a certificate failed.
    #[error("could not build the certificate: {0}")]
    Build(String),
    /// A key could not be generated, read or decrypted.
    #[error("key error: {0}")]
    Key(String),
    /// A certificate could not be parsed.
    #[error("malformed certificate: {0}")]
    Certificate(String),
    /// PEM or PKCS#7 input could not be decoded.
    #[error("malformed encoding: {0}")]
    Encoding(String),
    /// A certificate chain did not verify.
    #[error("certificate not trusted: {0}")]
    Untrusted(String),
    /// A passphrase cannot protect what was asked (too short, or not encodable); says why.
    #[error("{0}")]
    Passphrase(String),
}

/// Why a certificate signing request was refused. Each message is meant for the requester.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrError {
    /// The bytes are not a DER-encoded PKCS#10 request.
    #[error("the CSR is not a valid DER-encoded PKCS#10 request")]
    Malformed,
    /// The request's signature does not verify with its own public key (no proof of possession).
    #[error("the CSR signature does not verify with the CSR's public key")]
    BadSignature,
    /// The key type or size is not allowed by the profile.
    #[error("key type {found} is not allowed by profile {profile} (allowed: {allowed})")]
    KeyType {
        /// The key type in the request.
        found: String,
        /// The profile name.
        profile: String,
        /// The allowed key types.
        allowed: String,
    },
    /// The request asks for a CA certificate.
    #[error(
        "the CSR requests a CA certificate (basicConstraints CA:true), which is never issued here"
    )]
    CaRequested,
    /// A subject attribute is not allowed by the profile.
    #[error("subject attribute {0} is not allowed by the profile")]
    SubjectAttribute(String),
    /// The subject is missing a common name the profile requires.
    #[error("the subject needs a common name (CN) for this profile")]
    MissingCommonName,
    /// A subject alternative name form is not allowed by the profile.
    #[error("subject alternative name {0} is not allowed by the profile")]
    SanNotAllowed(String),
    /// Too many subject alternative names.
    #[error("too many subject alternative names: {found} (at most {max})")]
    TooManySans {
        /// How many the request has.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A subject value is empty, too long or not printable.
    #[error("subject or SAN value is invalid: {0}")]
    InvalidValue(String),
}
