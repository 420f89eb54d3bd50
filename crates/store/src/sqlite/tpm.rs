//! SQLite statements for TPM activations and attestation evidence.

use async_trait::async_trait;

use super::{audit, AuditHead, SqliteStore, Tx};
use crate::audit::events;
use crate::rows::{self, json_text};
use crate::{StoreError, TpmActivation, TpmAttestation, TpmStore};

#[async_trait]
impl TpmStore for SqliteStore {
    async fn create_tpm_activation(
        &self,
        activation: &TpmActivation,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        insert_activation(&mut tx, activation, actor).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn outstanding_tpm_activations(
        &self,
        ek_public_sha256: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tpm_activations WHERE ek_public_sha256 = ? AND used_at IS NULL AND expires_at > ?")
            .bind(ek_public_sha256)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    async fn purge_tpm_activations(&self, now_ms: i64, actor: &str) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let deleted =
            sqlx::query("DELETE FROM tpm_activations WHERE used_at IS NULL AND expires_at <= ?")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if deleted > 0 {
            audit(
                &mut tx,
                events::tpm_activations_purged(deleted, actor, now_ms),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn tpm_activation(&self, id: &str) -> Result<Option<TpmActivation>, StoreError> {
        let row = sqlx::query("SELECT * FROM tpm_activations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::tpm_activation).transpose()
    }

    async fn tpm_attestation(&self, serial: &str) -> Result<Option<TpmAttestation>, StoreError> {
        let row = sqlx::query("SELECT * FROM tpm_attestations WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::tpm_attestation).transpose()
    }
}

async fn insert_activation(tx: &mut Tx, a: &TpmActivation, actor: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tpm_activations (id, ek_cert_sha256, ek_issuer, ek_public_sha256, ak_name, \
         ak_public, secret_sha256, nonce, created_at, expires_at, used_at, serial) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
    )
    .bind(&a.id)
    .bind(&a.ek_cert_sha256)
    .bind(&a.ek_issuer)
    .bind(&a.ek_public_sha256)
    .bind(&a.ak_name)
    .bind(&a.ak_public)
    .bind(&a.secret_sha256)
    .bind(&a.nonce)
    .bind(a.created_at_ms)
    .bind(a.expires_at_ms)
    .execute(&mut **tx)
    .await?;
    let event = events::tpm_activation_created(a, actor);
    audit(tx, event).await?;
    Ok(())
}

/// Marks the activation used by `evidence.serial` if it is unused and unexpired at `at_ms`;
/// returns whether it was.
pub(super) async fn consume_activation(
    tx: &mut Tx,
    evidence: &TpmAttestation,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "UPDATE tpm_activations SET used_at = ?, serial = ? \
         WHERE id = ? AND used_at IS NULL AND expires_at > ?",
    )
    .bind(at_ms)
    .bind(&evidence.serial)
    .bind(&evidence.activation_id)
    .bind(at_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Stores the evidence of a certificate recorded in the same transaction, audited.
pub(super) async fn insert_attestation(
    tx: &mut Tx,
    head: &mut AuditHead,
    e: &TpmAttestation,
    actor: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let checks = json_text(&e.checks)?;
    sqlx::query(
        "INSERT INTO tpm_attestations (serial, activation_id, ek_cert_sha256, ek_issuer, \
         ek_public_sha256, ak_name, key_name, checks, verified_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&e.serial)
    .bind(&e.activation_id)
    .bind(&e.ek_cert_sha256)
    .bind(&e.ek_issuer)
    .bind(&e.ek_public_sha256)
    .bind(&e.ak_name)
    .bind(&e.key_name)
    .bind(checks)
    .bind(e.verified_at_ms)
    .execute(&mut **tx)
    .await?;
    let event = events::tpm_activation_used(e, actor, at_ms);
    head.append(tx, &event).await?;
    Ok(())
}
