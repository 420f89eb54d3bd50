//! Moving an authority from SQLite to PostgreSQL: every row of every table, copied as stored
//! (the audit chain byte for byte), in one PostgreSQL transaction, then checked.

use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, QueryBuilder, Row};

use crate::rows;
use crate::{ChainVerifier, PgStore, SqliteStore, StoreError};

/// A column's type in both schemas.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bytes,
}

use Kind::{Bytes, Int, Text};

/// Every table and column both backends hold, parents before children (foreign keys).
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "issuers",
        &[
            ("id", Text),
            ("role", Text),
            ("subject", Text),
            ("not_after", Int),
            ("der", Bytes),
            ("created_at", Int),
        ],
    ),
    (
        "certificates",
        &[
            ("serial", Text),
            ("issuer_id", Text),
            ("subject", Text),
            ("sans", Text),
            ("spki_sha256", Text),
            ("not_before", Int),
            ("not_after", Int),
            ("profile", Text),
            ("method", Text),
            ("evidence", Text),
            ("status", Text),
            ("revoked_at", Int),
            ("revocation_reason", Text),
            ("der", Bytes),
            ("created_at", Int),
            ("audit_seq", Int),
            ("bootstrap_serial", Text),
            ("level", Int),
        ],
    ),
    ("certificate_names", &[("name", Text), ("serial", Text)]),
    (
        "audit_events",
        &[
            ("seq", Int),
            ("at_ms", Int),
            ("kind", Text),
            ("actor", Text),
            ("subject", Text),
            ("data", Text),
            ("prev_hash", Text),
            ("hash", Text),
        ],
    ),
    (
        "revocations",
        &[
            ("seq", Int),
            ("serial", Text),
            ("issuer_id", Text),
            ("revoked_at", Int),
            ("reason", Text),
        ],
    ),
    (
        "crls",
        &[
            ("issuer_id", Text),
            ("number", Int),
            ("this_update", Int),
            ("next_update", Int),
            ("der", Bytes),
        ],
    ),
    (
        "est_secrets",
        &[("label", Text), ("phc", Text), ("created_at", Int)],
    ),
    (
        "admin_tokens",
        &[("token_sha256", Text), ("name", Text), ("created_at", Int)],
    ),
    (
        "products",
        &[
            ("id", Text),
            ("name", Text),
            ("attributes", Text),
            ("max_devices", Int),
            ("device_validity_secs", Int),
            ("status", Text),
            ("cert_serial", Text),
            ("created_at", Int),
            ("psk_group_key", Text),
            ("device_count", Int),
        ],
    ),
    (
        "devices",
        &[
            ("id", Text),
            ("product_id", Text),
            ("attributes", Text),
            ("spki_sha256", Text),
            ("status", Text),
            ("created_at", Int),
            ("last_seen", Int),
            ("registration_id", Text),
        ],
    ),
    (
        "psk_nonces",
        &[("nonce", Text), ("product_id", Text), ("expires_at", Int)],
    ),
    (
        "device_certificates",
        &[
            ("serial", Text),
            ("device_id", Text),
            ("issuer", Text),
            ("not_after", Int),
            ("der", Bytes),
            ("created_at", Int),
        ],
    ),
    (
        "tpm_activations",
        &[
            ("id", Text),
            ("ek_cert_sha256", Text),
            ("ek_issuer", Text),
            ("ek_public_sha256", Text),
            ("ak_name", Text),
            ("ak_public", Bytes),
            ("secret_sha256", Text),
            ("nonce", Bytes),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
            ("serial", Text),
        ],
    ),
    (
        "tpm_attestations",
        &[
            ("serial", Text),
            ("activation_id", Text),
            ("ek_cert_sha256", Text),
            ("ek_issuer", Text),
            ("ek_public_sha256", Text),
            ("ak_name", Text),
            ("key_name", Text),
            ("checks", Text),
            ("verified_at", Int),
        ],
    ),
    (
        "tee_profiles",
        &[
            ("name", Text),
            ("version", Int),
            ("sk_csr_sealed", Bytes),
            ("identity_fields", Text),
            ("key_algorithm", Text),
            ("certificate_profile", Text),
            ("created_at", Int),
            ("accepted_until", Int),
            ("revoked_at", Int),
        ],
    ),
    (
        "tee_models",
        &[
            ("name", Text),
            ("master_sealed", Bytes),
            ("created_at", Int),
        ],
    ),
    (
        "tee_devices",
        &[
            ("uid", Text),
            ("model", Text),
            ("created_at", Int),
            ("ek_public", Bytes),
        ],
    ),
    (
        "tee_challenges",
        &[
            ("nonce", Text),
            ("uid", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
            ("serial", Text),
            ("tpm_key", Bytes),
            ("tpm_secret", Bytes),
        ],
    ),
    (
        "tee_attestations",
        &[
            ("serial", Text),
            ("uid", Text),
            ("model", Text),
            ("profile", Text),
            ("version", Int),
            ("challenge", Text),
            ("key_storage", Text),
            ("identity", Text),
            ("checks", Text),
            ("verified_at", Int),
        ],
    ),
    (
        "accounts",
        &[
            ("id", Text),
            ("name", Text),
            ("max_devices", Int),
            ("created_at", Int),
        ],
    ),
    (
        "account_anchors",
        &[
            ("account_id", Text),
            ("spki_sha256", Text),
            ("serial", Text),
            ("added_at", Int),
            ("removed_at", Int),
        ],
    ),
    (
        "link_requests",
        &[
            ("token_sha256", Text),
            ("registration", Text),
            ("name", Text),
            ("spki_der", Bytes),
            ("spki_sha256", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
            ("client", Text),
        ],
    ),
    (
        "linked_devices",
        &[
            ("registration", Text),
            ("account_id", Text),
            ("name", Text),
            ("spki_der", Bytes),
            ("spki_sha256", Text),
            ("anchor_serial", Text),
            ("list_signature", Bytes),
            ("linked_at", Int),
            ("unlinked_at", Int),
        ],
    ),
    (
        "logins",
        &[
            ("id", Text),
            ("registration", Text),
            ("account_id", Text),
            ("request_sha256", Text),
            ("nonce", Bytes),
            ("csr", Bytes),
            ("poll_sha256", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("approved_at", Int),
            ("anchor_serial", Text),
            ("signature", Bytes),
            ("serial", Text),
            ("delegation_id", Text),
            ("session", Bytes),
        ],
    ),
    (
        "segments",
        &[
            ("name", Text),
            ("pin_digits", Int),
            ("use_pmm", Int),
            ("created_at", Int),
            ("max_card_failures", Int),
            ("max_address_failures", Int),
        ],
    ),
    (
        "segment_salts",
        &[
            ("segment", Text),
            ("number", Int),
            ("salt_sealed", Bytes),
            ("valid_from", Int),
            ("valid_until", Int),
            ("created_at", Int),
        ],
    ),
    (
        "segment_revoked_cards",
        &[
            ("segment", Text),
            ("idm", Text),
            ("reason", Text),
            ("revoked_at", Int),
        ],
    ),
    (
        "segment_attempts",
        &[
            ("segment", Text),
            ("subject", Text),
            ("failures", Int),
            ("locked_until", Int),
            ("last_failure_at", Int),
        ],
    ),
    (
        "segment_cards",
        &[
            ("segment", Text),
            ("idm", Text),
            ("holder", Text),
            ("registered_at", Int),
        ],
    ),
    (
        "segment_users",
        &[
            ("segment", Text),
            ("name", Text),
            ("idm", Text),
            ("password_hash", Text),
            ("created_at", Int),
        ],
    ),
    (
        "delegations",
        &[
            ("id", Text),
            ("account_id", Text),
            ("deputy", Text),
            ("anchor_serial", Text),
            ("not_before", Int),
            ("not_after", Int),
            ("max_approvals", Int),
            ("used", Int),
            ("signed_at", Int),
            ("signature", Bytes),
            ("created_at", Int),
            ("ended_at", Int),
            ("end_reason", Text),
        ],
    ),
];

/// Rows per read page and per multi-row insert (at most 17 binds each: far below the limit).
const PAGE: i64 = 1000;

/// One table copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedTable {
    /// The table.
    pub table: &'static str,
    /// Its rows, in the source and (checked) in the target.
    pub rows: i64,
}

/// What [`copy_to_postgres`] did and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    /// Every table, with its row count.
    pub tables: Vec<CopiedTable>,
    /// Audit events verified in the target, chained from the first.
    pub audit_events: i64,
    /// The hash of the last audit event (the same in source and target).
    pub audit_head: String,
}

/// Copies every record of `source` into `target`, which must be empty, in one transaction on
/// `target`; `progress(table, rows copied so far)` is called after each page. The source is
/// held under its write lock from start to end, so an authority still running on it waits (its
/// writes are answered "busy") rather than writing something the copy would miss. Afterwards
/// the row counts of both are compared and the target's audit chain is verified from the first
/// event to the same head as the source's.
pub async fn copy_to_postgres(
    source: &SqliteStore,
    target: &PgStore,
    mut progress: impl FnMut(&'static str, i64),
) -> Result<CopyReport, StoreError> {
    let mut read = source.write_tx().await?;
    let mut write = target.write_tx().await?;
    for (table, _) in TABLES {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {table})"
        )))
        .fetch_one(&mut *write)
        .await?;
        if row.try_get::<bool, _>(0)? {
            return Err(StoreError::Conflict(format!(
                "the target database already holds {table}: copy into an empty database or schema"
            )));
        }
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, columns) in TABLES {
        let names = columns
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        let mut copied = 0;
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT rowid AS inkan_rowid, {names} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
            )))
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *read)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("inkan_rowid")?;
            let mut q = QueryBuilder::<Postgres>::new(format!("INSERT INTO {table} ({names}) "));
            let mut failed = None;
            q.push_values(&rows, |mut values, row| {
                for (name, kind) in *columns {
                    if let Err(e) = bind(&mut values, row, name, *kind) {
                        failed.get_or_insert(e);
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            q.build().execute(&mut *write).await?;
            copied += rows.len() as i64;
            progress(table, copied);
        }
        tables.push(CopiedTable {
            table,
            rows: copied,
        });
    }
    let source_head = sqlx::query("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *read)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?;
    // Checked before the commit: a copy that does not check out leaves the target empty.
    let (audit_events, audit_head) = verify(&mut write, &tables, source_head).await?;
    write.commit().await?;
    read.rollback().await?;
    // Fresh statistics: without them the planner misjudges the freshly filled tables (a deep
    // page of devices read 5,000 rows instead of 100 until autovacuum came by).
    let names = TABLES
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {names}")))
        .execute(&target.pool)
        .await?;
    Ok(CopyReport {
        tables,
        audit_events,
        audit_head,
    })
}

/// Binds one source column to the insert, by its kind.
fn bind(
    values: &mut sqlx::query_builder::Separated<'_, Postgres, &'static str>,
    row: &SqliteRow,
    name: &str,
    kind: Kind,
) -> Result<(), StoreError> {
    match kind {
        Text => values.push_bind(row.try_get::<Option<String>, _>(name)?),
        Int => values.push_bind(row.try_get::<Option<i64>, _>(name)?),
        Bytes => values.push_bind(row.try_get::<Option<Vec<u8>>, _>(name)?),
    };
    Ok(())
}

/// Checks the copy inside its transaction: row counts, and the audit chain from the first
/// event up to the source's head.
async fn verify(
    write: &mut sqlx::Transaction<'static, Postgres>,
    tables: &[CopiedTable],
    source_head: Option<String>,
) -> Result<(i64, String), StoreError> {
    for copied in tables {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            copied.table
        )))
        .fetch_one(&mut **write)
        .await?;
        let count: i64 = row.try_get(0)?;
        if count != copied.rows {
            return Err(StoreError::Corrupt(format!(
                "{}: {} rows copied but {count} in the target",
                copied.table, copied.rows
            )));
        }
    }
    let mut verifier = ChainVerifier::default();
    let mut after: i64 = 0;
    loop {
        let page = sqlx::query("SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut **write)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.try_get("seq")?;
        for row in &page {
            let event = rows::audit_event(row)?;
            verifier.push(&event).map_err(|b| {
                StoreError::Corrupt(format!(
                    "the audit chain does not verify at event {}: {} (nothing was copied)",
                    b.seq, b.reason
                ))
            })?;
        }
    }
    let head = verifier.head().to_string();
    if let Some(source) = source_head {
        if source != head {
            return Err(StoreError::Corrupt(format!(
                "the copied audit chain ends at {head}, the source's at {source}"
            )));
        }
    }
    Ok((verifier.verified(), head))
}

#[cfg(test)]
mod tests;
