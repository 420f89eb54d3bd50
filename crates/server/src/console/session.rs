//! Console sessions: who is logged in, in a cookie the authority signs (HMAC-SHA256 with a key
//! derived from `ca/sealing.key`, so every replica accepts it), and the CSRF token each form
//! carries, derived from the session. Pure: time and key passed in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::hmac;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "inkan_console";
/// How long a session lasts.
pub(crate) const SESSION_SECS: i64 = 30 * 60;

/// A logged-in administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConsoleSession {
    /// The audit actor: `token:NAME` or `admin-cert:SERIAL`.
    pub actor: String,
    /// When it ends (Unix s).
    pub expires_at: i64,
    /// The SHA-256 of the admin token it was opened with, checked on every request so that
    /// revoking the token ends the session; None for a certificate or a one-time link.
    pub token_id: Option<String>,
}

fn mac(key: &[u8; 32], label: &[u8], payload: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut message = label.to_vec();
    message.extend_from_slice(payload);
    hmac::sign(&key, &message)
}

impl ConsoleSession {
    fn payload(&self) -> String {
        let token = self.token_id.as_deref().unwrap_or_default();
        format!("{}|{token}|{}", self.expires_at, self.actor)
    }

    /// The audit log's actor for what this administrator does in the console.
    pub(crate) fn audit_actor(&self) -> String {
        format!("console:{}", self.actor)
    }

    /// The cookie value: base64url(expiry | token id | actor) "." base64url(MAC).
    pub(crate) fn cookie_value(&self, key: &[u8; 32]) -> String {
        let payload = self.payload();
        let tag = mac(key, b"inkan-console-session-v2", payload.as_bytes());
        format!("{}.{}", B64URL.encode(payload), B64URL.encode(tag.as_ref()))
    }

    /// The session in a cookie value, if its MAC checks and it has not expired at `now`.
    pub(crate) fn from_cookie(value: &str, key: &[u8; 32], now: i64) -> Option<Self> {
        let (payload, tag) = value.split_once('.')?;
        let payload = B64URL.decode(payload).ok()?;
        let tag = B64URL.decode(tag).ok()?;
        let hkey = hmac::Key::new(hmac::HMAC_SHA256, key);
        let mut message = b"inkan-console-session-v2".to_vec();
        message.extend_from_slice(&payload);
        hmac::verify(&hkey, &message, &tag).ok()?;
        let text = String::from_utf8(payload).ok()?;
        let (expires, rest) = text.split_once('|')?;
        let (token, actor) = rest.split_once('|')?;
        let expires_at: i64 = expires.parse().ok()?;
        (now < expires_at && !actor.is_empty()).then(|| Self {
            actor: actor.to_string(),
            expires_at,
            token_id: (!token.is_empty()).then(|| token.to_string()),
        })
    }

    /// The CSRF token of this session's forms.
    pub(crate) fn csrf(&self, key: &[u8; 32]) -> String {
        let payload = self.payload();
        hex::encode(mac(key, b"inkan-console-csrf-v2", payload.as_bytes()).as_ref())
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub(crate) fn csrf_matches(&self, key: &[u8; 32], token: &str) -> bool {
        self.csrf(key).as_bytes().ct_eq(token.as_bytes()).into()
    }
}

/// The `Set-Cookie` value for a session; `Secure`, `HttpOnly`, `SameSite=Strict`, scoped to
/// `/console`.
pub(crate) fn set_cookie(value: &str) -> String {
    format!(
        "{COOKIE}={value}; Path=/console; Max-Age={SESSION_SECS}; Secure; HttpOnly; SameSite=Strict"
    )
}

/// The `Set-Cookie` value that ends a session.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

/// The session cookie's value among a request's `Cookie` headers.
pub(crate) fn cookie_in<'a>(headers: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];

    #[test]
    fn a_session_round_trips_until_it_expires() {
        let s = ConsoleSession {
            actor: "token:ops".into(),
            expires_at: 1000,
            token_id: Some("ab12".into()),
        };
        let cookie = s.cookie_value(&KEY);
        assert_eq!(
            ConsoleSession::from_cookie(&cookie, &KEY, 999),
            Some(s.clone())
        );
        assert_eq!(ConsoleSession::from_cookie(&cookie, &KEY, 1000), None);
        assert_eq!(ConsoleSession::from_cookie(&cookie, &[8; 32], 999), None);
    }

    #[test]
    fn a_forged_or_edited_cookie_is_refused() {
        let s = ConsoleSession {
            actor: "token:ops".into(),
            expires_at: 1000,
            token_id: Some("ab12".into()),
        };
        let cookie = s.cookie_value(&KEY);
        let (_, tag) = cookie.split_once('.').unwrap();
        let longer = format!("{}.{tag}", B64URL.encode("999999|ab12|token:ops"));
        assert_eq!(ConsoleSession::from_cookie(&longer, &KEY, 999), None);
        assert_eq!(ConsoleSession::from_cookie("junk", &KEY, 0), None);
        assert_eq!(ConsoleSession::from_cookie("a.b", &KEY, 0), None);
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let a = ConsoleSession {
            actor: "token:a".into(),
            expires_at: 1000,
            token_id: Some("ab12".into()),
        };
        let b = ConsoleSession {
            actor: "token:b".into(),
            expires_at: 1000,
            token_id: Some("ab12".into()),
        };
        assert!(a.csrf_matches(&KEY, &a.csrf(&KEY)));
        assert!(!a.csrf_matches(&KEY, &b.csrf(&KEY)));
        assert!(!a.csrf_matches(&KEY, ""));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let headers = ["a=1; inkan_console=xyz", "b=2"];
        assert_eq!(cookie_in(headers.iter().copied()), Some("xyz"));
        assert_eq!(cookie_in(["a=1"].iter().copied()), None);
    }
}
