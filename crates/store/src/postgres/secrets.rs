//! PostgreSQL statements of EST secrets and admin tokens.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit, PgStore};
use crate::audit::events;
use crate::{AdminTokenEntry, EstSecretEntry, SecretStore, StoreError};

#[async_trait]
impl SecretStore for PgStore {
    async fn set_est_secret(
        &self,
        label: &str,
        phc: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO est_secrets (label, phc, created_at) VALUES ($1, $2, $3)
             ON CONFLICT(label) DO UPDATE SET phc = excluded.phc, created_at = excluded.created_at",
        )
        .bind(label)
        .bind(phc)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        let event = events::est_secret_set(label, actor, at_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn est_secret(&self, label: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT phc FROM est_secrets WHERE label = $1")
            .bind(label)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("phc")).transpose()?)
    }

    async fn create_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO admin_tokens (token_sha256, name, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_sha256)
        .bind(name)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        let event = events::admin_token_created(name, actor, at_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn admin_token(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT name FROM admin_tokens WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn take_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query("DELETE FROM admin_tokens WHERE token_sha256 = $1 AND name = $2")
            .bind(token_sha256)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken != 1 {
            return Ok(false);
        }
        audit(&mut tx, events::admin_token_consumed(name, actor, at_ms)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn est_secrets(&self) -> Result<Vec<EstSecretEntry>, StoreError> {
        let rows = sqlx::query("SELECT label, created_at FROM est_secrets ORDER BY label")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EstSecretEntry {
                    label: r.try_get("label")?,
                    created_at_ms: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn revoke_est_secret(
        &self,
        label: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let deleted = sqlx::query("DELETE FROM est_secrets WHERE label = $1")
            .bind(label)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted != 1 {
            return Ok(false);
        }
        audit(&mut tx, events::est_secret_revoked(label, actor, at_ms)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn admin_tokens(&self) -> Result<Vec<AdminTokenEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT token_sha256, name, created_at FROM admin_tokens
             ORDER BY created_at DESC, token_sha256",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminTokenEntry {
                    id: r.try_get("token_sha256")?,
                    name: r.try_get("name")?,
                    created_at_ms: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn revoke_admin_token(
        &self,
        token_sha256: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("DELETE FROM admin_tokens WHERE token_sha256 = $1 RETURNING name")
            .bind(token_sha256)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let name: String = row.try_get("name")?;
        let event = events::admin_token_revoked(&name, token_sha256, actor, at_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Some(name))
    }
}
