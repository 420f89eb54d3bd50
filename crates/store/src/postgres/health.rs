//! Watches the database so operators read in the log when it is lost and when it is back: the
//! pool reconnects on its own, silently, and to a request a lost database looks like a pool
//! with no free connection.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::task::JoinHandle;

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

/// Starts watching `pool`: one `SELECT 1` a second; when that fails, a fresh connection with
/// `options` tells a lost database (refused, reset, shutting down) from a busy pool. One log
/// line on each change of state.
pub(super) fn watch(pool: PgPool, options: PgConnectOptions) -> Watch {
    Watch(tokio::spawn(async move {
        let mut lost = false;
        loop {
            tokio::time::sleep(INTERVAL).await;
            let reachable = match sqlx::query("SELECT 1").execute(&pool).await {
                Ok(_) => true,
                Err(_) => {
                    match tokio::time::timeout(INTERVAL, PgConnection::connect_with(&options)).await
                    {
                        Ok(Ok(conn)) => {
                            let _ = conn.close().await;
                            true
                        }
                        Ok(Err(e)) => {
                            if !lost {
                                tracing::warn!(error = %e, "PostgreSQL is unreachable: requests that need it get 503 until it is back; reconnecting");
                            }
                            false
                        }
                        Err(_) => lost,
                    }
                }
            };
            if reachable && lost {
                tracing::info!("PostgreSQL is reachable again: reconnected");
            }
            lost = !reachable;
        }
    }))
}
