//! Records of accounts and linked devices (DESIGN §4.4): an account is bound to one or more
//! trust-anchor keys (level-3 certificates); a new device links by a single-use link request the
//! anchor confirms; a linked device's login is approved by the anchor, and the approval is
//! consumed by the certificate it produces (see [`crate::NewCertificate::approval`]).

use serde::{Deserialize, Serialize};

/// An owner's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Random id, `acct-` and 16 hex digits.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The most devices linked at once.
    pub max_devices: i64,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// A trust-anchor key of an account: the key of a level-3 certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The account.
    pub account_id: String,
    /// SHA-256 of the anchor key's SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
    /// The certificate the anchor was bound with.
    pub serial: String,
    /// Unix ms.
    pub added_at_ms: i64,
    /// Unix ms when it stopped being an anchor.
    pub removed_at_ms: Option<i64>,
}

/// A new device's request to be linked, shown as a link code; single use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    /// SHA-256 of the link token, hex (the token itself is never stored).
    pub token_sha256: String,
    /// The registration number the device gets.
    pub registration: String,
    /// The device's display name.
    pub name: String,
    /// The device's public key (SubjectPublicKeyInfo, DER).
    pub spki_der: Vec<u8>,
    /// SHA-256 of it, hex.
    pub spki_sha256: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms; unusable from then on.
    pub expires_at_ms: i64,
    /// Unix ms when an anchor used it.
    pub used_at_ms: Option<i64>,
    /// The address it came from.
    pub client: String,
}

/// A device linked to an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedDevice {
    /// Registration number, `ld-` and 12 hex digits.
    pub registration: String,
    /// The account.
    pub account_id: String,
    /// Display name.
    pub name: String,
    /// The device's public key (SubjectPublicKeyInfo, DER).
    #[serde(skip)]
    pub spki_der: Vec<u8>,
    /// SHA-256 of it, hex.
    pub spki_sha256: String,
    /// The anchor certificate that linked it.
    pub anchor_serial: String,
    /// The anchor's signature over the account's device list with this device in it.
    #[serde(skip)]
    pub list_signature: Vec<u8>,
    /// Unix ms.
    pub linked_at_ms: i64,
    /// Unix ms when it was unlinked.
    pub unlinked_at_ms: Option<i64>,
}

/// A linked device's login, waiting for (or given) its anchor's approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// Random id, `login-` and 16 hex digits.
    pub id: String,
    /// The linked device.
    pub registration: String,
    /// Its account.
    pub account_id: String,
    /// SHA-256 of the login request (what the anchor signs), hex.
    pub request_sha256: String,
    /// The device's nonce.
    pub nonce: Vec<u8>,
    /// The CSR for the device's key (DER).
    #[serde(skip)]
    pub csr: Vec<u8>,
    /// The device's session key, sealed to the authority's login key (HPKE).
    #[serde(skip)]
    pub session: Vec<u8>,
    /// SHA-256 of the device's poll secret, hex.
    #[serde(skip)]
    pub poll_sha256: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms; no approval is accepted from then on.
    pub expires_at_ms: i64,
    /// Unix ms when the anchor's approval was accepted.
    pub approved_at_ms: Option<i64>,
    /// The anchor certificate that approved it.
    pub anchor_serial: Option<String>,
    /// The anchor's signature.
    #[serde(skip)]
    pub signature: Option<Vec<u8>>,
    /// The certificate the approval produced.
    pub serial: Option<String>,
    /// The delegation under which a deputy approved it (none: the anchor did).
    pub delegation_id: Option<String>,
}

/// An anchor's time-boxed delegation of login approvals to a deputy device of its account, for
/// while the anchor is away. At most one is open per account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// Random id, `dlg-` and 16 hex digits.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The deputy's registration number.
    pub deputy: String,
    /// The anchor certificate that signed it.
    pub anchor_serial: String,
    /// Unix ms; approvals count from then.
    pub not_before_ms: i64,
    /// Unix ms; no approval counts from then.
    pub not_after_ms: i64,
    /// How many logins the deputy may approve.
    pub max_approvals: i64,
    /// How many it has approved.
    pub used: i64,
    /// When the anchor signed (Unix s).
    pub signed_at: i64,
    /// The anchor's signature over the terms.
    #[serde(skip)]
    pub signature: Vec<u8>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms when it ended.
    pub ended_at_ms: Option<i64>,
    /// Why: `anchor-returned`, `replaced`, `revoked` or `unlinked`.
    pub end_reason: Option<String>,
}

/// An anchor's approval of a login, consumed by the certificate it produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalUse {
    /// The login.
    pub login_id: String,
    /// Its device.
    pub registration: String,
    /// The approving anchor's certificate.
    pub anchor_serial: String,
    /// The anchor's (or, under a delegation, the deputy's) signature.
    pub signature: Vec<u8>,
    /// The delegation a deputy approved under; none when the anchor approved, which ends the
    /// account's open delegation in the same transaction (the anchor is back).
    pub delegation_id: Option<String>,
}

/// What [`LinkStore::link_device`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Linked.
    Linked,
    /// The link request is unknown, used or expired.
    RequestUnusable,
    /// The account has its maximum of linked devices.
    CapReached(i64),
    /// The key is linked to an account already.
    KeyInUse,
    /// No such account.
    UnknownAccount,
}

/// Accounts, anchors, link requests, linked devices and logins.
#[async_trait::async_trait]
pub trait LinkStore: Send + Sync + 'static {
    /// Creates an account with its first anchor (audited `account.created`); Conflict if the
    /// key anchors an account already.
    async fn create_account(
        &self,
        account: &Account,
        anchor: &Anchor,
        actor: &str,
    ) -> Result<(), crate::StoreError>;

    /// One account.
    async fn account(&self, id: &str) -> Result<Option<Account>, crate::StoreError>;

    /// Every account.
    async fn accounts(&self) -> Result<Vec<Account>, crate::StoreError>;

    /// The anchors of an account, current and removed, oldest first.
    async fn anchors(&self, account_id: &str) -> Result<Vec<Anchor>, crate::StoreError>;

    /// The account a key currently anchors, if any.
    async fn account_of_anchor(
        &self,
        spki_sha256: &str,
    ) -> Result<Option<Account>, crate::StoreError>;

    /// Adds an anchor (audited `account.anchor.added`); Conflict if the key anchors an account
    /// already, NotFound if the account does not exist.
    async fn add_anchor(&self, anchor: &Anchor, actor: &str) -> Result<(), crate::StoreError>;

    /// Removes a current anchor at `at_ms` (audited `account.anchor.removed`); false if it is
    /// not one.
    async fn remove_anchor(
        &self,
        account_id: &str,
        spki_sha256: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// Stores a link request (audited `link.requested`) unless `max_open` requests, or
    /// `max_per_client` from its address, are unused and unexpired at its creation time;
    /// returns whether it did.
    async fn create_link_request(
        &self,
        request: &LinkRequest,
        max_open: i64,
        max_per_client: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// One link request by the SHA-256 of its token.
    async fn link_request(
        &self,
        token_sha256: &str,
    ) -> Result<Option<LinkRequest>, crate::StoreError>;

    /// Links `device` by the link request `token_sha256` in one transaction (audited
    /// `link.device.linked`): the request must be unused and unexpired at `now_ms` (it is used
    /// up), the account exist and have room, and the key be linked nowhere else.
    async fn link_device(
        &self,
        token_sha256: &str,
        device: &LinkedDevice,
        now_ms: i64,
        actor: &str,
    ) -> Result<LinkOutcome, crate::StoreError>;

    /// An account's linked devices (unlinked ones too), oldest first.
    async fn linked_devices(
        &self,
        account_id: &str,
    ) -> Result<Vec<LinkedDevice>, crate::StoreError>;

    /// One linked device.
    async fn linked_device(
        &self,
        registration: &str,
    ) -> Result<Option<LinkedDevice>, crate::StoreError>;

    /// Unlinks a device of `account_id` at `at_ms` (audited `link.device.unlinked`), ending a
    /// delegation to it (`unlinked`); false if it is not a currently linked device of that
    /// account.
    async fn unlink_device(
        &self,
        account_id: &str,
        registration: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// Stores a login (audited `login.requested`) unless its device has `max_open` logins
    /// unapproved and unexpired; returns whether it did.
    async fn create_login(
        &self,
        login: &Login,
        max_open: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// One login.
    async fn login(&self, id: &str) -> Result<Option<Login>, crate::StoreError>;

    /// An account's logins waiting for approval at `now_ms` whose devices are still linked,
    /// oldest first.
    async fn pending_logins(
        &self,
        account_id: &str,
        now_ms: i64,
    ) -> Result<Vec<Login>, crate::StoreError>;

    /// Stores a delegation (audited `delegation.created`), ending the account's open one
    /// (`replaced`); false if the deputy is not a currently linked device of the account.
    async fn create_delegation(
        &self,
        delegation: &Delegation,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// One delegation.
    async fn delegation(&self, id: &str) -> Result<Option<Delegation>, crate::StoreError>;

    /// An account's delegations, newest first.
    async fn delegations(&self, account_id: &str) -> Result<Vec<Delegation>, crate::StoreError>;

    /// Ends the account's open delegation at `at_ms` for `reason` (audited `delegation.ended`);
    /// returns whether there was one.
    async fn end_delegation(
        &self,
        account_id: &str,
        reason: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// Deletes expired, unused link requests and expired, unapproved logins (audited
    /// `link.purged` when there were any); returns how many.
    async fn purge_links(&self, now_ms: i64, actor: &str) -> Result<u64, crate::StoreError>;
}
