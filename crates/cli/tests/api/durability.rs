//! Killing the server with SIGKILL under load loses no certificate a client received.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use inkan_pki::{build_csr, CertificateInfo, GeneratedKey, KeyAlgorithm};

use super::support::{secret_credentials, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_no_certificate_a_client_received() {
    let (env, secret) = Env::with_ca();
    let server = env.serve();
    let received = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut workers = Vec::new();
    for w in 0..8 {
        let mut est = server.est(&env, secret_credentials(&secret)).await;
        let received = received.clone();
        let stop = stop.clone();
        let enough = enough.clone();
        workers.push(tokio::spawn(async move {
            let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let csr = build_csr(&key, &format!("load-{w}-{i}"), &[]).unwrap();
                match est.simpleenroll(&csr).await {
                    Ok(cert) => {
                        let mut got = received.lock().unwrap();
                        got.push(CertificateInfo::parse(&cert).unwrap().serial);
                        if got.len() == 200 {
                            enough.notify_one();
                        }
                    }
                    Err(_) => break, // the server died under us
                }
                i += 1;
            }
        }));
    }
    // Kill once a good number of certificates are out, while requests are still in flight.
    enough.notified().await;
    server.signal("KILL");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let received: HashSet<String> = received.lock().unwrap().iter().cloned().collect();
    assert!(received.len() >= 200);

    let listed = env.ok(&["cert", "list", "--json", "--limit", "1000000"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    let stored: HashSet<String> = listed
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<_> = received.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} received certificates were lost: {lost:?}",
        lost.len()
    );
    env.ok(&["audit", "verify"]);
}
