use thiserror::Error;

/// Errors of the device side.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The URL is not usable.
    #[error("bad URL {0:?}: use https://HOST[:PORT][/PATH]")]
    Url(String),
    /// Could not connect or the TLS handshake failed.
    #[error("cannot reach {target}: {reason}")]
    Connect {
        /// host:port
        target: String,
        /// why
        reason: String,
    },
    /// The server answered with an error status.
    #[error("the server refused the request ({status}): {message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The server's explanation.
        message: String,
    },
    /// The response was not what the protocol says.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// TLS configuration problem.
    #[error("TLS: {0}")]
    Tls(String),
    /// The TPM refused or failed an operation (or could not be opened).
    #[error("TPM: {0}")]
    Tpm(String),
    /// Reading or writing a local file failed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// why
        reason: String,
    },
    /// Certificate or key problem.
    #[error(transparent)]
    Pki(#[from] inkan_pki::PkiError),
}
