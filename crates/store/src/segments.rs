//! The segments aggregate (docs/cards.md): card segments and their salt generations, the
//! salts sealed by the caller. No PIN is ever stored.

use async_trait::async_trait;

use crate::StoreError;

/// A card segment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SegmentRecord {
    /// Its name (1 to 64 letters, digits or -).
    pub name: String,
    /// PIN length, 6 to 10.
    pub pin_digits: i64,
    /// Whether the card's PMm is part of the PIN.
    pub use_pmm: bool,
    /// Failed logins of one card that lock it until an administrator unlocks it.
    pub max_card_failures: i64,
    /// Failed logins from one client address that lock the address for a while.
    pub max_address_failures: i64,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// One salt generation of a segment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SaltGenerationRecord {
    /// The segment.
    pub segment: String,
    /// 1, 2, … in order.
    pub number: i64,
    /// The salt, sealed by the authority (never serialized).
    #[serde(skip)]
    pub salt_sealed: Vec<u8>,
    /// From when its PINs are accepted (Unix s).
    pub valid_from: i64,
    /// Until when (Unix s, excluded).
    pub valid_until: i64,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// A card a segment refuses.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RevokedCard {
    /// The segment.
    pub segment: String,
    /// The card's IDm, 16 lowercase hex digits.
    pub idm: String,
    /// Why (lost, pin-leaked, …).
    pub reason: String,
    /// Unix ms.
    pub revoked_at_ms: i64,
}

/// Segments and salt generations. Each method is atomic.
#[async_trait]
pub trait SegmentStore: Send + Sync + 'static {
    /// Creates a segment with its first generation, audited (`segment.created`);
    /// [`StoreError::Conflict`] if the name is taken.
    async fn create_segment(
        &self,
        segment: &SegmentRecord,
        first: &SaltGenerationRecord,
        actor: &str,
    ) -> Result<(), StoreError>;

    /// A segment by name.
    async fn segment(&self, name: &str) -> Result<Option<SegmentRecord>, StoreError>;

    /// Every segment, by name.
    async fn segments(&self) -> Result<Vec<SegmentRecord>, StoreError>;

    /// A segment's generations, oldest first.
    async fn salt_generations(
        &self,
        segment: &str,
    ) -> Result<Vec<SaltGenerationRecord>, StoreError>;

    /// Rotates a segment, audited (`segment.rotated`): generation `current` (which must be the
    /// newest) is accepted until `current_until`, `next` is added, and the segment's revoked
    /// cards are cleared.
    /// [`StoreError::Conflict`] if `current` is not the newest (a rotation meanwhile).
    async fn rotate_segment(
        &self,
        current: i64,
        current_until: i64,
        next: &SaltGenerationRecord,
        actor: &str,
    ) -> Result<(), StoreError>;

    /// Records that a PIN was handed out (`pin.issued`: the segment, the card's IDm and the
    /// generation; never the PIN).
    async fn record_pin_issued(
        &self,
        segment: &str,
        idm: &str,
        generation: i64,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// Adds a card to the segment's revocation list, audited (`segment.card.revoked`); false
    /// if it is there already. [`StoreError::NotFound`] for an unknown segment.
    async fn revoke_card(&self, card: &RevokedCard, actor: &str) -> Result<bool, StoreError>;

    /// The segment's revoked cards, by IDm.
    async fn revoked_cards(&self, segment: &str) -> Result<Vec<RevokedCard>, StoreError>;
}
