use thiserror::Error;

/// Errors of the HTTP and EST client.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
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
    /// Certificate problem in a response.
    #[error(transparent)]
    Pki(#[from] inkan_pki::PkiError),
}
