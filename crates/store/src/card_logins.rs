//! The card-login aggregate (docs/cards.md): what a segment's gateway keeps about logins with
//! an everyday IC card — failed-attempt counters per card and per client address (which never
//! reset by themselves), registered cards for level 1, users with an argon2id password for
//! level 3. No PIN and no PIN hash is stored.

use async_trait::async_trait;

use crate::StoreError;

/// `locked_until_ms` of a lock that lasts until an administrator lifts it.
pub const LOCKED_UNTIL_UNLOCKED: i64 = i64::MAX;

/// Failed attempts of one card or one client address in a segment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttemptRecord {
    /// The segment.
    pub segment: String,
    /// `card:<IDm>` or `address:<IP>`.
    pub subject: String,
    /// Failures since the last successful login or unlock.
    pub failures: i64,
    /// Locked until (Unix ms; [`LOCKED_UNTIL_UNLOCKED`] until unlocked; 0 not locked).
    pub locked_until_ms: i64,
    /// The last failure (Unix ms).
    pub last_failure_ms: i64,
}

impl AttemptRecord {
    /// Whether logins of this subject are refused at `now_ms`.
    pub fn is_locked_at(&self, now_ms: i64) -> bool {
        self.locked_until_ms > now_ms
    }
}

/// A failed login.
#[derive(Clone, Debug)]
pub struct LoginFailure {
    /// The segment.
    pub segment: String,
    /// The card's IDm (16 lowercase hex digits).
    pub idm: String,
    /// The card's PMm, if the reader gave it (recorded on lockout).
    pub pmm: Option<String>,
    /// The client's address.
    pub address: String,
    /// Why (wrong-pin, unregistered-card, wrong-password, revoked-card, …).
    pub reason: String,
    /// Unix ms.
    pub at_ms: i64,
}

/// The limits a failure is counted against.
#[derive(Clone, Copy, Debug)]
pub struct AttemptLimits {
    /// Failures of one card that lock it until an administrator unlocks it.
    pub card: i64,
    /// Failures from one address that lock it for `address_lock_ms`.
    pub address: i64,
    /// How long an address stays locked.
    pub address_lock_ms: i64,
}

/// What a failure led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailureOutcome {
    /// The card's failures, this one included.
    pub card_failures: i64,
    /// The address's failures, this one included.
    pub address_failures: i64,
    /// This failure locked the card.
    pub card_locked: bool,
    /// This failure locked the address.
    pub address_locked: bool,
}

/// A successful login.
#[derive(Clone, Debug)]
pub struct CardLogin {
    /// The segment.
    pub segment: String,
    /// The card's IDm.
    pub idm: String,
    /// The client's address.
    pub address: String,
    /// The level proven: 1 registered card, 2 card + PIN, 3 card + PIN + password.
    pub level: i64,
    /// The level-3 user, or the level-1 card's holder.
    pub user: Option<String>,
    /// Unix ms.
    pub at_ms: i64,
}

/// A card registered for level-1 login (an entry system's card list).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RegisteredCard {
    /// The segment.
    pub segment: String,
    /// The card's IDm.
    pub idm: String,
    /// Whose card it is (a name or staff number).
    pub holder: String,
    /// Unix ms.
    pub registered_at_ms: i64,
}

/// A level-3 user of a segment: a name, the card it logs in with, an argon2id password hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SegmentUser {
    /// The segment.
    pub segment: String,
    /// The user name.
    pub name: String,
    /// The IDm of the user's card.
    pub idm: String,
    /// The password's argon2id hash (PHC string; never serialized).
    #[serde(skip)]
    pub password_hash: String,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// Card logins of segments. Each method is atomic; every change is audited.
#[async_trait]
pub trait CardLoginStore: Send + Sync + 'static {
    /// The attempt records of `subjects` (`card:…`, `address:…`) in `segment`.
    async fn attempts(
        &self,
        segment: &str,
        subjects: &[String],
    ) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Counts a failed login against the card and the address, locking either at its limit,
    /// audited (`card.login.failed`, and `card.locked` / `card.address.locked` with the card
    /// data when a lock begins).
    async fn record_login_failure(
        &self,
        failure: &LoginFailure,
        limits: AttemptLimits,
    ) -> Result<FailureOutcome, StoreError>;

    /// Records a successful login (`card.login`, the access log) and clears the failures of
    /// its card and address, in one transaction.
    async fn record_card_login(&self, login: &CardLogin) -> Result<(), StoreError>;

    /// Lifts the lock and clears the failures of a subject, audited (`card.unlocked`); false if
    /// it had no failures.
    async fn unlock(
        &self,
        segment: &str,
        subject: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// The subjects with failures, locked or not, of one segment (all segments: `None`).
    async fn failed_attempts(
        &self,
        segment: Option<&str>,
    ) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Registers a card for level 1, audited (`segment.card.registered`); false if it was
    /// registered already. [`StoreError::NotFound`] for an unknown segment.
    async fn register_card(&self, card: &RegisteredCard, actor: &str) -> Result<bool, StoreError>;

    /// Removes a registered card, audited (`segment.card.unregistered`); false if unknown.
    async fn unregister_card(
        &self,
        segment: &str,
        idm: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// A registered card.
    async fn registered_card(
        &self,
        segment: &str,
        idm: &str,
    ) -> Result<Option<RegisteredCard>, StoreError>;

    /// The segment's registered cards, by IDm.
    async fn registered_cards(&self, segment: &str) -> Result<Vec<RegisteredCard>, StoreError>;

    /// Adds a level-3 user, audited (`segment.user.added`, without the hash);
    /// [`StoreError::Conflict`] if the name is taken, [`StoreError::NotFound`] for an unknown
    /// segment.
    async fn add_segment_user(&self, user: &SegmentUser, actor: &str) -> Result<(), StoreError>;

    /// Removes a level-3 user, audited (`segment.user.removed`); false if unknown.
    async fn remove_segment_user(
        &self,
        segment: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// A level-3 user.
    async fn segment_user(
        &self,
        segment: &str,
        name: &str,
    ) -> Result<Option<SegmentUser>, StoreError>;

    /// The segment's level-3 users, by name.
    async fn segment_users(&self, segment: &str) -> Result<Vec<SegmentUser>, StoreError>;
}

/// The attempt subject of a card.
pub fn card_subject(idm: &str) -> String {
    format!("card:{idm}")
}

/// The attempt subject of a client address.
pub fn address_subject(address: &str) -> String {
    format!("address:{address}")
}
