//! Card logins of a segment (docs/cards.md): level 1 a registered card, level 2 card + PIN,
//! level 3 card + PIN + password. Failed attempts are counted per card and per client address
//! and lock at the segment's limits; a login never says which part was wrong.

use std::net::IpAddr;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use inkan_attest::card_pin::{self, CardData};
use inkan_store::{
    address_subject, card_subject, AttemptLimits, CardLogin, LoginFailure, RegisteredCard,
    SegmentUser, StoreError,
};

use crate::segments::unknown;
use crate::{unix_ms, AuthorityError, Segments};

/// How long a client address stays locked after too many failures.
pub const ADDRESS_LOCK: Duration = Duration::from_secs(15 * 60);

/// A hash verified when the user is unknown, so an unknown name costs as much as a wrong
/// password (argon2id of a random secret, default parameters).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$5lJnyVqvGSn6T8jE1MZwJA$6Uf4ndOqz3dkp6D9c0Hq8J2bZ7Zq4M3XAmCyv1dXnPU";

/// What a login offers.
#[derive(Clone, Debug)]
pub struct CardLoginAttempt {
    /// The segment the site belongs to.
    pub segment: String,
    /// The card as the reader read it.
    pub card: CardData,
    /// The PIN (levels 2 and 3).
    pub pin: Option<String>,
    /// The user name and password (level 3).
    pub password: Option<(String, String)>,
    /// The client's address.
    pub address: IpAddr,
}

/// A login that succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardSession {
    /// The segment.
    pub segment: String,
    /// The card's IDm (16 lowercase hex digits).
    pub idm: String,
    /// The level proven (1, 2 or 3).
    pub level: u8,
    /// The level-3 user, or the level-1 card's holder.
    pub user: Option<String>,
}

/// A lock that a failure began: the administrator is alerted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LockAlert {
    /// `card.locked` or `card.address.locked`.
    pub event: &'static str,
    /// The segment.
    pub segment: String,
    /// The card's IDm.
    pub idm: String,
    /// The card's PMm, if read.
    pub pmm: Option<String>,
    /// The client's address.
    pub address: String,
    /// The failures counted.
    pub failures: i64,
}

/// Why a login is refused.
#[derive(Debug, thiserror::Error)]
pub enum CardLoginError {
    /// The card, PIN, user or password is wrong, or the card is revoked or unregistered; the
    /// failure was counted. `alerts` names the locks it began.
    #[error("the card, PIN or password is not accepted")]
    Refused {
        /// Why, for the log (never shown to the client).
        reason: &'static str,
        /// Locks this failure began.
        alerts: Vec<LockAlert>,
    },
    /// The card or the client address is locked; nothing was counted.
    #[error("this card or this computer is locked after too many failed logins: ask the segment's administrator")]
    Locked,
    /// The segment is unknown or misconfigured, or the store failed.
    #[error(transparent)]
    Authority(#[from] AuthorityError),
}

impl From<StoreError> for CardLoginError {
    fn from(e: StoreError) -> Self {
        Self::Authority(e.into())
    }
}

/// The argon2id PHC string of a level-3 password.
fn hash_password(password: &str) -> Result<String, AuthorityError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthorityError::Config(format!("argon2: {e}")))
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn check_name(what: &str, text: &str) -> Result<(), AuthorityError> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(AuthorityError::Invalid(format!(
            "{what}: 1 to 64 letters, digits or - _ . @"
        )))
    }
}

impl Segments {
    /// Checks a login and counts it: a success is recorded in the access log and clears the
    /// failures of its card and address; a failure is counted and may lock either.
    pub async fn login(&self, attempt: &CardLoginAttempt) -> Result<CardSession, CardLoginError> {
        let name = attempt.segment.as_str();
        let segment = self
            .store
            .segment(name)
            .await?
            .ok_or_else(|| unknown(name))?;
        let idm = hex::encode(attempt.card.idm);
        let address = attempt.address.to_string();
        let now = self.now();
        let now_ms = unix_ms(now);
        let subjects = [card_subject(&idm), address_subject(&address)];
        let records = self.store.attempts(name, &subjects).await?;
        if records.iter().any(|r| r.is_locked_at(now_ms)) {
            return Err(CardLoginError::Locked);
        }
        let card = CardData {
            pmm: if segment.use_pmm {
                attempt.card.pmm
            } else {
                None
            },
            ..attempt.card.clone()
        };
        let verdict = self.check(&segment, &card, &idm, attempt, now).await?;
        match verdict {
            Ok((level, user)) => {
                self.store
                    .record_card_login(&CardLogin {
                        segment: name.into(),
                        idm: idm.clone(),
                        address,
                        level: i64::from(level),
                        user: user.clone(),
                        at_ms: now_ms,
                    })
                    .await?;
                Ok(CardSession {
                    segment: name.into(),
                    idm,
                    level,
                    user,
                })
            }
            Err(reason) => {
                let failure = LoginFailure {
                    segment: name.into(),
                    idm: idm.clone(),
                    pmm: attempt.card.pmm.map(hex::encode),
                    address: address.clone(),
                    reason: reason.into(),
                    at_ms: now_ms,
                };
                let limits = AttemptLimits {
                    card: segment.max_card_failures,
                    address: segment.max_address_failures,
                    address_lock_ms: i64::try_from(ADDRESS_LOCK.as_millis()).unwrap_or(i64::MAX),
                };
                let outcome = self.store.record_login_failure(&failure, limits).await?;
                let alert = |event, failures| LockAlert {
                    event,
                    segment: name.into(),
                    idm: idm.clone(),
                    pmm: failure.pmm.clone(),
                    address: address.clone(),
                    failures,
                };
                let mut alerts = Vec::new();
                if outcome.card_locked {
                    alerts.push(alert("card.locked", outcome.card_failures));
                }
                if outcome.address_locked {
                    alerts.push(alert("card.address.locked", outcome.address_failures));
                }
                Err(CardLoginError::Refused { reason, alerts })
            }
        }
    }

    /// The level and user a login proves, or why it fails (before anything is written).
    async fn check(
        &self,
        segment: &inkan_store::SegmentRecord,
        card: &CardData,
        idm: &str,
        attempt: &CardLoginAttempt,
        now: time::OffsetDateTime,
    ) -> Result<Result<(u8, Option<String>), &'static str>, CardLoginError> {
        let name = segment.name.as_str();
        if self
            .store
            .revoked_cards(name)
            .await?
            .iter()
            .any(|r| r.idm == idm)
        {
            return Ok(Err("revoked-card"));
        }
        let Some(pin) = attempt.pin.as_deref() else {
            if attempt.password.is_some() {
                return Ok(Err("password-without-pin"));
            }
            return Ok(match self.store.registered_card(name, idm).await? {
                Some(card) => Ok((1, Some(card.holder))),
                None => Err("unregistered-card"),
            });
        };
        if segment.use_pmm && card.pmm.is_none() {
            return Ok(Err("no-pmm"));
        }
        let generations = self.generations(name).await?;
        let digits = u8::try_from(segment.pin_digits).unwrap_or(0);
        let matched = card_pin::matching_generation(
            &generations,
            now.unix_timestamp(),
            name,
            card,
            digits,
            pin,
        )
        .map_err(|e| AuthorityError::Invalid(e.to_string()))?;
        let pin_ok = matched.is_some();
        let Some((user, password)) = attempt.password.clone() else {
            return Ok(if pin_ok {
                Ok((2, None))
            } else {
                Err("wrong-pin")
            });
        };
        let record = self.store.segment_user(name, &user).await?;
        let hash = record
            .as_ref()
            .map_or(DUMMY_HASH.to_string(), |u| u.password_hash.clone());
        let password_ok = tokio::task::spawn_blocking(move || password_matches(&hash, &password))
            .await
            .unwrap_or(false);
        let bound = record.as_ref().is_some_and(|u| u.idm == idm);
        Ok(match (pin_ok, password_ok && bound) {
            (true, true) => Ok((3, Some(user))),
            (false, _) => Err("wrong-pin"),
            (true, false) => Err("wrong-password"),
        })
    }

    /// Registers a card for level-1 login, audited; false if it was registered already.
    pub async fn register_card(
        &self,
        name: &str,
        card: &CardData,
        holder: &str,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        check_name("holder", holder)?;
        let card = RegisteredCard {
            segment: name.into(),
            idm: hex::encode(card.idm),
            holder: holder.into(),
            registered_at_ms: unix_ms(self.now()),
        };
        self.store
            .register_card(&card, actor)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => unknown(name),
                other => other.into(),
            })
    }

    /// Removes a level-1 card, audited; false if it was not registered.
    pub async fn unregister_card(
        &self,
        name: &str,
        card: &CardData,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        let idm = hex::encode(card.idm);
        Ok(self
            .store
            .unregister_card(name, &idm, actor, unix_ms(self.now()))
            .await?)
    }

    /// The segment's level-1 cards.
    pub async fn registered_cards(
        &self,
        name: &str,
    ) -> Result<Vec<RegisteredCard>, AuthorityError> {
        Ok(self.store.registered_cards(name).await?)
    }

    /// Adds a level-3 user bound to `card`, with an argon2id hash of `password` (at least 10
    /// characters), audited without the hash.
    pub async fn add_user(
        &self,
        name: &str,
        user: &str,
        card: &CardData,
        password: &str,
        actor: &str,
    ) -> Result<(), AuthorityError> {
        check_name("user name", user)?;
        if password.chars().count() < 10 || password.len() > 1024 {
            return Err(AuthorityError::Invalid(
                "the password needs 10 to 1024 characters".into(),
            ));
        }
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| AuthorityError::Config(format!("argon2: {e}")))??;
        let record = SegmentUser {
            segment: name.into(),
            name: user.into(),
            idm: hex::encode(card.idm),
            password_hash: hash,
            created_at_ms: unix_ms(self.now()),
        };
        self.store
            .add_segment_user(&record, actor)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => unknown(name),
                StoreError::Conflict(why) => AuthorityError::Invalid(why),
                other => other.into(),
            })
    }

    /// Removes a level-3 user, audited; false if unknown.
    pub async fn remove_user(
        &self,
        name: &str,
        user: &str,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        Ok(self
            .store
            .remove_segment_user(name, user, actor, unix_ms(self.now()))
            .await?)
    }

    /// The segment's level-3 users (without their hashes).
    pub async fn users(&self, name: &str) -> Result<Vec<SegmentUser>, AuthorityError> {
        Ok(self.store.segment_users(name).await?)
    }

    /// Lifts the lock of a card (`card`) or an address (`address`), audited; false if it had
    /// no failures.
    pub async fn unlock(
        &self,
        name: &str,
        card: Option<&CardData>,
        address: Option<IpAddr>,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        let subject = match (card, address) {
            (Some(card), None) => card_subject(&hex::encode(card.idm)),
            (None, Some(address)) => address_subject(&address.to_string()),
            _ => {
                return Err(AuthorityError::Invalid(
                    "unlock either a card (--idm) or an address (--address)".into(),
                ))
            }
        };
        Ok(self
            .store
            .unlock(name, &subject, actor, unix_ms(self.now()))
            .await?)
    }

    /// Cards and addresses with failed logins (locked or not), of one segment or all.
    pub async fn failed_attempts(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<inkan_store::AttemptRecord>, AuthorityError> {
        Ok(self.store.failed_attempts(name).await?)
    }
}
