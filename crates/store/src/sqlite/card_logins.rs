//! SQLite statements of card logins: attempt counters, registered cards, level-3 users.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit, SqliteStore, Tx};
use crate::audit::events;
use crate::{
    address_subject, card_subject, AttemptLimits, AttemptRecord, CardLogin, CardLoginStore,
    FailureOutcome, LoginFailure, RegisteredCard, SegmentUser, StoreError, LOCKED_UNTIL_UNLOCKED,
};

fn attempt_of(r: &sqlx::sqlite::SqliteRow) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        segment: r.try_get("segment")?,
        subject: r.try_get("subject")?,
        failures: r.try_get("failures")?,
        locked_until_ms: r.try_get("locked_until")?,
        last_failure_ms: r.try_get("last_failure_at")?,
    })
}

fn card_of(r: &sqlx::sqlite::SqliteRow) -> Result<RegisteredCard, StoreError> {
    Ok(RegisteredCard {
        segment: r.try_get("segment")?,
        idm: r.try_get("idm")?,
        holder: r.try_get("holder")?,
        registered_at_ms: r.try_get("registered_at")?,
    })
}

fn user_of(r: &sqlx::sqlite::SqliteRow) -> Result<SegmentUser, StoreError> {
    Ok(SegmentUser {
        segment: r.try_get("segment")?,
        name: r.try_get("name")?,
        idm: r.try_get("idm")?,
        password_hash: r.try_get("password_hash")?,
        created_at_ms: r.try_get("created_at")?,
    })
}

async fn segment_exists(tx: &mut Tx, segment: &str) -> Result<(), StoreError> {
    let known = sqlx::query("SELECT 1 FROM segments WHERE name = ?")
        .bind(segment)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if known {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("segment {segment}")))
    }
}

/// Counts one failure of `subject`; locks it until `lock_until` when it reaches `limit`.
/// Returns (failures, whether this failure began the lock).
async fn count_failure(
    tx: &mut Tx,
    segment: &str,
    subject: &str,
    at_ms: i64,
    limit: i64,
    lock_until: i64,
) -> Result<(i64, bool), StoreError> {
    let row = sqlx::query(
        "INSERT INTO segment_attempts (segment, subject, failures, locked_until, last_failure_at) \
         VALUES (?, ?, 1, 0, ?) \
         ON CONFLICT (segment, subject) DO UPDATE SET failures = segment_attempts.failures + 1, \
         last_failure_at = excluded.last_failure_at \
         RETURNING failures, locked_until",
    )
    .bind(segment)
    .bind(subject)
    .bind(at_ms)
    .fetch_one(&mut **tx)
    .await?;
    let failures: i64 = row.try_get("failures")?;
    let locked_until: i64 = row.try_get("locked_until")?;
    if failures >= limit && locked_until <= at_ms {
        sqlx::query(
            "UPDATE segment_attempts SET locked_until = ? WHERE segment = ? AND subject = ?",
        )
        .bind(lock_until)
        .bind(segment)
        .bind(subject)
        .execute(&mut **tx)
        .await?;
        return Ok((failures, true));
    }
    Ok((failures, false))
}

#[async_trait]
impl CardLoginStore for SqliteStore {
    async fn attempts(
        &self,
        segment: &str,
        subjects: &[String],
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut found = Vec::new();
        for subject in subjects {
            let row =
                sqlx::query("SELECT * FROM segment_attempts WHERE segment = ? AND subject = ?")
                    .bind(segment)
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(r) = row {
                found.push(attempt_of(&r)?);
            }
        }
        Ok(found)
    }

    async fn record_login_failure(
        &self,
        failure: &LoginFailure,
        limits: AttemptLimits,
    ) -> Result<FailureOutcome, StoreError> {
        let mut tx = self.write_tx().await?;
        segment_exists(&mut tx, &failure.segment).await?;
        let at = failure.at_ms;
        let (card_failures, card_locked) = count_failure(
            &mut tx,
            &failure.segment,
            &card_subject(&failure.idm),
            at,
            limits.card,
            LOCKED_UNTIL_UNLOCKED,
        )
        .await?;
        let address_until = at.saturating_add(limits.address_lock_ms);
        let (address_failures, address_locked) = count_failure(
            &mut tx,
            &failure.segment,
            &address_subject(&failure.address),
            at,
            limits.address,
            address_until,
        )
        .await?;
        let outcome = FailureOutcome {
            card_failures,
            address_failures,
            card_locked,
            address_locked,
        };
        audit(&mut tx, events::card_login_failed(failure, &outcome)).await?;
        if card_locked {
            let event =
                events::card_locked(failure, "card.locked", card_failures, LOCKED_UNTIL_UNLOCKED);
            audit(&mut tx, event).await?;
        }
        if address_locked {
            let event = events::card_locked(
                failure,
                "card.address.locked",
                address_failures,
                address_until,
            );
            audit(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn record_card_login(&self, login: &CardLogin) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "DELETE FROM segment_attempts WHERE segment = ? AND subject IN (?, ?) \
             AND locked_until <= ?",
        )
        .bind(&login.segment)
        .bind(card_subject(&login.idm))
        .bind(address_subject(&login.address))
        .bind(login.at_ms)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, events::card_login(login)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unlock(
        &self,
        segment: &str,
        subject: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query("DELETE FROM segment_attempts WHERE segment = ? AND subject = ?")
            .bind(segment)
            .bind(subject)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        audit(
            &mut tx,
            events::card_unlocked(segment, subject, actor, at_ms),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn failed_attempts(
        &self,
        segment: Option<&str>,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM segment_attempts WHERE (? IS NULL OR segment = ?) \
             ORDER BY segment, subject",
        )
        .bind(segment)
        .bind(segment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attempt_of).collect()
    }

    async fn register_card(&self, card: &RegisteredCard, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        segment_exists(&mut tx, &card.segment).await?;
        let added = sqlx::query(
            "INSERT INTO segment_cards (segment, idm, holder, registered_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (segment, idm) DO NOTHING",
        )
        .bind(&card.segment)
        .bind(&card.idm)
        .bind(&card.holder)
        .bind(card.registered_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added != 1 {
            return Ok(false);
        }
        audit(&mut tx, events::segment_card_registered(card, actor)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unregister_card(
        &self,
        segment: &str,
        idm: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query("DELETE FROM segment_cards WHERE segment = ? AND idm = ?")
            .bind(segment)
            .bind(idm)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        let event = events::segment_card_unregistered(segment, idm, actor, at_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn registered_card(
        &self,
        segment: &str,
        idm: &str,
    ) -> Result<Option<RegisteredCard>, StoreError> {
        let row = sqlx::query("SELECT * FROM segment_cards WHERE segment = ? AND idm = ?")
            .bind(segment)
            .bind(idm)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(card_of).transpose()
    }

    async fn registered_cards(&self, segment: &str) -> Result<Vec<RegisteredCard>, StoreError> {
        let rows = sqlx::query("SELECT * FROM segment_cards WHERE segment = ? ORDER BY idm")
            .bind(segment)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(card_of).collect()
    }

    async fn add_segment_user(&self, user: &SegmentUser, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        segment_exists(&mut tx, &user.segment).await?;
        let added = sqlx::query(
            "INSERT INTO segment_users (segment, name, idm, password_hash, created_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (segment, name) DO NOTHING",
        )
        .bind(&user.segment)
        .bind(&user.name)
        .bind(&user.idm)
        .bind(&user.password_hash)
        .bind(user.created_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added != 1 {
            return Err(StoreError::Conflict(format!(
                "user {} exists in segment {}",
                user.name, user.segment
            )));
        }
        audit(&mut tx, events::segment_user_added(user, actor)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_segment_user(
        &self,
        segment: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query("DELETE FROM segment_users WHERE segment = ? AND name = ?")
            .bind(segment)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        let event = events::segment_user_removed(segment, name, actor, at_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn segment_user(
        &self,
        segment: &str,
        name: &str,
    ) -> Result<Option<SegmentUser>, StoreError> {
        let row = sqlx::query("SELECT * FROM segment_users WHERE segment = ? AND name = ?")
            .bind(segment)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_of).transpose()
    }

    async fn segment_users(&self, segment: &str) -> Result<Vec<SegmentUser>, StoreError> {
        let rows = sqlx::query("SELECT * FROM segment_users WHERE segment = ? ORDER BY name")
            .bind(segment)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_of).collect()
    }
}
