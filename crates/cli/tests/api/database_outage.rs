//! PostgreSQL stopped and started again under enrollment load, on a server of the test's own:
//! requests during the outage get 503 with a Retry-After, the authority reconnects by itself
//! and says so, and every certificate a client received is stored with its audit event.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use inkan_pki::{build_csr, CertificateInfo, GeneratedKey, KeyAlgorithm};
use inkan_test_support::postgres::Cluster;

use super::durability::check;
use super::support::{secret_credentials, Env, Server};

/// Clients enrolling in a loop until stopped; a 503 is counted and retried after a pause, any
/// other failure is recorded.
struct Load {
    received: Arc<Mutex<Vec<String>>>,
    unavailable: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(env: &Env, server: &Server, secret: &str, clients: usize) -> Self {
        let load = Self {
            received: Arc::default(),
            unavailable: Arc::default(),
            failures: Arc::default(),
            stop: Arc::default(),
            workers: Vec::new(),
        };
        let mut workers = Vec::new();
        for w in 0..clients {
            let mut est = server.est(env, secret_credentials(secret)).await;
            let (received, unavailable, failures, stop) = (
                load.received.clone(),
                load.unavailable.clone(),
                load.failures.clone(),
                load.stop.clone(),
            );
            workers.push(tokio::spawn(async move {
                let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let csr = build_csr(&key, &format!("outage-{w}-{i}"), &[]).unwrap();
                    i += 1;
                    match est.simpleenroll(&csr).await {
                        Ok(cert) => received
                            .lock()
                            .unwrap()
                            .push(CertificateInfo::parse(&cert).unwrap().serial),
                        Err(inkan_client::ClientError::Status { status: 503, .. }) => {
                            unavailable.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => {
                            failures.lock().unwrap().push(e.to_string());
                            return;
                        }
                    }
                }
            }));
        }
        Self { workers, ..load }
    }

    fn received(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Stops the clients; fails, with the server's account of its errors, if any client got an
    /// answer other than a certificate or a 503.
    async fn stop(self, server: &Server) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.unwrap();
        }
        let received = self.received.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        let log = server.log();
        let causes: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("cause"))
            .collect();
        assert!(
            failures.is_empty(),
            "clients failed otherwise than 503: {failures:?}\nserver errors:\n{}",
            causes.join("\n")
        );
        received
    }
}

async fn wait_until(what: &str, deadline: Instant, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_is_503_then_recovered() {
    if super::support::postgres_server().is_none() {
        eprintln!("PostgreSQL tests are off (INKAN_TEST_DATABASE_URL=off)");
        return;
    }
    let cluster = Cluster::start();
    let mut env = Env::new();
    env.database_url = Some(cluster.url());
    env.ok(&["ca", "init"]);
    let secret = env.secret("device");
    let token = env.ok(&["admin", "token", "create"]).trim().to_string();
    std::fs::write(
        env.data.join("inkan.toml"),
        "[database]\nacquire_timeout = \"1s\"\nstatement_timeout = \"2s\"\n",
    )
    .unwrap();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn,inkan_store=info");
    let server = Server::start(cmd);
    let deadline = Instant::now() + Duration::from_secs(60);

    let load = Load::start(&env, &server, &secret, 4).await;
    wait_until("50 certificates", deadline, || load.received() >= 50).await;
    cluster.stop();
    wait_until("a client is answered 503", deadline, || {
        load.unavailable.load(Ordering::Relaxed) > 0
    })
    .await;
    // Reads too: 503 with a Retry-After, as problem+json.
    let mut conn = server.raw(&env).await;
    let (status, headers, body) = conn
        .send(
            Method::GET,
            "/v1/products",
            &[("authorization", format!("Bearer {token}"))],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 503, "{}", String::from_utf8_lossy(&body));
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["content-type"], "application/problem+json");
    let during = load.received();
    // The authority notices on its own (a probe a second) and says so.
    wait_until("the log says the database is lost", deadline, || {
        server.log().contains("PostgreSQL is unreachable")
    })
    .await;

    cluster.start_again();
    let back = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("reconnected") {
        assert!(
            Instant::now() < back,
            "the log never said the database is back: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_until("50 more certificates", deadline, || {
        load.received() >= during + 50
    })
    .await;
    let unavailable = load.unavailable.load(Ordering::Relaxed);
    let received = load.stop(&server).await;
    check(&env, &received, 1);
    eprintln!(
        "{} certificates received, {unavailable} answers 503 during the outage, none lost",
        received.len()
    );
}
