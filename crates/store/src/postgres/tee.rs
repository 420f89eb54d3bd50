//! PostgreSQL statements for TA profiles, TEE device models and devices, challenges and
//! attestation evidence.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit, AuditHead, PgStore, Tx};
use crate::audit::events;
use crate::rows::{self, json_text};
use crate::{
    StoreError, TaProfile, TeeAttestation, TeeChallenge, TeeDevice, TeeModel, TeeStore, TpmBinding,
};

#[async_trait]
impl TeeStore for PgStore {
    async fn create_ta_profile(&self, profile: &TaProfile, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query("SELECT 1 FROM tee_profiles WHERE name = $1")
            .bind(&profile.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(format!(
                "TA profile {} exists",
                profile.name
            )));
        }
        insert_profile(&mut tx, profile).await?;
        let event = events::tee_profile_created(profile, actor);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_ta_profile(
        &self,
        next: &TaProfile,
        grace_until_ms: i64,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let newest = sqlx::query(
            "SELECT version, revoked_at FROM tee_profiles WHERE name = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(&next.name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(newest) = newest else {
            return Err(StoreError::NotFound(format!("no TA profile {}", next.name)));
        };
        if newest.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Err(StoreError::NotFound(format!(
                "TA profile {} is revoked",
                next.name
            )));
        }
        let version: i64 = newest.try_get("version")?;
        if next.version != version + 1 {
            return Err(StoreError::Conflict(format!(
                "TA profile {} is at version {version}: version {} cannot follow it",
                next.name, next.version
            )));
        }
        // Older versions stay accepted until the grace period ends, never longer than an
        // earlier rotation allowed.
        sqlx::query(
            "UPDATE tee_profiles SET accepted_until = $1 WHERE name = $2 AND version < $3 \
             AND (accepted_until IS NULL OR accepted_until > $4)",
        )
        .bind(grace_until_ms)
        .bind(&next.name)
        .bind(next.version)
        .bind(grace_until_ms)
        .execute(&mut *tx)
        .await?;
        insert_profile(&mut tx, next).await?;
        let event = events::tee_profile_rotated(next, grace_until_ms, actor);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_ta_profile(
        &self,
        name: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE tee_profiles SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(at_ms)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            let event = events::tee_profile_revoked(name, changed, actor, at_ms);
            audit(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(changed > 0)
    }

    async fn ta_profile_versions(&self, name: &str) -> Result<Vec<TaProfile>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tee_profiles WHERE name = $1 ORDER BY version")
            .bind(name)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::ta_profile).collect()
    }

    async fn ta_profiles(&self) -> Result<Vec<TaProfile>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tee_profiles ORDER BY name, version")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::ta_profile).collect()
    }

    async fn create_tee_model(&self, model: &TeeModel, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query("SELECT 1 FROM tee_models WHERE name = $1")
            .bind(&model.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(format!(
                "TEE model {} exists",
                model.name
            )));
        }
        sqlx::query("INSERT INTO tee_models (name, master_sealed, created_at) VALUES ($1, $2, $3)")
            .bind(&model.name)
            .bind(&model.master_sealed)
            .bind(model.created_at_ms)
            .execute(&mut *tx)
            .await?;
        let event = events::tee_model_created(model, actor);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tee_model(&self, name: &str) -> Result<Option<TeeModel>, StoreError> {
        let row = sqlx::query("SELECT * FROM tee_models WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::tee_model).transpose()
    }

    async fn register_tee_device(&self, device: &TeeDevice, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query("SELECT 1 FROM tee_devices WHERE uid = $1")
            .bind(&device.uid)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(format!(
                "TEE device {} is registered",
                device.uid
            )));
        }
        let model = sqlx::query("SELECT 1 FROM tee_models WHERE name = $1")
            .bind(&device.model)
            .fetch_optional(&mut *tx)
            .await?;
        if model.is_none() {
            return Err(StoreError::NotFound(format!(
                "no TEE model {}",
                device.model
            )));
        }
        sqlx::query(
            "INSERT INTO tee_devices (uid, model, created_at, ek_public) VALUES ($1, $2, $3, $4)",
        )
        .bind(&device.uid)
        .bind(&device.model)
        .bind(device.created_at_ms)
        .bind(&device.ek_public)
        .execute(&mut *tx)
        .await?;
        let event = events::tee_device_registered(device, actor);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tee_device(&self, uid: &str) -> Result<Option<TeeDevice>, StoreError> {
        let row = sqlx::query("SELECT * FROM tee_devices WHERE uid = $1")
            .bind(uid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::tee_device).transpose()
    }

    async fn record_ta_delivery(
        &self,
        uid: &str,
        profile: &str,
        version: i64,
        binding: Option<&TpmBinding>,
        now_ms: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        if let Some(binding) = binding {
            let bound = sqlx::query(
                "UPDATE tee_challenges SET tpm_key = $1, tpm_secret = $2 WHERE nonce = $3 AND uid = $4 AND used_at IS NULL AND expires_at > $5",
            )
            .bind(&binding.key_public)
            .bind(&binding.secret_sealed)
            .bind(&binding.nonce)
            .bind(uid)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if bound != 1 {
                return Ok(false);
            }
        }
        let event = events::tee_ta_delivered(uid, profile, version, binding, actor, now_ms);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_tee_challenge(
        &self,
        challenge: &TeeChallenge,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let device = sqlx::query("SELECT 1 FROM tee_devices WHERE uid = $1")
            .bind(&challenge.uid)
            .fetch_optional(&mut *tx)
            .await?;
        if device.is_none() {
            return Err(StoreError::NotFound(format!(
                "no TEE device {}",
                challenge.uid
            )));
        }
        sqlx::query(
            "INSERT INTO tee_challenges (nonce, uid, created_at, expires_at, used_at, serial) \
             VALUES ($1, $2, $3, $4, NULL, NULL)",
        )
        .bind(&challenge.nonce)
        .bind(&challenge.uid)
        .bind(challenge.created_at_ms)
        .bind(challenge.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = events::tee_challenge_created(challenge, actor);
        audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn consume_tee_challenge(
        &self,
        nonce: &str,
        uid: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(
            "UPDATE tee_challenges SET used_at = $1 WHERE nonce = $2 AND uid = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(at_ms)
            .bind(nonce)
            .bind(uid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed != 1 {
            return Ok(false);
        }
        audit(
            &mut tx,
            events::tee_challenge_spent(nonce, uid, actor, at_ms),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn outstanding_tee_challenges(&self, uid: &str, now_ms: i64) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tee_challenges WHERE uid = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(uid)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    async fn purge_tee_challenges(&self, now_ms: i64, actor: &str) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let deleted =
            sqlx::query("DELETE FROM tee_challenges WHERE used_at IS NULL AND expires_at <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if deleted > 0 {
            audit(
                &mut tx,
                events::tee_challenges_purged(deleted, actor, now_ms),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn tee_challenge(&self, nonce: &str) -> Result<Option<TeeChallenge>, StoreError> {
        let row = sqlx::query("SELECT * FROM tee_challenges WHERE nonce = $1")
            .bind(nonce)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::tee_challenge).transpose()
    }

    async fn tee_attestation(&self, serial: &str) -> Result<Option<TeeAttestation>, StoreError> {
        let row = sqlx::query("SELECT * FROM tee_attestations WHERE serial = $1")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::tee_attestation).transpose()
    }
}

/// Inserts one version of a profile as the newest: still accepted, not revoked.
async fn insert_profile(tx: &mut Tx, p: &TaProfile) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tee_profiles (name, version, sk_csr_sealed, identity_fields, key_algorithm, \
         certificate_profile, created_at, accepted_until, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
    )
    .bind(&p.name)
    .bind(p.version)
    .bind(&p.sk_csr_sealed)
    .bind(json_text(&p.identity_fields)?)
    .bind(&p.key_algorithm)
    .bind(&p.certificate_profile)
    .bind(p.created_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the challenge used by certificate `serial` if it was handed to `evidence.uid` and is
/// unused and unexpired at `at_ms`; returns whether it was.
pub(super) async fn consume_challenge(
    tx: &mut Tx,
    evidence: &TeeAttestation,
    serial: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "UPDATE tee_challenges SET used_at = $1, serial = $2 \
         WHERE nonce = $3 AND uid = $4 AND used_at IS NULL AND expires_at > $5",
    )
    .bind(at_ms)
    .bind(serial)
    .bind(&evidence.challenge)
    .bind(&evidence.uid)
    .bind(at_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Stores the evidence of certificate `serial`, recorded in the same transaction, audited.
pub(super) async fn insert_attestation(
    tx: &mut Tx,
    head: &mut AuditHead,
    evidence: &TeeAttestation,
    serial: &str,
    actor: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let e = TeeAttestation {
        serial: serial.to_string(),
        ..evidence.clone()
    };
    sqlx::query(
        "INSERT INTO tee_attestations (serial, uid, model, profile, version, challenge, \
         key_storage, identity, checks, verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&e.serial)
    .bind(&e.uid)
    .bind(&e.model)
    .bind(&e.profile)
    .bind(e.version)
    .bind(&e.challenge)
    .bind(&e.key_storage)
    .bind(json_text(&e.identity)?)
    .bind(json_text(&e.checks)?)
    .bind(e.verified_at_ms)
    .execute(&mut **tx)
    .await?;
    let event = events::tee_challenge_used(&e, actor, at_ms);
    head.append(tx, &event).await?;
    Ok(())
}
