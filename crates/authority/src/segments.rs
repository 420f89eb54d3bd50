//! Card segments (docs/cards.md): each has its own salt generations, sealed with the sealing
//! key; a card's PIN is derived from its readable data and the current salt
//! ([`inkan_attest::card_pin`]) and never stored. Needs the store and the sealing key only, so
//! a segment's own machine runs it with no authority reachable.

use std::sync::Arc;
use std::time::Duration;

use inkan_attest::card_pin::{self, CardData, SaltGeneration};
use inkan_store::{RevokedCard, SaltGenerationRecord, SegmentRecord, Store, StoreError};
use rand::RngCore;
use time::OffsetDateTime;

use crate::{unix_ms, AuthorityError, SealingKey};

/// How long a generation lasts unless told: a year.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

/// A PIN handed out: the digits (shown once, stored nowhere) and the generation it is of.
#[derive(Debug)]
pub struct IssuedPin {
    /// The PIN.
    pub pin: String,
    /// The salt generation.
    pub generation: i64,
    /// Until when it is accepted (Unix s).
    pub valid_until: i64,
}

/// How a new segment derives PINs and counts failed logins.
#[derive(Clone, Copy, Debug)]
pub struct SegmentSettings {
    /// PIN length, 6 to 10.
    pub pin_digits: u8,
    /// Whether the card's PMm is part of the PIN.
    pub use_pmm: bool,
    /// Failed logins that lock a card until an administrator unlocks it (1 to 100).
    pub max_card_failures: u16,
    /// Failed logins that lock a client address for a while (1 to 10,000).
    pub max_address_failures: u16,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        Self {
            pin_digits: 6,
            use_pmm: false,
            max_card_failures: 5,
            max_address_failures: 20,
        }
    }
}

/// Segments and their salts.
#[derive(Clone)]
pub struct Segments {
    pub(crate) store: Arc<dyn Store>,
    sealing: Arc<SealingKey>,
    clock: fn() -> OffsetDateTime,
}

fn purpose(segment: &str, number: i64) -> String {
    format!("segment-salt:{segment}:{number}")
}

fn refused(e: card_pin::PinError) -> AuthorityError {
    AuthorityError::Invalid(e.to_string())
}

impl Segments {
    /// Segments kept in `store`, salts sealed with `sealing`, on the system clock.
    pub fn new(store: Arc<dyn Store>, sealing: Arc<SealingKey>) -> Self {
        Self {
            store,
            sealing,
            clock: OffsetDateTime::now_utc,
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    fn sealed_salt(&self, segment: &str, number: i64) -> Result<Vec<u8>, AuthorityError> {
        let mut salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        self.sealing.seal(&purpose(segment, number), &salt)
    }

    /// Creates a segment with a fresh salt accepted from now for `lifetime`, audited.
    pub async fn create(
        &self,
        name: &str,
        settings: SegmentSettings,
        lifetime: Duration,
        actor: &str,
    ) -> Result<SegmentRecord, AuthorityError> {
        let SegmentSettings {
            pin_digits,
            use_pmm,
            max_card_failures,
            max_address_failures,
        } = settings;
        if !(1..=100).contains(&max_card_failures) || !(1..=10_000).contains(&max_address_failures)
        {
            return Err(AuthorityError::Invalid(
                "attempt limits: 1 to 100 failures per card, 1 to 10000 per address".into(),
            ));
        }
        // The derivation's own checks of the name and the digits, before anything is written.
        let probe = CardData::parse("0000", "0000000000000000", None).map_err(refused)?;
        card_pin::derive_pin(&[0u8; 32], name, &probe, pin_digits).map_err(refused)?;
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        if lifetime < *card_pin::RENEWAL_WINDOW.start() {
            return Err(AuthorityError::Invalid(
                "a salt generation lasts at least 14 days".into(),
            ));
        }
        let now = self.now();
        let segment = SegmentRecord {
            name: name.into(),
            pin_digits: i64::from(pin_digits),
            use_pmm,
            max_card_failures: i64::from(max_card_failures),
            max_address_failures: i64::from(max_address_failures),
            created_at_ms: unix_ms(now),
        };
        let first = SaltGenerationRecord {
            segment: name.into(),
            number: 1,
            salt_sealed: self.sealed_salt(name, 1)?,
            valid_from: now.unix_timestamp(),
            valid_until: now.unix_timestamp().saturating_add(lifetime),
            created_at_ms: unix_ms(now),
        };
        self.store
            .create_segment(&segment, &first, actor)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AuthorityError::Invalid(format!("segment {name:?} exists"))
                }
                other => other.into(),
            })?;
        Ok(segment)
    }

    /// Every segment.
    pub async fn list(&self) -> Result<Vec<SegmentRecord>, AuthorityError> {
        Ok(self.store.segments().await?)
    }

    /// A segment and its generations (without their salts).
    pub async fn show(
        &self,
        name: &str,
    ) -> Result<(SegmentRecord, Vec<SaltGenerationRecord>), AuthorityError> {
        let segment = self
            .store
            .segment(name)
            .await?
            .ok_or_else(|| unknown(name))?;
        Ok((segment, self.store.salt_generations(name).await?))
    }

    /// The generations with their salts opened.
    pub(crate) async fn generations(
        &self,
        name: &str,
    ) -> Result<Vec<SaltGeneration>, AuthorityError> {
        let mut opened = Vec::new();
        for g in self.store.salt_generations(name).await? {
            opened.push(SaltGeneration {
                number: u32::try_from(g.number).unwrap_or(u32::MAX),
                salt: self
                    .sealing
                    .open(&purpose(name, g.number), &g.salt_sealed)?,
                valid_from: g.valid_from,
                valid_until: g.valid_until,
            });
        }
        Ok(opened)
    }

    /// Rotates the segment's salt (the yearly procedure): the current generation stays
    /// accepted for `window` (2 to 4 weeks), the new one from now for `lifetime`; audited.
    pub async fn rotate(
        &self,
        name: &str,
        window: Duration,
        lifetime: Duration,
        actor: &str,
    ) -> Result<SaltGenerationRecord, AuthorityError> {
        let now = self.now().unix_timestamp();
        let generations = self.generations(name).await?;
        let current = generations
            .iter()
            .rev()
            .find(|g| g.accepts_at(now))
            .ok_or_else(|| {
                AuthorityError::Invalid(format!(
                    "segment {name:?} has no generation accepted now: make a new segment"
                ))
            })?;
        if generations.last().map(|g| g.number) != Some(current.number)
            || generations.iter().filter(|g| g.accepts_at(now)).count() > 1
        {
            return Err(AuthorityError::Invalid(format!(
                "segment {name:?} is in a renewal window already: rotate after it ends"
            )));
        }
        let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let (current_until, from, until) =
            card_pin::rotation(current, now, seconds(window), seconds(lifetime))
                .map_err(refused)?;
        let number = i64::from(current.number) + 1;
        let next = SaltGenerationRecord {
            segment: name.into(),
            number,
            salt_sealed: self.sealed_salt(name, number)?,
            valid_from: from,
            valid_until: until,
            created_at_ms: unix_ms(self.now()),
        };
        self.store
            .rotate_segment(i64::from(current.number), current_until, &next, actor)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(why) => AuthorityError::Invalid(why),
                StoreError::NotFound(_) => unknown(name),
                other => other.into(),
            })?;
        Ok(next)
    }

    /// The PIN of `card` in segment `name` under its newest generation, audited with the
    /// card's IDm (never the PIN).
    pub async fn issue_pin(
        &self,
        name: &str,
        card: &CardData,
        actor: &str,
    ) -> Result<IssuedPin, AuthorityError> {
        let (segment, _) = self.show(name).await?;
        if segment.use_pmm && card.pmm.is_none() {
            return Err(AuthorityError::Invalid(format!(
                "segment {name:?} derives PINs from the card's PMm too: give it"
            )));
        }
        let card = CardData {
            pmm: if segment.use_pmm { card.pmm } else { None },
            ..card.clone()
        };
        let idm = hex::encode(card.idm);
        if self
            .store
            .revoked_cards(name)
            .await?
            .iter()
            .any(|r| r.idm == idm)
        {
            return Err(AuthorityError::Invalid(format!(
                "card {idm} is revoked in segment {name:?}: it gets a PIN again after the next salt rotation"
            )));
        }
        let now = self.now().unix_timestamp();
        let generations = self.generations(name).await?;
        let newest = generations
            .iter()
            .rev()
            .find(|g| g.accepts_at(now))
            .ok_or_else(|| {
                AuthorityError::Invalid(format!(
                    "segment {name:?} has no salt accepted now: rotate it (`inkan segment rotate`)"
                ))
            })?;
        let digits = u8::try_from(segment.pin_digits).unwrap_or(0);
        let pin = card_pin::derive_pin(&newest.salt, name, &card, digits).map_err(refused)?;
        self.store
            .record_pin_issued(
                name,
                &idm,
                i64::from(newest.number),
                actor,
                unix_ms(self.now()),
            )
            .await?;
        Ok(IssuedPin {
            pin,
            generation: i64::from(newest.number),
            valid_until: newest.valid_until,
        })
    }
}

impl Segments {
    /// Revokes a card in a segment (a lost card, a leaked PIN), audited: it gets no PIN until
    /// the next salt rotation clears the list. False if it was revoked already.
    pub async fn revoke_card(
        &self,
        name: &str,
        card: &CardData,
        reason: &str,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        let reason = reason.trim();
        if reason.is_empty()
            || reason.len() > 64
            || !reason
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(AuthorityError::Invalid(
                "reason: 1 to 64 letters, digits or - (lost, pin-leaked, …)".into(),
            ));
        }
        let revoked = RevokedCard {
            segment: name.into(),
            idm: hex::encode(card.idm),
            reason: reason.into(),
            revoked_at_ms: unix_ms(self.now()),
        };
        self.store
            .revoke_card(&revoked, actor)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => unknown(name),
                other => other.into(),
            })
    }

    /// The segment's revoked cards.
    pub async fn revoked_cards(&self, name: &str) -> Result<Vec<RevokedCard>, AuthorityError> {
        Ok(self.store.revoked_cards(name).await?)
    }
}

pub(crate) fn unknown(name: &str) -> AuthorityError {
    AuthorityError::Invalid(format!(
        "no segment {name:?}: `inkan segment list` shows them"
    ))
}
