//! A TCP_NODELAY relay between the connection pool and PostgreSQL.
//!
//! sqlx 0.9.0 opens its TCP connections without TCP_NODELAY (launchbadge/sqlx#4335; fixed
//! upstream after 0.9.0). A request longer than what the first segment carries then waits for
//! the server's delayed ACK before its tail is sent: about 8 ms per batch insert on loopback,
//! which held issuance on PostgreSQL to ~800 certificates/s where a Unix socket gave ~5,500.
//! Until a sqlx release carries the fix, the store connects to a Unix socket in a private
//! directory, and this relay carries each connection on to PostgreSQL over TCP with
//! TCP_NODELAY set. Bytes pass unchanged, TLS included (sqlx verifies the server certificate
//! against the real host name, not the socket).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpStream, UnixListener};
use tokio::task::JoinHandle;

/// A running relay; stops, and removes its directory, when dropped.
#[derive(Debug)]
pub(super) struct Relay {
    dir: PathBuf,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on `<dir>/.s.PGSQL.<port>` (the name a PostgreSQL client derives from a socket
    /// directory and a port) and relays every connection to `host:port` over TCP.
    pub(super) fn start(host: &str, port: u16) -> std::io::Result<Self> {
        static RELAYS: AtomicUsize = AtomicUsize::new(0);
        remove_stale(&std::env::temp_dir());
        let dir = std::env::temp_dir().join(format!(
            "inkan-pg-{}-{}",
            std::process::id(),
            RELAYS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        // Owner only: whoever reaches the socket reaches PostgreSQL from this process.
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)?;
        let listener = UnixListener::bind(dir.join(format!(".s.PGSQL.{port}")))?;
        let target = (host.trim_matches(['[', ']']).to_string(), port);
        let task = tokio::spawn(async move {
            while let Ok((mut local, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    // A refused or failed connection closes the local side: the pool sees
                    // the same error as a direct connection would give.
                    let Ok(mut remote) = TcpStream::connect((target.0.as_str(), target.1)).await
                    else {
                        return;
                    };
                    if remote.set_nodelay(true).is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
                });
            }
        });
        Ok(Self { dir, task })
    }

    /// The socket directory to connect to.
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// Removes the socket directories of relays whose process is gone (a process that exits
/// without dropping its store leaves its directory behind).
fn remove_stale(temp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("inkan-pg-")) else {
            continue;
        };
        let Some((pid, n)) = rest.split_once('-') else {
            continue;
        };
        let ours = pid.bytes().all(|b| b.is_ascii_digit()) && n.bytes().all(|b| b.is_ascii_digit());
        if ours && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
