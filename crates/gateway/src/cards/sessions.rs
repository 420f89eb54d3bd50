//! Card sessions: opened by a login on the gateway's page, held in memory (a restart logs
//! everyone out), found by the SHA-256 of the cookie's random token, ended by logout, by
//! `session_idle` without a request, or `session_lifetime` after the login.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

use crate::identity::ClientIdentity;

/// Sessions held at most; beyond it the oldest ends.
const MAX_SESSIONS: usize = 50_000;

/// One session.
struct Entry {
    identity: Arc<ClientIdentity>,
    opened: Instant,
    last_seen: Instant,
}

/// The card sessions of a gateway.
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Entry>>,
    idle: Duration,
    lifetime: Duration,
}

fn key_of(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}

impl Sessions {
    pub(crate) fn new(idle: Duration, lifetime: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
            lifetime,
        }
    }

    fn alive(&self, entry: &Entry, now: Instant) -> bool {
        now.duration_since(entry.last_seen) < self.idle
            && now.duration_since(entry.opened) < self.lifetime
    }

    /// Opens a session for `identity`; returns the cookie token (32 random bytes, base64url).
    pub(crate) fn open(&self, identity: Arc<ClientIdentity>) -> Option<String> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).ok()?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, e| self.alive(e, now));
        }
        if map.len() >= MAX_SESSIONS {
            let oldest = map.iter().min_by_key(|(_, e)| e.opened).map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(
            key_of(&token),
            Entry {
                identity,
                opened: now,
                last_seen: now,
            },
        );
        Some(token)
    }

    /// The identity of a live session of `segment`, marking it seen; None (and the session
    /// ended) if it is over.
    pub(crate) fn find(&self, token: &str, segment: &str) -> Option<Arc<ClientIdentity>> {
        let key = key_of(token);
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        let entry = map.get_mut(&key)?;
        let of_segment = entry
            .identity
            .card
            .as_ref()
            .is_some_and(|c| c.segment == segment);
        if !of_segment {
            return None;
        }
        if !self.alive(entry, now) {
            map.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(entry.identity.clone())
    }

    /// Ends a session; true if there was one.
    pub(crate) fn end(&self, token: &str) -> bool {
        self.map
            .lock()
            .ok()
            .is_some_and(|mut m| m.remove(&key_of(token)).is_some())
    }

    /// Ends every session of a card in a segment (the card was locked or revoked).
    pub(crate) fn end_card(&self, segment: &str, idm: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, e| {
                !e.identity
                    .card
                    .as_ref()
                    .is_some_and(|c| c.segment == segment && c.idm == idm)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CardIdentity;

    fn identity(segment: &str) -> Arc<ClientIdentity> {
        Arc::new(ClientIdentity {
            serial: String::new(),
            subject: "card:0123456789abcdef".into(),
            level: Some(2),
            not_after: i64::MAX,
            escaped_pem: String::new(),
            device: None,
            product: None,
            linked: None,
            account: None,
            card: Some(CardIdentity {
                segment: segment.into(),
                idm: "0123456789abcdef".into(),
                user: None,
            }),
        })
    }

    #[test]
    fn a_session_is_found_only_for_its_segment_until_it_ends() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let token = sessions.open(identity("physics")).unwrap();
        assert!(sessions.find(&token, "physics").is_some());
        assert!(
            sessions.find(&token, "chemistry").is_none(),
            "another segment"
        );
        assert!(sessions.find("forged", "physics").is_none());
        assert!(sessions.end(&token));
        assert!(sessions.find(&token, "physics").is_none());
        assert!(!sessions.end(&token));
    }

    #[test]
    fn an_idle_or_old_session_is_over() {
        let idle = Sessions::new(Duration::ZERO, Duration::from_secs(600));
        let token = idle.open(identity("physics")).unwrap();
        assert!(idle.find(&token, "physics").is_none());
        let old = Sessions::new(Duration::from_secs(60), Duration::ZERO);
        let token = old.open(identity("physics")).unwrap();
        assert!(old.find(&token, "physics").is_none());
    }

    #[test]
    fn ending_a_card_ends_its_sessions_only() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let a = sessions.open(identity("physics")).unwrap();
        let b = sessions.open(identity("chemistry")).unwrap();
        sessions.end_card("physics", "0123456789abcdef");
        assert!(sessions.find(&a, "physics").is_none());
        assert!(sessions.find(&b, "chemistry").is_some());
    }
}
