//! SQLite statements for accounts, anchors, link requests, linked devices and logins.

use async_trait::async_trait;

use super::{audit, AuditHead, SqliteStore, Tx};
use crate::audit::events;
use crate::rows;
use crate::{
    Account, Anchor, ApprovalUse, Delegation, LinkOutcome, LinkRequest, LinkStore, LinkedDevice,
    Login, StoreError,
};

#[async_trait]
impl LinkStore for SqliteStore {
    async fn create_account(
        &self,
        account: &Account,
        anchor: &Anchor,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query(
            "SELECT 1 FROM account_anchors WHERE spki_sha256 = ? AND removed_at IS NULL",
        )
        .bind(&anchor.spki_sha256)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(
                "the key anchors an account already".into(),
            ));
        }
        sqlx::query("INSERT INTO accounts (id, name, max_devices, created_at) VALUES (?, ?, ?, ?)")
            .bind(&account.id)
            .bind(&account.name)
            .bind(account.max_devices)
            .bind(account.created_at_ms)
            .execute(&mut *tx)
            .await?;
        insert_anchor(&mut tx, anchor).await?;
        audit(&mut tx, events::account_created(account, anchor, actor)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let found = sqlx::query("SELECT * FROM accounts ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::account).collect()
    }

    async fn anchors(&self, account_id: &str) -> Result<Vec<Anchor>, StoreError> {
        let found = sqlx::query(
            "SELECT * FROM account_anchors WHERE account_id = ? ORDER BY added_at, spki_sha256",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::anchor).collect()
    }

    async fn account_of_anchor(&self, spki_sha256: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
            "SELECT accounts.* FROM accounts JOIN account_anchors ON account_anchors.account_id = accounts.id \
             WHERE account_anchors.spki_sha256 = ? AND account_anchors.removed_at IS NULL",
        )
        .bind(spki_sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn add_anchor(&self, anchor: &Anchor, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let account = sqlx::query("SELECT 1 FROM accounts WHERE id = ?")
            .bind(&anchor.account_id)
            .fetch_optional(&mut *tx)
            .await?;
        if account.is_none() {
            return Err(StoreError::NotFound(format!(
                "no account {}",
                anchor.account_id
            )));
        }
        let taken = sqlx::query(
            "SELECT 1 FROM account_anchors WHERE spki_sha256 = ? AND removed_at IS NULL",
        )
        .bind(&anchor.spki_sha256)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(
                "the key anchors an account already".into(),
            ));
        }
        insert_anchor(&mut tx, anchor).await?;
        audit(&mut tx, events::anchor_added(anchor, actor)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_anchor(
        &self,
        account_id: &str,
        spki_sha256: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE account_anchors SET removed_at = ? WHERE account_id = ? AND spki_sha256 = ? AND removed_at IS NULL",
        )
        .bind(at_ms)
        .bind(account_id)
        .bind(spki_sha256)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Ok(false);
        }
        let event = events::anchor_removed(account_id, spki_sha256, actor, at_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_link_request(
        &self,
        request: &LinkRequest,
        max_open: i64,
        max_per_client: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM link_requests WHERE used_at IS NULL AND expires_at > ?",
        )
        .bind(request.created_at_ms)
        .fetch_one(&mut *tx)
        .await?;
        let from_client: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM link_requests WHERE client = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(&request.client)
        .bind(request.created_at_ms)
        .fetch_one(&mut *tx)
        .await?;
        if open >= max_open || from_client >= max_per_client {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO link_requests (token_sha256, registration, name, spki_der, spki_sha256, created_at, expires_at, used_at, client) \
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
        )
        .bind(&request.token_sha256)
        .bind(&request.registration)
        .bind(&request.name)
        .bind(&request.spki_der)
        .bind(&request.spki_sha256)
        .bind(request.created_at_ms)
        .bind(request.expires_at_ms)
        .bind(&request.client)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, events::link_requested(request, actor)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn link_request(&self, token_sha256: &str) -> Result<Option<LinkRequest>, StoreError> {
        let row = sqlx::query("SELECT * FROM link_requests WHERE token_sha256 = ?")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::link_request).transpose()
    }

    async fn link_device(
        &self,
        token_sha256: &str,
        device: &LinkedDevice,
        now_ms: i64,
        actor: &str,
    ) -> Result<LinkOutcome, StoreError> {
        let mut tx = self.write_tx().await?;
        let max: Option<i64> = sqlx::query_scalar("SELECT max_devices FROM accounts WHERE id = ?")
            .bind(&device.account_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(max) = max else {
            return Ok(LinkOutcome::UnknownAccount);
        };
        let used = sqlx::query(
            "UPDATE link_requests SET used_at = ? WHERE token_sha256 = ? AND registration = ? AND spki_sha256 = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(now_ms)
        .bind(token_sha256)
        .bind(&device.registration)
        .bind(&device.spki_sha256)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used != 1 {
            return Ok(LinkOutcome::RequestUnusable);
        }
        let linked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM linked_devices WHERE account_id = ? AND unlinked_at IS NULL",
        )
        .bind(&device.account_id)
        .fetch_one(&mut *tx)
        .await?;
        if linked >= max {
            return Ok(LinkOutcome::CapReached(max));
        }
        let key_taken = sqlx::query(
            "SELECT 1 FROM linked_devices WHERE spki_sha256 = ? AND unlinked_at IS NULL",
        )
        .bind(&device.spki_sha256)
        .fetch_optional(&mut *tx)
        .await?;
        if key_taken.is_some() {
            return Ok(LinkOutcome::KeyInUse);
        }
        sqlx::query(
            "INSERT INTO linked_devices (registration, account_id, name, spki_der, spki_sha256, anchor_serial, list_signature, linked_at, unlinked_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&device.registration)
        .bind(&device.account_id)
        .bind(&device.name)
        .bind(&device.spki_der)
        .bind(&device.spki_sha256)
        .bind(&device.anchor_serial)
        .bind(&device.list_signature)
        .bind(device.linked_at_ms)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, events::device_linked(device, actor)).await?;
        tx.commit().await?;
        Ok(LinkOutcome::Linked)
    }

    async fn linked_devices(&self, account_id: &str) -> Result<Vec<LinkedDevice>, StoreError> {
        let found = sqlx::query(
            "SELECT * FROM linked_devices WHERE account_id = ? ORDER BY linked_at, registration",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::linked_device).collect()
    }

    async fn linked_device(&self, registration: &str) -> Result<Option<LinkedDevice>, StoreError> {
        let row = sqlx::query("SELECT * FROM linked_devices WHERE registration = ?")
            .bind(registration)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::linked_device).transpose()
    }

    async fn unlink_device(
        &self,
        account_id: &str,
        registration: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE linked_devices SET unlinked_at = ? WHERE account_id = ? AND registration = ? AND unlinked_at IS NULL",
        )
        .bind(at_ms)
        .bind(account_id)
        .bind(registration)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Ok(false);
        }
        let event = events::device_unlinked(account_id, registration, actor, at_ms);
        audit(&mut tx, event).await?;
        let open = sqlx::query(
            "SELECT id FROM delegations WHERE account_id = ? AND deputy = ? AND ended_at IS NULL",
        )
        .bind(account_id)
        .bind(registration)
        .fetch_optional(&mut *tx)
        .await?;
        if open.is_some() {
            end_open_delegation(&mut tx, account_id, "unlinked", at_ms, actor).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn create_login(
        &self,
        login: &Login,
        max_open: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM logins WHERE registration = ? AND approved_at IS NULL AND expires_at > ?",
        )
        .bind(&login.registration)
        .bind(login.created_at_ms)
        .fetch_one(&mut *tx)
        .await?;
        if open >= max_open {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO logins (id, registration, account_id, request_sha256, nonce, csr, session, poll_sha256, created_at, expires_at, approved_at, anchor_serial, signature, serial) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL)",
        )
        .bind(&login.id)
        .bind(&login.registration)
        .bind(&login.account_id)
        .bind(&login.request_sha256)
        .bind(&login.nonce)
        .bind(&login.csr)
        .bind(&login.session)
        .bind(&login.poll_sha256)
        .bind(login.created_at_ms)
        .bind(login.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, events::login_requested(login, actor)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn login(&self, id: &str) -> Result<Option<Login>, StoreError> {
        let row = sqlx::query("SELECT * FROM logins WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::login).transpose()
    }

    async fn pending_logins(
        &self,
        account_id: &str,
        now_ms: i64,
    ) -> Result<Vec<Login>, StoreError> {
        let found = sqlx::query(
            "SELECT logins.* FROM logins JOIN linked_devices ON linked_devices.registration = logins.registration \
             WHERE logins.account_id = ? AND logins.approved_at IS NULL AND logins.expires_at > ? \
             AND linked_devices.unlinked_at IS NULL ORDER BY logins.created_at, logins.id",
        )
        .bind(account_id)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::login).collect()
    }

    async fn create_delegation(
        &self,
        delegation: &Delegation,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let deputy = sqlx::query(
            "SELECT 1 FROM linked_devices WHERE registration = ? AND account_id = ? AND unlinked_at IS NULL",
        )
        .bind(&delegation.deputy)
        .bind(&delegation.account_id)
        .fetch_optional(&mut *tx)
        .await?;
        if deputy.is_none() {
            return Ok(false);
        }
        end_open_delegation(
            &mut tx,
            &delegation.account_id,
            "replaced",
            delegation.created_at_ms,
            actor,
        )
        .await?;
        sqlx::query(
            "INSERT INTO delegations (id, account_id, deputy, anchor_serial, not_before, not_after, \
             max_approvals, used, signed_at, signature, created_at, ended_at, end_reason) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, NULL, NULL)",
        )
        .bind(&delegation.id)
        .bind(&delegation.account_id)
        .bind(&delegation.deputy)
        .bind(&delegation.anchor_serial)
        .bind(delegation.not_before_ms)
        .bind(delegation.not_after_ms)
        .bind(delegation.max_approvals)
        .bind(delegation.signed_at)
        .bind(&delegation.signature)
        .bind(delegation.created_at_ms)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, events::delegation_created(delegation, actor)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delegation(&self, id: &str) -> Result<Option<Delegation>, StoreError> {
        let row = sqlx::query("SELECT * FROM delegations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::delegation).transpose()
    }

    async fn delegations(&self, account_id: &str) -> Result<Vec<Delegation>, StoreError> {
        let found = sqlx::query(
            "SELECT * FROM delegations WHERE account_id = ? ORDER BY created_at DESC, id DESC",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::delegation).collect()
    }

    async fn end_delegation(
        &self,
        account_id: &str,
        reason: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let ended = end_open_delegation(&mut tx, account_id, reason, at_ms, actor).await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn purge_links(&self, now_ms: i64, actor: &str) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let requests =
            sqlx::query("DELETE FROM link_requests WHERE used_at IS NULL AND expires_at <= ?")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let logins =
            sqlx::query("DELETE FROM logins WHERE approved_at IS NULL AND expires_at <= ?")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let deleted = requests + logins;
        if deleted > 0 {
            audit(
                &mut tx,
                events::links_purged(requests, logins, actor, now_ms),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

async fn insert_anchor(tx: &mut Tx, anchor: &Anchor) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_anchors (account_id, spki_sha256, serial, added_at, removed_at) VALUES (?, ?, ?, ?, NULL)",
    )
    .bind(&anchor.account_id)
    .bind(&anchor.spki_sha256)
    .bind(&anchor.serial)
    .bind(anchor.added_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends the account's open delegation, if any, audited; returns whether there was one.
async fn end_open_delegation(
    tx: &mut Tx,
    account_id: &str,
    reason: &str,
    at_ms: i64,
    actor: &str,
) -> Result<bool, StoreError> {
    let open: Option<(String,)> = sqlx::query_as(
        "UPDATE delegations SET ended_at = ?, end_reason = ? \
         WHERE account_id = ? AND ended_at IS NULL RETURNING id",
    )
    .bind(at_ms)
    .bind(reason)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id,)) = open else {
        return Ok(false);
    };
    let event = events::delegation_ended(&id, account_id, reason, actor, at_ms);
    audit(tx, event).await?;
    Ok(true)
}

/// Marks the login approved by certificate `serial` if its device is still linked and it is
/// unapproved and unexpired at `at_ms`; a deputy's approval also counts against its delegation,
/// which must be open, within its window and limit, and its deputy still linked and not the
/// login's device. Returns whether it was.
pub(super) async fn consume_approval(
    tx: &mut Tx,
    approval: &ApprovalUse,
    serial: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    if let Some(delegation) = &approval.delegation_id {
        let counted = sqlx::query(
            "UPDATE delegations SET used = used + 1 \
             WHERE id = ? AND ended_at IS NULL AND used < max_approvals \
             AND not_before <= ? AND not_after > ? AND deputy <> ? \
             AND EXISTS (SELECT 1 FROM linked_devices d WHERE d.registration = delegations.deputy \
                         AND d.unlinked_at IS NULL)",
        )
        .bind(delegation)
        .bind(at_ms)
        .bind(at_ms)
        .bind(&approval.registration)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if counted != 1 {
            return Ok(false);
        }
    }
    let changed = sqlx::query(
        "UPDATE logins SET approved_at = ?, anchor_serial = ?, signature = ?, serial = ?, \
         delegation_id = ? \
         WHERE id = ? AND registration = ? AND approved_at IS NULL AND expires_at > ? \
         AND EXISTS (SELECT 1 FROM linked_devices WHERE registration = ? AND unlinked_at IS NULL)",
    )
    .bind(at_ms)
    .bind(&approval.anchor_serial)
    .bind(&approval.signature)
    .bind(serial)
    .bind(&approval.delegation_id)
    .bind(&approval.login_id)
    .bind(&approval.registration)
    .bind(at_ms)
    .bind(&approval.registration)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Audits `login.approved` for a certificate recorded with an approval.
pub(super) async fn approval_used(
    tx: &mut Tx,
    head: &mut AuditHead,
    approval: &ApprovalUse,
    serial: &str,
    actor: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let event = events::login_approved(approval, serial, actor, at_ms);
    head.append(tx, &event).await?;
    if approval.delegation_id.is_none() {
        // The anchor is back: the delegation it left for its absence ends.
        let ended: Option<(String, String)> = sqlx::query_as(
            "UPDATE delegations SET ended_at = ?, end_reason = 'anchor-returned' \
             WHERE ended_at IS NULL AND account_id = (SELECT account_id FROM logins WHERE id = ?) \
             RETURNING id, account_id",
        )
        .bind(at_ms)
        .bind(&approval.login_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((id, account_id)) = ended {
            let event = events::delegation_ended(&id, &account_id, "anchor-returned", actor, at_ms);
            head.append(tx, &event).await?;
        }
    }
    Ok(())
}
