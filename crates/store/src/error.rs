use thiserror::Error;

/// Errors from a store backend.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL or options are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database stayed locked by other writers past the wait (SQLite `SQLITE_BUSY` or
    /// `SQLITE_LOCKED`, a pool with no free connection): retry later.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// The database cannot be reached (connection refused or lost, the server shutting down or
    /// starting up): nothing was written by this operation, or its outcome is unknown if the
    /// connection broke during commit. Retry later.
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    /// A write collided with a row that exists already (a unique key is taken).
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// A row the operation needs does not exist (e.g. the product of a PSK change).
    #[error("not found: {0}")]
    NotFound(String),
    /// A group commit this operation was part of failed; says how.
    #[error("the batch this write was part of failed: {0}")]
    Batch(String),
    /// A schema migration failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut => return Self::Busy(e.to_string()),
            // A protocol error is a connection that broke or a server that answered nonsense
            // while restarting (e.g. "unexpected response from SSLRequest" mid-shutdown).
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => return Self::Unavailable(e.to_string()),
            _ => {}
        }
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                return Self::Conflict(db.message().to_string());
            }
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return match pg.code() {
                    // serialization_failure, deadlock_detected, lock_not_available,
                    // query_canceled (statement_timeout): contention, try again.
                    "40001" | "40P01" | "55P03" | "57014" => Self::Busy(pg.message().to_string()),
                    // connection exceptions, admin/crash shutdown, cannot connect now,
                    // idle-in-transaction timeout.
                    code if code.starts_with("08")
                        || matches!(code, "57P01" | "57P02" | "57P03" | "25P03") =>
                    {
                        Self::Unavailable(pg.message().to_string())
                    }
                    _ => Self::Database(e),
                };
            }
            // SQLite's extended result codes keep the primary code in the low byte.
            let primary = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            if matches!(primary, Some(5 | 6)) {
                return Self::Busy(db.message().to_string());
            }
        }
        Self::Database(e)
    }
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to refusing the operation).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The same error for each member of a failed group commit (the original is not `Clone`):
    /// busy, unreachable and conflict keep their kind, everything else becomes [`StoreError::Batch`].
    pub fn for_batch(&self) -> Self {
        match self {
            Self::Busy(m) => Self::Busy(m.clone()),
            Self::Conflict(m) => Self::Conflict(m.clone()),
            Self::Unavailable(m) => Self::Unavailable(m.clone()),
            other => Self::Batch(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_answering_nonsense_while_restarting_is_unavailable_not_an_error() {
        let e = StoreError::from(sqlx::Error::Protocol(
            "unexpected response from SSLRequest: 0x00".into(),
        ));
        assert!(e.is_unavailable(), "{e}");
        assert!(e.for_batch().is_unavailable());
    }

    #[test]
    fn a_timed_out_pool_is_busy() {
        assert!(matches!(
            StoreError::from(sqlx::Error::PoolTimedOut),
            StoreError::Busy(_)
        ));
    }
}
