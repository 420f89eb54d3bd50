use thiserror::Error;

/// Errors of the device side.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The URL is not usable.
    #[error("bad URL {0:?}: use https://HOST[:PORT][/PATH]")]
    Url(String),
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
    /// Connecting to or talking with the server failed.
    #[error(transparent)]
    Client(#[from] inkan_client::ClientError),
    /// Certificate or key problem.
    #[error(transparent)]
    Pki(#[from] inkan_pki::PkiError),
}
