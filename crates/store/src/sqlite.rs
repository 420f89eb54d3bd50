use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use crate::audit::GENESIS_HASH;
use crate::{
    AuditEvent, CertificateQuery, CertificateRecord, CertificateStatus, CrlRecord,
    DeviceCertificate, DeviceRecord, IssuerRecord, NewAuditEvent, NewCertificate, ProductRecord,
    RecordOutcome, RegisterOutcome, RevocationRecord, RevokeOutcome, RevokeResult, RevokedEntry,
    Store, StoreError,
};
use crate::{TpmActivation, TpmAttestation};

/// The registry tables with an `active`/`disabled` status.
#[derive(Clone, Copy)]
enum StatusTable {
    Product,
    Device,
}

/// Rows per multi-row statement (14 binds each stays far below SQLite's 32766-variable limit).
const ROWS_PER_STATEMENT: usize = 500;

/// The embedded backend: one SQLite file in WAL mode with full fsync on commit.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and runs pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true)
            // A larger page cache and memory-mapped reads keep random index pages (serials and
            // key hashes are random) out of pread(2) under load.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        #[cfg(unix)]
        restrict_permissions(path);
        Ok(Self { pool })
    }

    /// Begins a write transaction that holds SQLite's write lock from the start, so the audit
    /// head read inside it cannot go stale.
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Sets a product's or device's `status` (audited as `<kind>.<status>`); `false` if it had
    /// that status already.
    async fn set_status(
        &self,
        table: StatusTable,
        id: &str,
        status: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let (sql, kind) = match table {
            StatusTable::Product => (
                "UPDATE products SET status = ? WHERE id = ? AND status != ?",
                "product",
            ),
            StatusTable::Device => (
                "UPDATE devices SET status = ? WHERE id = ? AND status != ?",
                "device",
            ),
        };
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query(sql)
            .bind(status)
            .bind(id)
            .bind(status)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed > 0 {
            append_event(
                &mut tx,
                NewAuditEvent {
                    at_ms,
                    kind: format!("{kind}.{status}"),
                    actor: actor.into(),
                    subject: id.into(),
                    data: serde_json::json!({}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed > 0)
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // The database holds evidence and secret hashes: owner only. Best effort on odd filesystems.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

async fn audit_head(tx: &mut Transaction<'static, Sqlite>) -> Result<(i64, String), StoreError> {
    let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(row) => (row.try_get("seq")?, row.try_get("hash")?),
        None => (0, GENESIS_HASH.to_string()),
    })
}

/// Appends one event at the head of the chain, inside the caller's write transaction.
async fn append_event(
    tx: &mut Transaction<'static, Sqlite>,
    event: NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    let mut head = audit_head(tx).await?;
    insert_event(tx, &mut head, &event).await
}

async fn insert_event(
    tx: &mut Transaction<'static, Sqlite>,
    head: &mut (i64, String),
    event: &NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    let sealed = AuditEvent::seal(event, head.0 + 1, &head.1);
    insert_events(tx, std::slice::from_ref(&sealed)).await?;
    *head = (sealed.seq, sealed.hash.clone());
    Ok(sealed)
}

/// Inserts already-sealed events (at most [`ROWS_PER_STATEMENT`]) in one statement.
async fn insert_events(
    tx: &mut Transaction<'static, Sqlite>,
    events: &[AuditEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO audit_events (seq, at_ms, kind, actor, subject, data, prev_hash, hash) ",
    );
    q.push_values(events, |mut row, e| {
        row.push_bind(e.seq)
            .push_bind(e.at_ms)
            .push_bind(&e.kind)
            .push_bind(&e.actor)
            .push_bind(&e.subject)
            .push_bind(&e.data)
            .push_bind(&e.prev_hash)
            .push_bind(&e.hash);
    });
    q.build().execute(&mut **tx).await?;
    Ok(())
}

fn certificate_from_row(row: &SqliteRow) -> Result<CertificateRecord, StoreError> {
    let sans: String = row.try_get("sans")?;
    let evidence: String = row.try_get("evidence")?;
    let status: String = row.try_get("status")?;
    Ok(CertificateRecord {
        serial: row.try_get("serial")?,
        issuer_id: row.try_get("issuer_id")?,
        subject: row.try_get("subject")?,
        sans: serde_json::from_str(&sans).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        spki_sha256: row.try_get("spki_sha256")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        profile: row.try_get("profile")?,
        method: row.try_get("method")?,
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status: match status.as_str() {
            "revoked" => CertificateStatus::Revoked,
            _ => CertificateStatus::Valid,
        },
        revoked_at: row.try_get("revoked_at")?,
        revocation_reason: row.try_get("revocation_reason")?,
        der: row.try_get("der")?,
        created_at_ms: row.try_get("created_at")?,
        audit_seq: row.try_get("audit_seq")?,
        bootstrap_serial: row.try_get("bootstrap_serial")?,
    })
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        seq: row.try_get("seq")?,
        at_ms: row.try_get("at_ms")?,
        kind: row.try_get("kind")?,
        actor: row.try_get("actor")?,
        subject: row.try_get("subject")?,
        data: row.try_get("data")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

fn product_from_row(row: &SqliteRow) -> Result<ProductRecord, StoreError> {
    let attributes: String = row.try_get("attributes")?;
    Ok(ProductRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        max_devices: row.try_get("max_devices")?,
        device_validity_secs: row.try_get("device_validity_secs")?,
        status: row.try_get("status")?,
        cert_serial: row.try_get("cert_serial")?,
        psk: row.try_get::<Option<String>, _>("psk_group_key")?.is_some(),
        created_at_ms: row.try_get("created_at")?,
    })
}

fn device_from_row(row: &SqliteRow) -> Result<DeviceRecord, StoreError> {
    let attributes: String = row.try_get("attributes")?;
    Ok(DeviceRecord {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        spki_sha256: row.try_get("spki_sha256")?,
        registration_id: row.try_get("registration_id")?,
        status: row.try_get("status")?,
        created_at_ms: row.try_get("created_at")?,
        last_seen_ms: row.try_get("last_seen")?,
    })
}

/// Registers one device inside `tx` (see [`Store::register_devices`]).
async fn register_one(
    tx: &mut Transaction<'static, Sqlite>,
    device: &DeviceRecord,
    actor: &str,
) -> Result<RegisterOutcome, StoreError> {
    let product = sqlx::query("SELECT status, max_devices FROM products WHERE id = ?")
        .bind(&device.product_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no product {}", device.product_id)))?;
    let status: String = product.try_get("status")?;
    if status != "active" {
        return Ok(RegisterOutcome::ProductDisabled);
    }
    let existing = sqlx::query("SELECT * FROM devices WHERE spki_sha256 = ?")
        .bind(&device.spki_sha256)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = existing {
        let found = device_from_row(&row)?;
        return Ok(if found.product_id != device.product_id {
            RegisterOutcome::KeyInUse
        } else if found.status != "active" {
            RegisterOutcome::DeviceDisabled
        } else if device.registration_id.is_some()
            && found.registration_id != device.registration_id
        {
            RegisterOutcome::KeyInUse
        } else {
            RegisterOutcome::Existing(found)
        });
    }
    if let Some(registration_id) = &device.registration_id {
        let taken =
            sqlx::query("SELECT 1 FROM devices WHERE product_id = ? AND registration_id = ?")
                .bind(&device.product_id)
                .bind(registration_id)
                .fetch_optional(&mut **tx)
                .await?;
        if taken.is_some() {
            return Ok(RegisterOutcome::RegistrationIdInUse);
        }
    }
    let max: Option<i64> = product.try_get("max_devices")?;
    if let Some(max) = max {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM devices WHERE product_id = ?")
            .bind(&device.product_id)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
        if count >= max {
            return Ok(RegisterOutcome::CapReached(max));
        }
    }
    sqlx::query(
        "INSERT INTO devices (id, product_id, attributes, spki_sha256, registration_id, status,
                                  created_at, last_seen)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&device.id)
    .bind(&device.product_id)
    .bind(device.attributes.to_string())
    .bind(&device.spki_sha256)
    .bind(&device.registration_id)
    .bind(&device.status)
    .bind(device.created_at_ms)
    .bind(device.last_seen_ms)
    .execute(&mut **tx)
    .await?;
    append_event(
        tx,
        NewAuditEvent {
            at_ms: device.created_at_ms,
            kind: "device.registered".into(),
            actor: actor.into(),
            subject: device.id.clone(),
            data: serde_json::json!({"product": device.product_id}),
        },
    )
    .await?;
    Ok(RegisterOutcome::Registered(device.clone()))
}

fn revocation_from_row(row: &SqliteRow) -> Result<RevocationRecord, StoreError> {
    Ok(RevocationRecord {
        seq: row.try_get("seq")?,
        serial: row.try_get("serial")?,
        issuer_id: row.try_get("issuer_id")?,
        revoked_at: row.try_get("revoked_at")?,
        reason: row.try_get("reason")?,
    })
}

async fn revocation_of(
    tx: &mut Transaction<'static, Sqlite>,
    serial: &str,
) -> Result<RevocationRecord, StoreError> {
    let row = sqlx::query("SELECT * FROM revocations WHERE serial = ?")
        .bind(serial)
        .fetch_one(&mut **tx)
        .await?;
    revocation_from_row(&row)
}

/// Marks one certificate revoked, appends it to the feed and audits it.
#[allow(clippy::too_many_arguments)]
async fn revoke_one(
    tx: &mut Transaction<'static, Sqlite>,
    head: &mut (i64, String),
    serial: &str,
    reason: &str,
    revoked_at: i64,
    actor: &str,
    at_ms: i64,
    cascade_from: Option<&str>,
) -> Result<RevocationRecord, StoreError> {
    sqlx::query(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?
         WHERE serial = ?",
    )
    .bind(revoked_at)
    .bind(reason)
    .bind(serial)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO revocations (serial, issuer_id, revoked_at, reason)
         SELECT serial, issuer_id, ?, ? FROM certificates WHERE serial = ?",
    )
    .bind(revoked_at)
    .bind(reason)
    .bind(serial)
    .execute(&mut **tx)
    .await?;
    let event = NewAuditEvent {
        at_ms,
        kind: "certificate.revoked".into(),
        actor: actor.into(),
        subject: serial.into(),
        data: serde_json::json!({"reason": reason, "cascade_from": cascade_from}),
    };
    insert_event(tx, head, &event).await?;
    revocation_of(tx, serial).await
}

/// Records issued certificates and one audit event each inside the caller's write transaction
/// (see [`Store::record_issued`]).
async fn insert_issued(
    tx: &mut Transaction<'static, Sqlite>,
    batch: &[NewCertificate],
    at_ms: i64,
) -> Result<Vec<RecordOutcome>, StoreError> {
    let mut head = audit_head(tx).await?;

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
        // A TPM activation is consumed by exactly one certificate, in this transaction.
        if let Some(evidence) = &cert.tpm {
            if !tpm::consume_activation(tx, evidence, at_ms).await? {
                taken.remove(&cert.serial);
                outcomes.push(RecordOutcome::ActivationUnavailable);
                continue;
            }
        }
        outcomes.push(RecordOutcome::Recorded);
        fresh.push(cert);
    }

    // Seal the audit events first: each certificate row names its event.
    let mut events = Vec::with_capacity(fresh.len());
    for cert in &fresh {
        let event = NewAuditEvent {
            at_ms,
            kind: "certificate.issued".into(),
            actor: cert.actor.clone(),
            subject: cert.serial.clone(),
            data: serde_json::json!({
                "subject": cert.subject,
                "profile": cert.profile,
                "method": cert.method,
                "not_after": cert.not_after,
                "spki_sha256": cert.spki_sha256,
            }),
        };
        let sealed = AuditEvent::seal(&event, head.0 + 1, &head.1);
        head = (sealed.seq, sealed.hash.clone());
        events.push(sealed);
    }

    // Multi-row inserts: a handful of statements per batch, whatever its size.
    for (certs, sealed) in fresh
        .chunks(ROWS_PER_STATEMENT)
        .zip(events.chunks(ROWS_PER_STATEMENT))
    {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO certificates (serial, issuer_id, subject, sans, spki_sha256, \
             not_before, not_after, profile, method, evidence, der, created_at, audit_seq, \
             bootstrap_serial) ",
        );
        q.push_values(certs.iter().zip(sealed), |mut row, (cert, event)| {
            row.push_bind(&cert.serial)
                .push_bind(&cert.issuer_id)
                .push_bind(&cert.subject)
                .push_bind(serde_json::to_string(&cert.sans).unwrap_or_else(|_| "[]".into()))
                .push_bind(&cert.spki_sha256)
                .push_bind(cert.not_before)
                .push_bind(cert.not_after)
                .push_bind(&cert.profile)
                .push_bind(&cert.method)
                .push_bind(cert.evidence.to_string())
                .push_bind(&cert.der)
                .push_bind(at_ms)
                .push_bind(event.seq)
                .push_bind(&cert.bootstrap_serial);
        });
        q.build().execute(&mut **tx).await?;
        insert_events(tx, sealed).await?;
    }
    for cert in &fresh {
        if let Some(evidence) = &cert.tpm {
            tpm::insert_attestation(tx, &mut head, evidence, &cert.actor, at_ms).await?;
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

#[async_trait]
impl Store for SqliteStore {
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
        row.as_ref().map(certificate_from_row).transpose()
    }

    async fn list_certificates(
        &self,
        query: &CertificateQuery,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let status = query.status.map(|s| match s {
            CertificateStatus::Valid => "valid",
            CertificateStatus::Revoked => "revoked",
        });
        let rows = sqlx::query(
            "SELECT * FROM certificates
             WHERE (?1 IS NULL OR profile = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY created_at DESC, rowid DESC LIMIT ?3",
        )
        .bind(&query.profile)
        .bind(status)
        .bind(query.limit.unwrap_or(100))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(certificate_from_row).collect()
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
            append_event(
                &mut tx,
                NewAuditEvent {
                    at_ms: issuer.created_at_ms,
                    kind: "issuer.registered".into(),
                    actor: actor.into(),
                    subject: issuer.id.clone(),
                    data: serde_json::json!({"role": issuer.role, "subject": issuer.subject}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM issuers ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(IssuerRecord {
                    id: row.try_get("id")?,
                    role: row.try_get("role")?,
                    subject: row.try_get("subject")?,
                    not_after: row.try_get("not_after")?,
                    der: row.try_get("der")?,
                    created_at_ms: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn set_est_secret(
        &self,
        label: &str,
        phc: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO est_secrets (label, phc, created_at) VALUES (?, ?, ?)
             ON CONFLICT(label) DO UPDATE SET phc = excluded.phc, created_at = excluded.created_at",
        )
        .bind(label)
        .bind(phc)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            NewAuditEvent {
                at_ms,
                kind: "est.secret.set".into(),
                actor: actor.into(),
                subject: label.into(),
                data: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn est_secret(&self, label: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT phc FROM est_secrets WHERE label = ?")
            .bind(label)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("phc")).transpose()?)
    }

    async fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut head = audit_head(&mut tx).await?;
        let sealed = insert_event(&mut tx, &mut head, event).await?;
        tx.commit().await?;
        Ok(sealed)
    }

    async fn audit_events(&self, after: i64, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn revoke(
        &self,
        serial: &str,
        reason: &str,
        revoked_at: i64,
        actor: &str,
        cascade: bool,
    ) -> Result<RevokeResult, StoreError> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT issuer_id, status FROM certificates WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(RevokeResult {
                outcome: RevokeOutcome::NotFound,
                cascaded: Vec::new(),
            });
        };
        let status: String = row.try_get("status")?;
        if status == "revoked" {
            let existing = revocation_of(&mut tx, serial).await?;
            return Ok(RevokeResult {
                outcome: RevokeOutcome::AlreadyRevoked(existing),
                cascaded: Vec::new(),
            });
        }
        let mut head = audit_head(&mut tx).await?;
        let at_ms = revoked_at.saturating_mul(1000);
        let primary = revoke_one(
            &mut tx, &mut head, serial, reason, revoked_at, actor, at_ms, None,
        )
        .await?;
        let mut cascaded = Vec::new();
        if cascade {
            let mut frontier = vec![serial.to_string()];
            while let Some(parent) = frontier.pop() {
                let children: Vec<String> = sqlx::query(
                    "SELECT serial FROM certificates WHERE bootstrap_serial = ? AND status = 'valid'",
                )
                .bind(&parent)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
                for child in children {
                    let record = revoke_one(
                        &mut tx,
                        &mut head,
                        &child,
                        reason,
                        revoked_at,
                        actor,
                        at_ms,
                        Some(&parent),
                    )
                    .await?;
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
        rows.iter().map(revocation_from_row).collect()
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
        row.map(|r| {
            Ok(CrlRecord {
                issuer_id: r.try_get("issuer_id")?,
                number: r.try_get("number")?,
                this_update: r.try_get("this_update")?,
                next_update: r.try_get("next_update")?,
                der: r.try_get("der")?,
            })
        })
        .transpose()
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
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(saved > 0)
    }

    async fn create_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO admin_tokens (token_sha256, name, created_at) VALUES (?, ?, ?)")
            .bind(token_sha256)
            .bind(name)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
        append_event(
            &mut tx,
            NewAuditEvent {
                at_ms,
                kind: "admin.token.created".into(),
                actor: actor.into(),
                subject: name.into(),
                data: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn admin_token(&self, token_sha256: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT name FROM admin_tokens WHERE token_sha256 = ?")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn create_product(
        &self,
        product: &ProductRecord,
        cert: &NewCertificate,
        psk_group_key: Option<&str>,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        // Names and ids share one namespace: `product(id_or_name)` must find exactly one.
        let taken = sqlx::query("SELECT 1 FROM products WHERE id IN (?1, ?2) OR name IN (?1, ?2)")
            .bind(&product.id)
            .bind(&product.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO products (id, name, attributes, max_devices, device_validity_secs, status, \
             created_at, cert_serial, psk_group_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&product.id)
        .bind(&product.name)
        .bind(serde_json::to_string(&product.attributes).unwrap_or_else(|_| "[]".into()))
        .bind(product.max_devices)
        .bind(product.device_validity_secs)
        .bind(&product.status)
        .bind(product.created_at_ms)
        .bind(&cert.serial)
        .bind(psk_group_key)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            NewAuditEvent {
                at_ms: product.created_at_ms,
                kind: "product.created".into(),
                actor: actor.into(),
                subject: product.id.clone(),
                data: serde_json::json!({"name": product.name, "max_devices": product.max_devices}),
            },
        )
        .await?;
        let recorded =
            insert_issued(&mut tx, std::slice::from_ref(cert), product.created_at_ms).await?;
        if recorded != [RecordOutcome::Recorded] {
            return Err(StoreError::Corrupt(format!(
                "the ProductCert serial {} is taken",
                cert.serial
            )));
        }
        if psk_group_key.is_some() {
            append_event(
                &mut tx,
                NewAuditEvent {
                    at_ms: product.created_at_ms,
                    kind: "product.psk-enabled".into(),
                    actor: actor.into(),
                    subject: product.id.clone(),
                    data: serde_json::json!({}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn product(&self, id_or_name: &str) -> Result<Option<ProductRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM products WHERE id = ?1 OR name = ?1")
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(product_from_row).transpose()
    }

    async fn product_by_cert(&self, serial: &str) -> Result<Option<ProductRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM products WHERE cert_serial = ?")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(product_from_row).transpose()
    }

    async fn products(&self) -> Result<Vec<ProductRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM products ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(product_from_row).collect()
    }

    async fn set_product_status(
        &self,
        product_id: &str,
        status: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.set_status(StatusTable::Product, product_id, status, actor, at_ms)
            .await
    }

    async fn register_device(
        &self,
        device: &DeviceRecord,
        actor: &str,
    ) -> Result<RegisterOutcome, StoreError> {
        let mut outcomes = self
            .register_devices(&[(device.clone(), actor.to_string())])
            .await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no registration outcome".into()))
    }

    async fn register_devices(
        &self,
        batch: &[(DeviceRecord, String)],
    ) -> Result<Vec<RegisterOutcome>, StoreError> {
        // One write transaction: each cap check and insert sees the ones before it, so a cap of
        // N admits exactly N devices under any concurrency, and a batch costs one commit.
        let mut tx = self.write_tx().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (device, actor) in batch {
            outcomes.push(register_one(&mut tx, device, actor).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn set_product_psk(
        &self,
        product_id: &str,
        group_key_hex: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let changed = sqlx::query("UPDATE products SET psk_group_key = ? WHERE id = ?")
            .bind(group_key_hex)
            .bind(product_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::Corrupt(format!("no product {product_id}")));
        }
        append_event(
            &mut tx,
            NewAuditEvent {
                at_ms,
                kind: if group_key_hex.is_some() {
                    "product.psk-enabled"
                } else {
                    "product.psk-disabled"
                }
                .into(),
                actor: actor.into(),
                subject: product_id.into(),
                data: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn product_psk_key(&self, product_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT psk_group_key FROM products WHERE id = ?")
            .bind(product_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("psk_group_key")?,
            None => None,
        })
    }

    async fn consume_psk_nonce(
        &self,
        product_id: &str,
        nonce: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM psk_nonces WHERE expires_at < ?")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO psk_nonces (nonce, product_id, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(product_id)
        .bind(expires_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn set_device_status(
        &self,
        device_id: &str,
        status: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.set_status(StatusTable::Device, device_id, status, actor, at_ms)
            .await
    }

    async fn record_device_certificate(&self, cert: &DeviceCertificate) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO device_certificates (serial, device_id, issuer, not_after, der, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING",
        )
        .bind(&cert.serial)
        .bind(&cert.device_id)
        .bind(&cert.issuer)
        .bind(cert.not_after)
        .bind(&cert.der)
        .bind(cert.created_at_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE devices SET last_seen = ? WHERE id = ?")
            .bind(cert.created_at_ms)
            .bind(&cert.device_id)
            .execute(&mut *tx)
            .await?;
        append_event(
            &mut tx,
            NewAuditEvent {
                at_ms: cert.created_at_ms,
                kind: "device.certificate".into(),
                actor: format!("device:{}", cert.device_id),
                subject: cert.device_id.clone(),
                data: serde_json::json!({"serial": cert.serial, "issuer": cert.issuer}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn device_certificates(
        &self,
        device_id: &str,
    ) -> Result<Vec<DeviceCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM device_certificates WHERE device_id = ? ORDER BY created_at DESC, serial",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeviceCertificate {
                    serial: row.try_get("serial")?,
                    device_id: row.try_get("device_id")?,
                    issuer: row.try_get("issuer")?,
                    not_after: row.try_get("not_after")?,
                    der: row.try_get("der")?,
                    created_at_ms: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM devices WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn devices(
        &self,
        product_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM devices WHERE (?1 IS NULL OR product_id = ?1)
             ORDER BY created_at DESC, id LIMIT ?2",
        )
        .bind(product_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    async fn create_tpm_activation(
        &self,
        activation: &TpmActivation,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        tpm::insert_activation(&mut tx, activation, actor).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tpm_activation(&self, id: &str) -> Result<Option<TpmActivation>, StoreError> {
        tpm::activation(&self.pool, id).await
    }

    async fn tpm_attestation(&self, serial: &str) -> Result<Option<TpmAttestation>, StoreError> {
        tpm::attestation(&self.pool, serial).await
    }

    async fn issued_audit_refs(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT rowid, serial, audit_seq FROM certificates WHERE rowid > ? ORDER BY rowid LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}

impl FromStr for CertificateStatus {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "valid" => Ok(Self::Valid),
            "revoked" => Ok(Self::Revoked),
            other => Err(StoreError::Config(format!(
                "unknown status {other:?}: use valid or revoked"
            ))),
        }
    }
}

mod tpm;

#[cfg(test)]
mod tests;
