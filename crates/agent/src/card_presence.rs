//! Presence reports of the card helper to its gateway: while the card a session was opened
//! with stays on the reader, `present=1` every few seconds; when it leaves, `present=0`, which
//! ends the session at once (docs/cards.md).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use inkan_client::{HttpConnection, HttpTarget};

/// The gateway's path for presence reports.
pub const PRESENCE_PATH: &str = "/_inkan/card/presence";

/// What the gateway said of a report.
#[derive(Debug, PartialEq, Eq)]
pub enum Reported {
    /// The session lives on (or, for `present=0`, has ended now).
    Accepted,
    /// The session is over already: stop reporting.
    SessionGone,
}

/// Sends one presence report for the session of `token` to the gateway at `origin`.
pub async fn report(
    origin: &str,
    tls: Arc<rustls::ClientConfig>,
    token: &str,
    present: bool,
) -> Result<Reported, String> {
    let target = HttpTarget::parse(origin).map_err(|e| e.to_string())?;
    let mut connection = HttpConnection::connect(&target, tls)
        .await
        .map_err(|e| e.to_string())?;
    let body = format!("token={token}&present={}", u8::from(present));
    let (status, _, _) = connection
        .send(
            Method::POST,
            PRESENCE_PATH,
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            Bytes::from(body),
        )
        .await
        .map_err(|e| e.to_string())?;
    match status {
        StatusCode::NO_CONTENT | StatusCode::OK => Ok(Reported::Accepted),
        StatusCode::NOT_FOUND => Ok(Reported::SessionGone),
        other => Err(format!("the gateway answered {other}")),
    }
}

/// Whether `token` looks like a presence token (base64url, 16 to 128 characters), so nothing
/// else is ever put in a report.
pub fn is_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_base64url_tokens_are_reported() {
        assert!(is_token("abcdefghijklmnop_-0123"));
        assert!(!is_token("short"));
        assert!(!is_token("abcdefghijklmnop&present=0"));
        assert!(!is_token(&"a".repeat(129)));
    }
}
