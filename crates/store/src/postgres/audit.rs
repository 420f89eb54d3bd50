//! PostgreSQL statements of the audit log.

use async_trait::async_trait;

use super::{AuditHead, PgStore};
use crate::rows;
use crate::{AuditEvent, AuditStore, NewAuditEvent, StoreError};

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent, StoreError> {
        let mut tx = self.write_tx().await?;
        let sealed = AuditHead::read(&mut tx)
            .await?
            .append(&mut tx, event)
            .await?;
        tx.commit().await?;
        Ok(sealed)
    }

    async fn audit_events(&self, after: i64, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::audit_event).collect()
    }
}
