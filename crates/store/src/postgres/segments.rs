//! PostgreSQL statements of card segments and their salt generations.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit, PgStore};
use crate::audit::events;
use crate::{RevokedCard, SaltGenerationRecord, SegmentRecord, SegmentStore, StoreError};

fn segment_of(r: &sqlx::postgres::PgRow) -> Result<SegmentRecord, StoreError> {
    Ok(SegmentRecord {
        name: r.try_get("name")?,
        pin_digits: r.try_get("pin_digits")?,
        use_pmm: r.try_get::<i64, _>("use_pmm")? != 0,
        max_card_failures: r.try_get("max_card_failures")?,
        max_address_failures: r.try_get("max_address_failures")?,
        created_at_ms: r.try_get("created_at")?,
    })
}

fn generation_of(r: &sqlx::postgres::PgRow) -> Result<SaltGenerationRecord, StoreError> {
    Ok(SaltGenerationRecord {
        segment: r.try_get("segment")?,
        number: r.try_get("number")?,
        salt_sealed: r.try_get("salt_sealed")?,
        valid_from: r.try_get("valid_from")?,
        valid_until: r.try_get("valid_until")?,
        created_at_ms: r.try_get("created_at")?,
    })
}

const INSERT_SALT: &str = "INSERT INTO segment_salts \
    (segment, number, salt_sealed, valid_from, valid_until, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6)";

#[async_trait]
impl SegmentStore for PgStore {
    async fn create_segment(
        &self,
        segment: &SegmentRecord,
        first: &SaltGenerationRecord,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query("SELECT 1 FROM segments WHERE name = $1")
            .bind(&segment.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(format!(
                "segment {} exists",
                segment.name
            )));
        }
        sqlx::query(
            "INSERT INTO segments (name, pin_digits, use_pmm, created_at, max_card_failures, \
             max_address_failures) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&segment.name)
        .bind(segment.pin_digits)
        .bind(i64::from(segment.use_pmm))
        .bind(segment.created_at_ms)
        .bind(segment.max_card_failures)
        .bind(segment.max_address_failures)
        .execute(&mut *tx)
        .await?;
        sqlx::query(INSERT_SALT)
            .bind(&first.segment)
            .bind(first.number)
            .bind(&first.salt_sealed)
            .bind(first.valid_from)
            .bind(first.valid_until)
            .bind(first.created_at_ms)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, events::segment_created(segment, actor)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn segment(&self, name: &str) -> Result<Option<SegmentRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM segments WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(segment_of).transpose()
    }

    async fn segments(&self) -> Result<Vec<SegmentRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM segments ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(segment_of).collect()
    }

    async fn salt_generations(
        &self,
        segment: &str,
    ) -> Result<Vec<SaltGenerationRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM segment_salts WHERE segment = $1 ORDER BY number")
            .bind(segment)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(generation_of).collect()
    }

    async fn rotate_segment(
        &self,
        current: i64,
        current_until: i64,
        next: &SaltGenerationRecord,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let newest: Option<i64> =
            sqlx::query("SELECT MAX(number) FROM segment_salts WHERE segment = $1")
                .bind(&next.segment)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        match newest {
            None => return Err(StoreError::NotFound(format!("segment {}", next.segment))),
            Some(n) if n != current || next.number != n + 1 => {
                return Err(StoreError::Conflict(format!(
                    "segment {} was rotated meanwhile (generation {n})",
                    next.segment
                )))
            }
            Some(_) => {}
        }
        sqlx::query("UPDATE segment_salts SET valid_until = $1 WHERE segment = $2 AND number = $3")
            .bind(current_until)
            .bind(&next.segment)
            .bind(current)
            .execute(&mut *tx)
            .await?;
        sqlx::query(INSERT_SALT)
            .bind(&next.segment)
            .bind(next.number)
            .bind(&next.salt_sealed)
            .bind(next.valid_from)
            .bind(next.valid_until)
            .bind(next.created_at_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM segment_revoked_cards WHERE segment = $1")
            .bind(&next.segment)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, events::segment_rotated(next, current_until, actor)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_pin_issued(
        &self,
        segment: &str,
        idm: &str,
        generation: i64,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        audit(
            &mut tx,
            events::pin_issued(segment, idm, generation, actor, at_ms),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_card(&self, card: &RevokedCard, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let known = sqlx::query("SELECT 1 FROM segments WHERE name = $1")
            .bind(&card.segment)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !known {
            return Err(StoreError::NotFound(format!("segment {}", card.segment)));
        }
        let added = sqlx::query(
            "INSERT INTO segment_revoked_cards (segment, idm, reason, revoked_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (segment, idm) DO NOTHING",
        )
        .bind(&card.segment)
        .bind(&card.idm)
        .bind(&card.reason)
        .bind(card.revoked_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added != 1 {
            return Ok(false);
        }
        audit(&mut tx, events::segment_card_revoked(card, actor)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoked_cards(&self, segment: &str) -> Result<Vec<RevokedCard>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM segment_revoked_cards WHERE segment = $1 ORDER BY idm")
                .bind(segment)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r: &sqlx::postgres::PgRow| {
                Ok(RevokedCard {
                    segment: r.try_get("segment")?,
                    idm: r.try_get("idm")?,
                    reason: r.try_get("reason")?,
                    revoked_at_ms: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }
}
