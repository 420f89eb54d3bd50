//! Watches the database connection so operators read in the log when it is lost and when it is
//! back: the pool itself reconnects on its own, silently.

use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::StoreError;

/// How often the database is asked whether it is there.
const INTERVAL: Duration = Duration::from_secs(1);

/// The running watch; stops when dropped.
#[derive(Debug)]
pub(super) struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching `pool`: one `SELECT 1` a second, a log line on each change of state.
pub(super) fn watch(pool: PgPool) -> Watch {
    Watch(tokio::spawn(async move {
        let mut lost = false;
        loop {
            tokio::time::sleep(INTERVAL).await;
            match sqlx::query("SELECT 1").execute(&pool).await {
                Ok(_) if lost => {
                    lost = false;
                    tracing::info!("PostgreSQL is reachable again: reconnected");
                }
                // A busy pool is not a lost database.
                Err(e) if !lost => {
                    if !StoreError::from(e).is_unavailable() {
                        continue;
                    }
                    lost = true;
                    tracing::warn!("PostgreSQL is unreachable: requests that need it get 503 until it is back; reconnecting");
                }
                _ => {}
            }
        }
    }))
}
