//! Card sessions: opened by a login on the gateway's page, held in memory (a restart logs
//! everyone out), found by the SHA-256 of the cookie's random token, ended by logout, by
//! `session_idle` without a request, or `session_lifetime` after the login — and, when the
//! session is bound to the card, by the card helper reporting the card gone, or by no report
//! of its presence for `presence_timeout`.

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
    /// The key of its presence token (the helper reports the card with it).
    presence: [u8; 32],
    last_presence: Instant,
}

/// How sessions end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionLimits {
    /// Without a request this long.
    pub(crate) idle: Duration,
    /// This long after the login.
    pub(crate) lifetime: Duration,
    /// Without a presence report this long (`None`: not bound to the card).
    pub(crate) presence: Option<Duration>,
}

/// The card sessions of a gateway.
pub(crate) struct Sessions {
    map: Mutex<Map>,
    limits: SessionLimits,
}

#[derive(Default)]
struct Map {
    sessions: HashMap<[u8; 32], Entry>,
    /// Presence token key → session key.
    by_presence: HashMap<[u8; 32], [u8; 32]>,
}

impl Map {
    fn remove(&mut self, key: &[u8; 32]) -> bool {
        match self.sessions.remove(key) {
            Some(entry) => {
                self.by_presence.remove(&entry.presence);
                true
            }
            None => false,
        }
    }
}

/// A new session's tokens: the cookie's and the presence reports'.
pub(crate) struct Opened {
    pub(crate) cookie: String,
    pub(crate) presence: String,
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn key_of(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}

impl Sessions {
    pub(crate) fn new(limits: SessionLimits) -> Self {
        Self {
            map: Mutex::new(Map::default()),
            limits,
        }
    }

    /// Whether sessions end when the card leaves the reader.
    pub(crate) fn bound_to_card(&self) -> bool {
        self.limits.presence.is_some()
    }

    fn alive(&self, entry: &Entry, now: Instant) -> bool {
        now.duration_since(entry.last_seen) < self.limits.idle
            && now.duration_since(entry.opened) < self.limits.lifetime
            && self
                .limits
                .presence
                .is_none_or(|p| now.duration_since(entry.last_presence) < p)
    }

    /// Opens a session for `identity`; returns its tokens (32 random bytes each, base64url).
    pub(crate) fn open(&self, identity: Arc<ClientIdentity>) -> Option<Opened> {
        let opened = Opened {
            cookie: random_token()?,
            presence: random_token()?,
        };
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        if map.sessions.len() >= MAX_SESSIONS {
            let dead: Vec<[u8; 32]> = map
                .sessions
                .iter()
                .filter(|(_, e)| !self.alive(e, now))
                .map(|(k, _)| *k)
                .collect();
            for k in dead {
                map.remove(&k);
            }
        }
        if map.sessions.len() >= MAX_SESSIONS {
            let oldest = map
                .sessions
                .iter()
                .min_by_key(|(_, e)| e.opened)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let key = key_of(&opened.cookie);
        let presence = key_of(&opened.presence);
        map.sessions.insert(
            key,
            Entry {
                identity,
                opened: now,
                last_seen: now,
                presence,
                last_presence: now,
            },
        );
        map.by_presence.insert(presence, key);
        Some(opened)
    }

    /// A presence report of the card helper: the card is on the reader (the session lives
    /// on) or gone (the session ends). False if no live session has this presence token.
    pub(crate) fn report_presence(&self, token: &str, present: bool) -> bool {
        let now = Instant::now();
        let Ok(mut map) = self.map.lock() else {
            return false;
        };
        let Some(key) = map.by_presence.get(&key_of(token)).copied() else {
            return false;
        };
        let alive = map.sessions.get(&key).is_some_and(|e| self.alive(e, now));
        if !alive || !present {
            map.remove(&key);
            return alive;
        }
        if let Some(entry) = map.sessions.get_mut(&key) {
            entry.last_presence = now;
        }
        true
    }

    /// The identity of a live session of `segment`, marking it seen; None (and the session
    /// ended) if it is over.
    pub(crate) fn find(&self, token: &str, segment: &str) -> Option<Arc<ClientIdentity>> {
        let key = key_of(token);
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        let entry = map.sessions.get_mut(&key)?;
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
        let entry = map.sessions.get_mut(&key)?;
        entry.last_seen = now;
        Some(entry.identity.clone())
    }

    /// Ends a session; true if there was one.
    pub(crate) fn end(&self, token: &str) -> bool {
        self.map
            .lock()
            .ok()
            .is_some_and(|mut m| m.remove(&key_of(token)))
    }

    /// Ends every session of a card in a segment (the card was locked or revoked).
    pub(crate) fn end_card(&self, segment: &str, idm: &str) {
        if let Ok(mut map) = self.map.lock() {
            let of_card: Vec<[u8; 32]> = map
                .sessions
                .iter()
                .filter(|(_, e)| {
                    e.identity
                        .card
                        .as_ref()
                        .is_some_and(|c| c.segment == segment && c.idm == idm)
                })
                .map(|(k, _)| *k)
                .collect();
            for k in of_card {
                map.remove(&k);
            }
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

    fn limits(idle: u64, lifetime: u64, presence: Option<u64>) -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(idle),
            lifetime: Duration::from_secs(lifetime),
            presence: presence.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_session_is_found_only_for_its_segment_until_it_ends() {
        let sessions = Sessions::new(limits(60, 600, None));
        let token = sessions.open(identity("physics")).unwrap().cookie;
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
        let idle = Sessions::new(limits(0, 600, None));
        let token = idle.open(identity("physics")).unwrap().cookie;
        assert!(idle.find(&token, "physics").is_none());
        let old = Sessions::new(limits(60, 0, None));
        let token = old.open(identity("physics")).unwrap().cookie;
        assert!(old.find(&token, "physics").is_none());
        let unreported = Sessions::new(limits(60, 600, Some(0)));
        let token = unreported.open(identity("physics")).unwrap().cookie;
        assert!(
            unreported.find(&token, "physics").is_none(),
            "no presence report"
        );
    }

    #[test]
    fn a_card_reported_gone_ends_its_session() {
        let sessions = Sessions::new(limits(60, 600, Some(10)));
        let opened = sessions.open(identity("physics")).unwrap();
        assert!(sessions.report_presence(&opened.presence, true));
        assert!(sessions.find(&opened.cookie, "physics").is_some());
        assert!(
            !sessions.report_presence(&opened.cookie, true),
            "the cookie is no presence token"
        );
        assert!(sessions.report_presence(&opened.presence, false));
        assert!(sessions.find(&opened.cookie, "physics").is_none());
        assert!(
            !sessions.report_presence(&opened.presence, true),
            "ended for good"
        );
    }

    #[test]
    fn ending_a_card_ends_its_sessions_only() {
        let sessions = Sessions::new(limits(60, 600, None));
        let a = sessions.open(identity("physics")).unwrap().cookie;
        let b = sessions.open(identity("chemistry")).unwrap().cookie;
        sessions.end_card("physics", "0123456789abcdef");
        assert!(sessions.find(&a, "physics").is_none());
        assert!(sessions.find(&b, "chemistry").is_some());
    }
}
