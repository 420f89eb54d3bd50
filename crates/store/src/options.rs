//! How a store connects: the pool and timeouts of the PostgreSQL backend.

use std::time::Duration;

/// Connection settings (`[database]` in the authority's configuration). SQLite ignores them:
/// its one file has fixed, tuned settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// Connections in the pool, per process.
    pub max_connections: u32,
    /// How long an operation waits for a free connection before it fails as busy.
    pub acquire_timeout: Duration,
    /// The longest a statement, a lock wait or an idle transaction may take on the server
    /// (`statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`).
    pub statement_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(15),
        }
    }
}
