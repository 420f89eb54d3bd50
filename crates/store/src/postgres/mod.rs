//! The shared backend: PostgreSQL, for several authority replicas on one database.
//!
//! Same layout as the SQLite backend: this file connects and holds what every aggregate's
//! statements share (the write transaction, the audit-chain append); each aggregate's trait is
//! implemented in its own file. Every audited write starts by locking the one row of
//! `write_lock`, so writes from any number of replicas append to one audit chain in commit
//! order, as SQLite's single writer does on one machine.

mod audit;
mod card_logins;
mod certificates;
mod health;
mod link;
mod registry;
mod relay;
mod secrets;
mod segments;
mod tee;
mod tpm;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Postgres, Row, Transaction};

use crate::audit::GENESIS_HASH;
use crate::{AuditEvent, DatabaseOptions, NewAuditEvent, StoreError};

/// A write transaction.
type Tx = Transaction<'static, Postgres>;

/// The shared backend: a connection pool to one PostgreSQL database (or one schema of it).
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// Says in the log when the database is lost and when it is back; stops with the store.
    _health: Arc<health::Watch>,
    /// Carries the pool's connections to a TCP server with TCP_NODELAY; stops with the store.
    _relay: Option<Arc<relay::Relay>>,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`; with `schema=NAME`, in that schema, created if
    /// missing) and runs pending migrations.
    pub async fn open(url: &str, options: &DatabaseOptions) -> Result<Self, StoreError> {
        let (url, schema) = split_schema(url)?;
        let mut connect = PgConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("database URL: {e}")))?
            .application_name("inkan");
        if let Some(schema) = &schema {
            let mut admin = PgConnection::connect_with(&connect).await?;
            admin
                .execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
                )))
                .await?;
            admin.close().await?;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let timeout = format!("{}ms", options.statement_timeout.as_millis());
        // A session that stops in the middle of a transaction (a frozen replica) must not hold
        // the write lock for longer than a statement may run.
        connect = connect.options([
            ("statement_timeout", timeout.as_str()),
            ("lock_timeout", timeout.as_str()),
            ("idle_in_transaction_session_timeout", timeout.as_str()),
        ]);
        // Over TCP, through the TCP_NODELAY relay (see `relay.rs`).
        let relay = match connect.get_socket() {
            Some(_) => None,
            None => {
                let relay = relay::Relay::start(connect.get_host(), connect.get_port())
                    .map_err(|e| StoreError::Config(format!("starting the database relay: {e}")))?;
                connect = connect.socket(relay.dir());
                Some(Arc::new(relay))
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let health = Arc::new(health::watch(pool.clone(), connect));
        Ok(Self {
            pool,
            _health: health,
            _relay: relay,
        })
    }

    /// Begins a write transaction holding the write lock: the audit-head lock of every replica,
    /// so the head read inside it cannot go stale (each statement of a READ COMMITTED
    /// transaction sees everything committed before it) and everything numbered in it (audit
    /// seq, revocation feed seq) is numbered in commit order.
    pub(crate) async fn write_tx(&self) -> Result<Tx, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT id FROM write_lock WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Takes inkan's own `schema=NAME` parameter out of a PostgreSQL URL (the driver does not know
/// it); the name must be a plain lowercase identifier.
fn split_schema(url: &str) -> Result<(String, Option<String>), StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("schema=") {
            Some(name) => schema = Some(name.to_string()),
            None => rest.push(pair),
        }
    }
    if let Some(name) = &schema {
        let plain = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(StoreError::Config(format!(
                "schema {name:?}: use lowercase letters, digits and _ (at most 63), starting with a letter"
            )));
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
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

/// Inserts already-sealed events in one statement of column arrays (UNNEST), prepared once
/// whatever the number of events.
async fn insert_events(tx: &mut Tx, events: &[AuditEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&AuditEvent) -> &str| -> Vec<&str> { events.iter().map(f).collect() };
    sqlx::query(
        "INSERT INTO audit_events (seq, at_ms, kind, actor, subject, data, prev_hash, hash) \
         SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::text[])",
    )
    .bind(events.iter().map(|e| e.seq).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.at_ms).collect::<Vec<_>>())
    .bind(text(|e| &e.kind))
    .bind(text(|e| &e.actor))
    .bind(text(|e| &e.subject))
    .bind(text(|e| &e.data))
    .bind(text(|e| &e.prev_hash))
    .bind(text(|e| &e.hash))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
