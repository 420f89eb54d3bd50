//! The real `inkan` binary on an ephemeral port: a data directory ([`Env`]) and a running
//! `inkan serve` or `inkan gateway` ([`Server`]), waited for by its readiness line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, OnceLock};

use inkan_client::{client_tls_config, EstClient, EstCredentials, HttpConnection, HttpTarget};
use inkan_pki::{certs_from_pem, GeneratedKey};

/// The binary under test. `INKAN_BIN` names it; otherwise it is `inkan` where Cargo builds it
/// for the `inkan` package's integration tests: beside the test executable's `deps/`
/// directory, or, when the intermediate build has a directory of its own (`build-dir`), in the
/// target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`) under the same profile.
pub fn binary() -> &'static str {
    static BINARY: OnceLock<String> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Ok(path) = std::env::var("INKAN_BIN") {
            return path;
        }
        let name = format!("inkan{}", std::env::consts::EXE_SUFFIX);
        let exe = std::env::current_exe().unwrap();
        let mut dir = exe.parent().unwrap();
        if dir.ends_with("deps") {
            dir = dir.parent().unwrap();
        }
        let profile = dir.file_name().unwrap().to_owned();
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
                Some(manifest.ancestors().nth(2)?.join("target"))
            });
        let candidates: Vec<PathBuf> = std::iter::once(dir.join(&name))
            .chain(target_dir.map(|t| t.join(&profile).join(&name)))
            .collect();
        let path = candidates.iter().find(|p| p.is_file()).unwrap_or_else(|| {
            panic!(
                "{} is missing: build it (cargo test -p inkan builds it for its tests) or set INKAN_BIN",
                candidates[0].display()
            )
        });
        path.to_str().unwrap().to_string()
    })
}

/// A fresh data directory in a temporary folder, with its database in it (SQLite) or in a
/// schema of its own on the test PostgreSQL server ([`Env::on_postgres`]).
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    /// `INKAN_DATABASE_URL` for every command, when the database is PostgreSQL.
    pub database_url: Option<String>,
    /// The schema to drop when this is dropped (the first of several replicas owns it).
    owned_schema: Option<String>,
}

/// The PostgreSQL server tests use: `INKAN_TEST_DATABASE_URL`, by default
/// `postgres://$USER@127.0.0.1:5432/test` (scripts/test starts it); `None` when that variable
/// is `off`.
pub fn postgres_server() -> Option<String> {
    match std::env::var("INKAN_TEST_DATABASE_URL") {
        Ok(url) if url == "off" => None,
        Ok(url) => Some(url),
        Err(_) => {
            let user = std::env::var("USER").unwrap_or_else(|_| "postgres".into());
            Some(format!("postgres://{user}@127.0.0.1:5432/test"))
        }
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        Self {
            tmp,
            data,
            database_url: None,
            owned_schema: None,
        }
    }

    /// A data directory whose database is a fresh schema on the test PostgreSQL server
    /// (dropped with this); `None` when PostgreSQL tests are off (see [`postgres_server`]).
    pub fn on_postgres() -> Option<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static SCHEMAS: AtomicUsize = AtomicUsize::new(0);
        let server = postgres_server()?;
        let schema = format!(
            "inkan_it_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed)
        );
        let sep = if server.contains('?') { '&' } else { '?' };
        let mut env = Self::new();
        env.database_url = Some(format!("{server}{sep}schema={schema}"));
        env.owned_schema = Some(schema);
        Some(env)
    }

    /// Another data directory on the same database, with this one's CA files and
    /// configuration: a second replica of the same authority.
    pub fn replica(&self) -> Self {
        let mut other = Self::new();
        other.database_url.clone_from(&self.database_url);
        std::fs::create_dir_all(other.data.join("ca")).unwrap();
        for entry in std::fs::read_dir(self.data.join("ca")).unwrap() {
            let path = entry.unwrap().path();
            let to = other.data.join("ca").join(path.file_name().unwrap());
            std::fs::copy(&path, &to).unwrap();
        }
        let config = self.data.join("inkan.toml");
        if config.exists() {
            std::fs::copy(config, other.data.join("inkan.toml")).unwrap();
        }
        other
    }

    /// A data directory with a CA and an EST secret for `device`; returns the secret.
    pub fn with_ca() -> (Self, String) {
        let env = Self::new();
        env.ok(&["ca", "init"]);
        let secret = env.secret("device");
        (env, secret)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.arg("--data-dir").arg(&self.data).args(args);
        cmd.env_remove("INKAN_CA_PASSPHRASE");
        match &self.database_url {
            Some(url) => cmd.env("INKAN_DATABASE_URL", url),
            None => cmd.env_remove("INKAN_DATABASE_URL"),
        };
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "inkan {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn secret(&self, label: &str) -> String {
        let out = self.ok(&["est", "secret", "create", label]);
        out.lines().last().unwrap().to_string()
    }

    /// Lets the `server` profile issue for localhost and 127.0.0.1 (server profiles allow no
    /// names until the operator lists them) and returns a secret for the `server` label. Call
    /// before the authority starts.
    pub fn server_secret(&self) -> String {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("inkan.toml"))
            .unwrap();
        file.write_all(LOCAL_SERVER_NAMES.as_bytes()).unwrap();
        self.secret("server")
    }

    pub fn root_pem(&self) -> PathBuf {
        self.data.join("ca/root.pem")
    }

    pub fn root_der(&self) -> Vec<u8> {
        certs_from_pem(&std::fs::read(self.root_pem()).unwrap())
            .unwrap()
            .remove(0)
    }

    /// A gateway in front of `routes` (TOML `[[route]]` tables and any top-level keys before
    /// them), with a server certificate for localhost issued offline by this data directory's
    /// CA and client certificates checked against its chain.
    pub fn gateway(&self, routes: &str) -> Server {
        let ca = inkan_authority::DataDir::new(&self.data)
            .load_issuing_ca(None)
            .unwrap();
        let key = GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256).unwrap();
        let profile = inkan_pki::Profile::server();
        let names = ["localhost".to_string(), "127.0.0.1".to_string()];
        let csr = inkan_pki::CsrCheck::new(&profile)
            .check(&inkan_pki::build_csr(&key, "localhost", &names).unwrap())
            .unwrap();
        let params = inkan_pki::IssueParams::new(
            &profile,
            &csr,
            inkan_pki::Serial::random().unwrap(),
            time::OffsetDateTime::now_utc(),
        );
        let cert = ca.issue(&params).unwrap();
        let dir = self.tmp.path();
        let issuing = std::fs::read_to_string(self.data.join("ca/issuing.pem")).unwrap();
        std::fs::write(
            dir.join("gw.pem"),
            inkan_pki::der_to_pem("CERTIFICATE", &cert) + &issuing,
        )
        .unwrap();
        std::fs::write(dir.join("gw.key"), key.to_pem(None).unwrap()).unwrap();
        let config = format!(
            "listen = \"127.0.0.1:0\"\ncert = \"{dir}/gw.pem\"\nkey = \"{dir}/gw.key\"\nclient_ca = [\"{chain}\"]\n{routes}",
            dir = dir.display(),
            chain = self.data.join("ca/chain.pem").display(),
        );
        std::fs::write(dir.join("gateway.toml"), config).unwrap();
        let mut cmd = self.command(&["gateway", "--config"]);
        cmd.arg(dir.join("gateway.toml"));
        Server::start(cmd)
    }

    pub fn serve(&self) -> Server {
        Server::start(self.command(&["serve", "--listen", "127.0.0.1:0"]))
    }

    /// How many certificates the store holds, by `inkan cert list --json`.
    pub fn certificate_count(&self) -> usize {
        let out = self.ok(&["cert", "list", "--json", "--limit", "100000"]);
        serde_json::from_str::<Vec<serde_json::Value>>(&out)
            .unwrap()
            .len()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let (Some(schema), Some(server)) = (&self.owned_schema, postgres_server()) {
            // Best effort: a schema left behind is harmless, only untidy.
            let _ = Command::new("psql")
                .args(["-q", "-d", &server, "-c"])
                .arg(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .output();
        }
    }
}

/// The name policy that lets the `server` profile certify this machine's loopback names.
pub const LOCAL_SERVER_NAMES: &str =
    "\n[profiles.server.names.allow]\ndns = [\"localhost\"]\nip = [\"127.0.0.1\"]\n";

/// A running `inkan serve`; terminated with SIGTERM when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// The stdout lines printed up to and including the readiness line.
    pub banner: Vec<String>,
    /// Its log (stderr) so far, up to 1 MiB.
    pub log: Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts the command and waits for its `listening on https://ADDR` line.
    pub fn start(cmd: Command) -> Self {
        Self::start_until(cmd, "listening on https://")
    }

    /// Starts the command and waits for a stdout line containing `marker`, which must come at
    /// or after the `listening on https://ADDR` line.
    #[allow(clippy::zombie_processes)] // waited for in `terminate` or `Drop`
    pub fn start_until(mut cmd: Command, marker: &str) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Drain stderr (the log) so a chatty server never blocks on a full pipe; a failed start
        // reports it.
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        let log_thread = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                if log.len() < 1 << 20 {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut addr = None;
        let mut banner = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                let _ = log_thread.join();
                panic!(
                    "server exited ({status}) before it was ready: {}",
                    log.lock().unwrap()
                );
            }
            banner.push(line.trim().to_string());
            if let Some(a) = line.trim().strip_prefix("listening on https://") {
                addr = Some(a.to_string());
            }
            if let (true, Some(addr)) = (line.contains(marker), addr.clone()) {
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in reader.lines() {});
                return Self {
                    child,
                    addr,
                    banner,
                    log,
                };
            }
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The log (stderr) so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 20 s, polling) until the log contains `text`.
    pub fn wait_for_log(&self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !self.log().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {text:?} in the log: {}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM and wait.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }

    /// An EST client for `label` with the given credentials.
    pub async fn est(&self, env: &Env, credentials: EstCredentials) -> EstClient {
        let tls = client_tls_config(&[env.root_der()], None).unwrap();
        EstClient::connect(&self.url(), tls, Some("device".into()), credentials)
            .await
            .unwrap()
    }

    /// An EST client presenting a client certificate.
    pub async fn est_with_cert(
        &self,
        env: &Env,
        chain: Vec<Vec<u8>>,
        key: &GeneratedKey,
    ) -> EstClient {
        let tls =
            client_tls_config(&[env.root_der()], Some((chain, key.pkcs8_der().to_vec()))).unwrap();
        EstClient::connect(&self.url(), tls, None, EstCredentials::None)
            .await
            .unwrap()
    }

    /// A raw HTTPS connection (for malformed requests).
    pub async fn raw(&self, env: &Env) -> HttpConnection {
        let tls = client_tls_config(&[env.root_der()], None).unwrap();
        raw_connection(&self.url(), tls).await
    }
}

pub async fn raw_connection(url: &str, tls: Arc<rustls::ClientConfig>) -> HttpConnection {
    HttpConnection::connect(&HttpTarget::parse(url).unwrap(), tls)
        .await
        .unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn secret_credentials(secret: &str) -> EstCredentials {
    EstCredentials::Secret {
        user: "test".into(),
        secret: secret.into(),
    }
}

/// The repository root (for scripts and docs).
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
