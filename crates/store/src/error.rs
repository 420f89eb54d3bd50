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
        if matches!(e, sqlx::Error::PoolTimedOut) {
            return Self::Busy(e.to_string());
        }
        if let Some(db) = e.as_database_error() {
            if db.is_unique_violation() {
                return Self::Conflict(db.message().to_string());
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
    /// The same error for each member of a failed group commit (the original is not `Clone`):
    /// busy and conflict keep their kind, everything else becomes [`StoreError::Batch`].
    pub fn for_batch(&self) -> Self {
        match self {
            Self::Busy(m) => Self::Busy(m.clone()),
            Self::Conflict(m) => Self::Conflict(m.clone()),
            other => Self::Batch(other.to_string()),
        }
    }
}
