//! SQLite statements of issued certificates, issuers, revocations and CRLs.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::ROWS_PER_STATEMENT;
use super::{audit, insert_events, link, tee, tpm, AuditHead, SqliteStore, Tx};
use crate::audit::events;
use crate::rows::{self, json_text};
use crate::{
    CascadeRule, CertificateQuery, CertificateRecord, CertificateStatus, CertificateStore,
    CrlRecord, Enrolled, IssuedRef, IssuerRecord, NewCertificate, RecordOutcome, Revocation,
    RevocationRecord, RevokeOutcome, RevokeResult, RevokedEntry, StoreError,
};

#[async_trait]
impl CertificateStore for SqliteStore {
    async fn record_issued(
        &self,
        batch: &[NewCertificate],
        at_ms: i64,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        let mut tx = self.write_tx().await?;
        let outcomes = insert_issued(&mut tx, batch, at_ms).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM certificates WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::certificate).transpose()
    }

    async fn list_certificates(
        &self,
        query: &CertificateQuery,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        // Only the conditions asked for, so the planner sees plain index ranges.
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM certificates WHERE 1");
        if let Some(name) = &query.name {
            let (low, high) = crate::certificates::name_range(name);
            q.push(" AND serial IN (SELECT serial FROM certificate_names WHERE name >= ")
                .push_bind(low)
                .push(" AND name < ")
                .push_bind(high)
                .push(")");
        }
        if let Some(method) = &query.method {
            q.push(" AND method = ").push_bind(method);
        }
        if let Some(level) = query.level {
            q.push(" AND level = ").push_bind(level);
        }
        if let Some(profile) = &query.profile {
            q.push(" AND profile = ").push_bind(profile);
        }
        if let Some(status) = query.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(before) = query.before_audit_seq {
            q.push(" AND audit_seq < ").push_bind(before);
        }
        q.push(" ORDER BY audit_seq DESC LIMIT ")
            .push_bind(query.limit.unwrap_or(100));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(rows::certificate).collect()
    }

    async fn issued_refs(&self, after: i64, limit: i64) -> Result<Vec<IssuedRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT serial, audit_seq FROM certificates WHERE audit_seq > ?
             ORDER BY audit_seq LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IssuedRef {
                    serial: r.try_get(0)?,
                    audit_seq: r.try_get(1)?,
                })
            })
            .collect()
    }

    async fn register_issuer(&self, issuer: &IssuerRecord, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO issuers (id, role, subject, not_after, der, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
        )
        .bind(&issuer.id)
        .bind(&issuer.role)
        .bind(&issuer.subject)
        .bind(issuer.not_after)
        .bind(&issuer.der)
        .bind(issuer.created_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted > 0 {
            let event = events::issuer_registered(issuer, actor);
            audit(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM issuers ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::issuer).collect()
    }

    async fn revoke(
        &self,
        revocation: Revocation<'_>,
        cascade: Option<&dyn CascadeRule>,
    ) -> Result<RevokeResult, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT status FROM certificates WHERE serial = ?")
            .bind(revocation.serial)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(RevokeResult {
                outcome: RevokeOutcome::NotFound,
                cascaded: Vec::new(),
            });
        };
        let status = CertificateStatus::from_stored(row.try_get("status")?)?;
        if status == CertificateStatus::Revoked {
            let existing = revocation_of(&mut tx, revocation.serial).await?;
            return Ok(RevokeResult {
                outcome: RevokeOutcome::AlreadyRevoked(existing),
                cascaded: Vec::new(),
            });
        }
        let mut head = AuditHead::read(&mut tx).await?;
        let primary = revoke_one(&mut tx, &mut head, revocation.serial, &revocation, None).await?;
        let mut cascaded = Vec::new();
        if let Some(rule) = cascade {
            let mut frontier = vec![revocation.serial.to_string()];
            while let Some(parent) = frontier.pop() {
                let enrolled = enrolled_with(&mut tx, &parent).await?;
                for child in rule.follow(&parent, &enrolled) {
                    let record =
                        revoke_one(&mut tx, &mut head, &child, &revocation, Some(&parent)).await?;
                    cascaded.push(record);
                    frontier.push(child);
                }
            }
        }
        tx.commit().await?;
        Ok(RevokeResult {
            outcome: RevokeOutcome::Revoked(primary),
            cascaded,
        })
    }

    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RevocationRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::revocation).collect()
    }

    async fn certificate_stats(
        &self,
        since_ms: i64,
        now: i64,
        expiring_before: i64,
    ) -> Result<crate::CertificateStats, StoreError> {
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let total = count("SELECT COUNT(*) FROM certificates")
            .fetch_one(&self.pool)
            .await?;
        let revoked = count("SELECT COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let issued_since = count("SELECT COUNT(*) FROM certificates WHERE created_at >= ?")
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?;
        let expiring = count(
            "SELECT COUNT(*) FROM certificates WHERE status = 'valid' AND not_after > ? AND not_after < ?",
        )
        .bind(now)
        .bind(expiring_before)
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::CertificateStats {
            total,
            revoked,
            issued_since,
            expiring,
        })
    }

    async fn latest_revocation_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn revoked_entries(
        &self,
        issuer_id: &str,
        now: i64,
    ) -> Result<Vec<RevokedEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT serial, revoked_at, revocation_reason FROM certificates
             WHERE issuer_id = ? AND revoked_at IS NOT NULL AND not_after > ?
             ORDER BY revoked_at, serial",
        )
        .bind(issuer_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RevokedEntry {
                    serial: r.try_get(0)?,
                    revoked_at: r.try_get(1)?,
                    reason: r
                        .try_get::<Option<String>, _>(2)?
                        .unwrap_or_else(|| "unspecified".into()),
                })
            })
            .collect()
    }

    async fn crl(&self, issuer_id: &str) -> Result<Option<CrlRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM crls WHERE issuer_id = ?")
            .bind(issuer_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::crl).transpose()
    }

    async fn save_crl(&self, crl: &CrlRecord) -> Result<bool, StoreError> {
        let saved = sqlx::query(
            "INSERT INTO crls (issuer_id, number, this_update, next_update, der) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(issuer_id) DO UPDATE SET number = excluded.number,
                this_update = excluded.this_update, next_update = excluded.next_update,
                der = excluded.der
             WHERE excluded.number > crls.number",
        )
        .bind(&crl.issuer_id)
        .bind(crl.number)
        .bind(crl.this_update)
        .bind(crl.next_update)
        .bind(&crl.der)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(saved > 0)
    }
}

async fn revocation_of(tx: &mut Tx, serial: &str) -> Result<RevocationRecord, StoreError> {
    let row = sqlx::query("SELECT * FROM revocations WHERE serial = ?")
        .bind(serial)
        .fetch_one(&mut **tx)
        .await?;
    rows::revocation(&row)
}

/// The certificates enrolled with `parent`: the facts a [`CascadeRule`] decides on.
async fn enrolled_with(tx: &mut Tx, parent: &str) -> Result<Vec<Enrolled>, StoreError> {
    let rows = sqlx::query(
        "SELECT serial, status FROM certificates WHERE bootstrap_serial = ? ORDER BY serial",
    )
    .bind(parent)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Enrolled {
                serial: r.try_get(0)?,
                status: CertificateStatus::from_stored(r.try_get(1)?)?,
            })
        })
        .collect()
}

/// Marks one valid certificate revoked, appends it to the feed and audits it. The feed `seq`
/// is numbered here, under the transaction's audit-head lock (see
/// [`CertificateStore::revocations_since`]). A certificate that is not valid (already revoked,
/// or unknown) is an error: the caller checked.
async fn revoke_one(
    tx: &mut Tx,
    head: &mut AuditHead,
    serial: &str,
    revocation: &Revocation<'_>,
    cascade_from: Option<&str>,
) -> Result<RevocationRecord, StoreError> {
    let changed = sqlx::query(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?
         WHERE serial = ? AND status = 'valid'",
    )
    .bind(revocation.revoked_at)
    .bind(revocation.reason)
    .bind(serial)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(StoreError::Conflict(format!(
            "certificate {serial} is not valid: it cannot be revoked now"
        )));
    }
    sqlx::query(
        "INSERT INTO revocations (seq, serial, issuer_id, revoked_at, reason)
         SELECT (SELECT COALESCE(MAX(seq), 0) + 1 FROM revocations), serial, issuer_id, ?, ?
         FROM certificates WHERE serial = ?",
    )
    .bind(revocation.revoked_at)
    .bind(revocation.reason)
    .bind(serial)
    .execute(&mut **tx)
    .await?;
    let event = events::certificate_revoked(revocation, serial, cascade_from);
    head.append(tx, &event).await?;
    revocation_of(tx, serial).await
}

/// Records issued certificates and one audit event each inside the caller's write transaction
/// (see [`CertificateStore::record_issued`]).
pub(super) async fn insert_issued(
    tx: &mut Tx,
    batch: &[NewCertificate],
    at_ms: i64,
) -> Result<Vec<RecordOutcome>, StoreError> {
    let mut head = AuditHead::read(tx).await?;

    // Which serials are taken (by earlier batches or earlier in this one)?
    let mut taken = HashSet::new();
    for chunk in batch.chunks(ROWS_PER_STATEMENT) {
        let mut q =
            QueryBuilder::<Sqlite>::new("SELECT serial FROM certificates WHERE serial IN (");
        let mut list = q.separated(", ");
        for cert in chunk {
            list.push_bind(&cert.serial);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut **tx).await? {
            taken.insert(row.try_get::<String, _>(0)?);
        }
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut fresh = Vec::with_capacity(batch.len());
    for cert in batch {
        if !taken.insert(cert.serial.clone()) {
            outcomes.push(RecordOutcome::DuplicateSerial);
            continue;
        }
        // A TPM activation or TEE challenge is consumed by exactly one certificate, in this
        // transaction.
        if !consume_evidence(tx, cert, at_ms).await? {
            taken.remove(&cert.serial);
            outcomes.push(RecordOutcome::ActivationUnavailable);
            continue;
        }
        outcomes.push(RecordOutcome::Recorded);
        fresh.push(cert);
    }

    // Seal the audit events first: each certificate row names its event.
    let mut events = Vec::with_capacity(fresh.len());
    let mut sans = Vec::with_capacity(fresh.len());
    for cert in &fresh {
        let event = events::certificate_issued(cert, at_ms);
        events.push(head.seal(&event));
        sans.push(json_text(&cert.sans)?);
    }

    // Multi-row inserts: a handful of statements per batch, whatever its size.
    for ((certs, sealed), sans) in fresh
        .chunks(ROWS_PER_STATEMENT)
        .zip(events.chunks(ROWS_PER_STATEMENT))
        .zip(sans.chunks(ROWS_PER_STATEMENT))
    {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO certificates (serial, issuer_id, subject, sans, spki_sha256, \
             not_before, not_after, profile, method, evidence, der, created_at, audit_seq, \
             bootstrap_serial, level) ",
        );
        q.push_values(
            certs.iter().zip(sealed).zip(sans),
            |mut row, ((cert, event), sans)| {
                row.push_bind(&cert.serial)
                    .push_bind(&cert.issuer_id)
                    .push_bind(&cert.subject)
                    .push_bind(sans)
                    .push_bind(&cert.spki_sha256)
                    .push_bind(cert.not_before)
                    .push_bind(cert.not_after)
                    .push_bind(&cert.profile)
                    .push_bind(&cert.method)
                    .push_bind(cert.evidence.to_string())
                    .push_bind(&cert.der)
                    .push_bind(at_ms)
                    .push_bind(event.seq)
                    .push_bind(&cert.bootstrap_serial)
                    .push_bind(cert.level);
            },
        );
        q.build().execute(&mut **tx).await?;
        insert_events(tx, sealed).await?;
        insert_names(tx, certs).await?;
    }
    for cert in &fresh {
        if let Some(evidence) = &cert.tpm {
            tpm::insert_attestation(tx, &mut head, evidence, &cert.actor, at_ms).await?;
        }
        if let Some(evidence) = &cert.tee {
            tee::insert_attestation(tx, &mut head, evidence, &cert.serial, &cert.actor, at_ms)
                .await?;
        }
        if let Some(approval) = &cert.approval {
            link::approval_used(tx, &mut head, approval, &cert.serial, &cert.actor, at_ms).await?;
        }
        if let Some(device_id) = &cert.device_id {
            sqlx::query(
                "INSERT INTO device_certificates (serial, device_id, issuer, not_after, der, created_at)
                 VALUES (?, ?, 'local', ?, ?, ?)",
            )
            .bind(&cert.serial)
            .bind(device_id)
            .bind(cert.not_after)
            .bind(&cert.der)
            .bind(at_ms)
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE devices SET last_seen = ? WHERE id = ?")
                .bind(at_ms)
                .bind(device_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(outcomes)
}

/// Consumes the TPM activation, the TEE challenge and the login approval `cert`'s evidence
/// names, all or none (when it names more than one, a savepoint takes back the first if a later
/// one is unavailable); returns whether it did.
async fn consume_evidence(
    tx: &mut Tx,
    cert: &NewCertificate,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let kinds = usize::from(cert.tpm.is_some())
        + usize::from(cert.tee.is_some())
        + usize::from(cert.approval.is_some());
    let both = kinds > 1;
    if both {
        sqlx::query("SAVEPOINT evidence").execute(&mut **tx).await?;
    }
    let mut available = true;
    if let Some(evidence) = &cert.tpm {
        available = tpm::consume_activation(tx, evidence, at_ms).await?;
    }
    if let (true, Some(evidence)) = (available, &cert.tee) {
        available = tee::consume_challenge(tx, evidence, &cert.serial, at_ms).await?;
    }
    if let (true, Some(approval)) = (available, &cert.approval) {
        available = link::consume_approval(tx, approval, &cert.serial, at_ms).await?;
    }
    if both {
        if !available {
            sqlx::query("ROLLBACK TO SAVEPOINT evidence")
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("RELEASE SAVEPOINT evidence")
            .execute(&mut **tx)
            .await?;
    }
    Ok(available)
}

/// The search names of freshly recorded certificates (one statement per chunk).
async fn insert_names(tx: &mut Tx, certs: &[&NewCertificate]) -> Result<(), StoreError> {
    let names: Vec<(String, &str)> = certs
        .iter()
        .flat_map(|c| {
            crate::search_names(&c.subject, &c.sans)
                .into_iter()
                .map(move |n| (n, c.serial.as_str()))
        })
        .collect();
    for chunk in names.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO certificate_names (name, serial) ");
        q.push_values(chunk, |mut row, (name, serial)| {
            row.push_bind(name).push_bind(*serial);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}
