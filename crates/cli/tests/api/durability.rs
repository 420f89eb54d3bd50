//! Killing the server with SIGKILL under load loses no certificate a client received: several
//! rounds of load, each ended by a SIGKILL at a random point, each followed by a restart on the
//! same data directory and a check of everything received so far.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inkan_pki::{build_csr, CertificateInfo, GeneratedKey, KeyAlgorithm};
use rand::Rng;

use super::support::{secret_credentials, Env, Server};

/// Kill-and-restart rounds per run.
const ROUNDS: usize = 5;
/// Concurrent enrolling clients.
const CLIENTS: usize = 6;
/// A round's kill comes after a random number of certificates in this range were received.
const KILL_AFTER: std::ops::Range<usize> = 50..400;
/// No round waits longer than this for its kill point (it then kills where it is).
const ROUND_LIMIT: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_certificate_a_client_received() {
    let started = Instant::now();
    let (env, secret) = Env::with_ca();
    // Every serial any client was handed, in order, over all rounds.
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut server = env.serve();
    for round in 1..=ROUNDS {
        let kill_after = rand::thread_rng().gen_range(KILL_AFTER);
        let (in_round, workers, stop) = load(&env, &server, &secret, &received).await;
        let deadline = Instant::now() + ROUND_LIMIT;
        while in_round.load(Ordering::Relaxed) < kill_after && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Requests are in flight: some are being signed, some committed, some answered.
        server.signal("KILL");
        let status = server.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "round {round}: the server was not killed but ended with {status}"
        );
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.await.unwrap();
        }
        let got = in_round.load(Ordering::Relaxed);
        assert!(got > 0, "round {round}: no certificate was received");
        check(&env, &received.lock().unwrap(), round);
        eprintln!(
            "round {round}: SIGKILL after {got} certificates (threshold {kill_after}); all {} received so far are stored, audit verified ({:?} in)",
            received.lock().unwrap().len(),
            started.elapsed()
        );
        // Restart on the same data directory; the next round's load goes to it.
        server = env.serve();
    }
    // The restarted authority still issues, and the data survived a clean shutdown too.
    let (in_round, workers, stop) = load(&env, &server, &secret, &received).await;
    while in_round.load(Ordering::Relaxed) < 10 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    server.terminate();
    check(&env, &received.lock().unwrap(), ROUNDS + 1);
    eprintln!(
        "{ROUNDS} SIGKILL rounds and a clean stop: {} certificates received, none lost, in {:?}",
        received.lock().unwrap().len(),
        started.elapsed()
    );
}

pub(super) type Workers = Vec<tokio::task::JoinHandle<()>>;

/// Starts `CLIENTS` clients enrolling in a loop against `server`; each serial received goes
/// into `received`. Returns this round's count, the clients and their stop flag. A client
/// stops at the flag or at its first failure (the server died under it).
pub(super) async fn load(
    env: &Env,
    server: &Server,
    secret: &str,
    received: &Arc<Mutex<Vec<String>>>,
) -> (Arc<AtomicUsize>, Workers, Arc<AtomicBool>) {
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..CLIENTS {
        let mut est = server.est(env, secret_credentials(secret)).await;
        let (received, count, stop) = (received.clone(), count.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let csr = build_csr(&key, &format!("load-{w}-{i}"), &[]).unwrap();
                let Ok(cert) = est.simpleenroll(&csr).await else {
                    break;
                };
                let serial = CertificateInfo::parse(&cert).unwrap().serial;
                received.lock().unwrap().push(serial);
                count.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    (count, workers, stop)
}

/// Every serial received is stored, none twice, and the audit chain verifies.
pub(super) fn check(env: &Env, received: &[String], round: usize) {
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(
        unique.len(),
        received.len(),
        "after round {round}: a serial was handed out twice"
    );
    let listed = env.ok(&["cert", "list", "--json", "--limit", "1000000"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    let stored: Vec<&str> = listed
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    let stored_set: HashSet<&str> = stored.iter().copied().collect();
    assert_eq!(
        stored_set.len(),
        stored.len(),
        "after round {round}: a serial is stored twice"
    );
    let lost: Vec<&&String> = unique
        .iter()
        .filter(|s| !stored_set.contains(s.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "after round {round}: {} of {} received certificates were lost: {lost:?}",
        lost.len(),
        received.len()
    );
    let verified: serde_json::Value =
        serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true, "after round {round}: {verified}");
    assert!(
        verified["certificates_checked"].as_u64().unwrap() >= received.len() as u64,
        "after round {round}: {verified}"
    );
}
