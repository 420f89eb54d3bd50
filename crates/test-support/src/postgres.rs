//! A throw-away PostgreSQL server of a test's own (initdb in a temporary directory, a free
//! port), for tests that stop and restart the database: the shared test server must keep
//! running for every other test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL cluster in a temporary directory, stopped when dropped.
pub struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

/// Where Debian keeps the server binaries (`/usr/lib/postgresql/<major>/bin`).
fn server_bin() -> PathBuf {
    let mut majors: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries (Debian's postgresql package) are not installed")
        .map(|e| e.unwrap().path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    majors.sort();
    majors.pop().expect("no /usr/lib/postgresql/*/bin/initdb")
}

/// Runs a server binary as the `postgres` user when this process is root (PostgreSQL refuses
/// to run as root), else as this user.
fn as_postgres(bin: &Path, args: &[&str]) -> std::process::Output {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let mut cmd = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).output().unwrap()
}

impl Cluster {
    /// Initialises and starts a cluster with trust authentication on a free port.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("inkan-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        // The postgres user must own the directory (and reach it).
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let bin = server_bin();
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "--auth=trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            _dir: dir,
            data,
            bin,
            port,
        };
        cluster.ctl(&["start", "-w"]);
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: open sessions are ended).
    pub fn stop(&self) {
        self.ctl(&["stop", "-w", "-m", "fast"]);
    }

    /// Starts it again on the same port and data.
    pub fn start_again(&self) {
        self.ctl(&["start", "-w"]);
    }

    fn ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        let mut all = vec![
            "-D",
            self.data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
        ];
        all.extend_from_slice(args);
        let out = as_postgres(&self.bin.join("pg_ctl"), &all);
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", self.data.to_str().unwrap(), "stop", "-m", "immediate"],
        );
    }
}
