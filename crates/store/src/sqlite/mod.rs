//! The embedded backend: one SQLite file in WAL mode with full fsync on commit.
//!
//! This file opens the database and holds what every aggregate's statements share (the write
//! transaction, the audit-chain append, row decoding); each aggregate's trait is implemented in
//! its own file. A PostgreSQL backend mirrors the layout.

mod audit;
mod card_logins;
mod certificates;
mod link;
mod registry;
mod secrets;
mod segments;
mod tee;
mod tpm;

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use crate::audit::GENESIS_HASH;
use crate::{AuditEvent, NewAuditEvent, StoreError};

/// A write transaction.
type Tx = Transaction<'static, Sqlite>;

/// Rows per multi-row statement (14 binds each stays far below SQLite's 32766-variable limit).
const ROWS_PER_STATEMENT: usize = 500;

/// The embedded backend: one SQLite file in WAL mode with full fsync on commit.
///
/// Reads go through a pool of connections; every write transaction goes through one writer
/// connection of its own. SQLite admits one writer at a time anyway, and a single writer keeps
/// its page cache valid from one transaction to the next (a connection whose cache another
/// connection's commit made stale re-reads the pages it needs from the WAL).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    writer: SqlitePool,
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
        // The writer keeps SQLite's default cache and no memory map: measured under group
        // commit, a 64 MiB cache made every commit sweep it (pcache1TruncateUnsafe, ~3% of the
        // server's CPU), and the pages a commit needs are in the OS page cache anyway.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // Waiting for the writer is waiting for SQLite's write lock: the same bound.
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-2000")
                    .pragma("mmap_size", "0"),
            )
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        #[cfg(unix)]
        restrict_permissions(path);
        Ok(Self { pool, writer })
    }

    /// Begins a write transaction that holds SQLite's write lock from the start: that is the
    /// audit-head lock, so the head read inside it cannot go stale and everything numbered in
    /// it (audit seq, revocation feed seq) is numbered in commit order.
    pub(crate) async fn write_tx(&self) -> Result<Tx, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // The database holds evidence and secret hashes: owner only. Best effort on odd filesystems.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// The head of the audit chain as seen by a write transaction, advanced by each append.
struct AuditHead {
    seq: i64,
    hash: String,
}

impl AuditHead {
    /// Reads the head inside `tx` (whose write lock keeps it current).
    async fn read(tx: &mut Tx) -> Result<Self, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
        Ok(match row {
            Some(row) => Self {
                seq: row.try_get("seq")?,
                hash: row.try_get("hash")?,
            },
            None => Self {
                seq: 0,
                hash: GENESIS_HASH.to_string(),
            },
        })
    }

    /// Seals `event` as the next one, without writing it (see [`insert_events`]).
    fn seal(&mut self, event: &NewAuditEvent) -> AuditEvent {
        let sealed = AuditEvent::seal(event, self.seq + 1, &self.hash);
        self.seq = sealed.seq;
        self.hash.clone_from(&sealed.hash);
        sealed
    }

    /// Seals and writes `event` as the next one.
    async fn append(
        &mut self,
        tx: &mut Tx,
        event: &NewAuditEvent,
    ) -> Result<AuditEvent, StoreError> {
        let sealed = self.seal(event);
        insert_events(tx, std::slice::from_ref(&sealed)).await?;
        Ok(sealed)
    }
}

/// Appends one event at the head of the chain, inside the caller's write transaction: the one
/// audit-append helper of every audited write.
async fn audit(tx: &mut Tx, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
    AuditHead::read(tx).await?.append(tx, &event).await
}

/// Inserts already-sealed events (at most [`ROWS_PER_STATEMENT`]) in one statement.
async fn insert_events(tx: &mut Tx, events: &[AuditEvent]) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests;
