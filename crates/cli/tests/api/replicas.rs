//! Two `inkan serve` replicas on one PostgreSQL database, driven at once: serials stay unique,
//! the product cap and single-use PSK tokens hold across replicas, a change made through one
//! is in force on the other without a reload, a revocation through one reaches the other's
//! live feed, its OCSP and a gateway that follows it, and the audit chain verifies.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use http::Method;
use inkan_attest::PskToken;
use inkan_client::EstCredentials;
use inkan_pki::{
    build_csr, certs_from_pem, der_to_pem, CertificateInfo, GeneratedKey, KeyAlgorithm,
};
use inkan_test_support::upstream::Upstream;

use super::support::{secret_credentials, Env, Server};

/// A replica, started once both its listeners are up.
fn serve(env: &Env) -> Server {
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    Server::start_until(cmd, "revocation (CRL, OCSP) on http://")
}

/// The replica's plain-HTTP listener, where its OCSP responder is.
fn http_url(server: &Server) -> String {
    server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("revocation (CRL, OCSP) on "))
        .unwrap()
        .to_string()
}

/// The replica's CRL once it lists `serial`: its CRL number and DER.
fn crl_listing(server: &Server, env: &Env, serial: &str) -> (String, Vec<u8>) {
    let chain = std::fs::read_to_string(env.data.join("ca/issuing.pem")).unwrap();
    let issuing = certs_from_pem(chain.as_bytes()).unwrap().remove(0);
    let issuer_id = CertificateInfo::parse(&issuing).unwrap().fingerprint_sha256;
    let url = format!("{}/crl/{issuer_id}.crl", http_url(server));
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let der = Command::new("curl")
            .args(["-fsS", &url])
            .output()
            .unwrap()
            .stdout;
        let path = env.tmp.path().join("replica.crl");
        std::fs::write(&path, &der).unwrap();
        let text = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout).to_uppercase();
        if text.contains(&serial.to_uppercase()) {
            let number = text
                .lines()
                .skip_while(|l| !l.contains("X509V3 CRL NUMBER"))
                .nth(1)
                .unwrap()
                .trim()
                .to_string();
            return (number, der);
        }
        assert!(
            Instant::now() < deadline,
            "the CRL at {url} never listed {serial}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What `openssl ocsp` hears from this replica about `serial`.
fn openssl_ocsp(server: &Server, env: &Env, serial: &str) -> String {
    let pem = env.tmp.path().join(format!("{serial}.pem"));
    std::fs::write(&pem, env.ok(&["cert", "show", serial, "--pem"])).unwrap();
    let out = Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(env.data.join("ca/issuing.pem"))
        .arg("-cert")
        .arg(&pem)
        .args(["-url", &format!("{}/ocsp", http_url(server)), "-CAfile"])
        .arg(env.data.join("ca/chain.pem"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `n` EST enrollments with the `device` secret; the serials received.
async fn enroll(server: &Server, env: &Env, secret: &str, tag: &str, n: usize) -> Vec<String> {
    let mut est = server.est(env, secret_credentials(secret)).await;
    let mut serials = Vec::with_capacity(n);
    for i in 0..n {
        let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        let csr = build_csr(&key, &format!("{tag}-{i}"), &[]).unwrap();
        let der = est.simpleenroll(&csr).await.unwrap();
        serials.push(CertificateInfo::parse(&der).unwrap().serial);
    }
    serials
}

/// `n` units of a product bootstrapping over EST with its ProductCert: (registered, refused).
async fn register(
    server: &Server,
    tls: std::sync::Arc<rustls::ClientConfig>,
    n: usize,
) -> (usize, usize) {
    let mut est = inkan_client::EstClient::connect(&server.url(), tls, None, EstCredentials::None)
        .await
        .unwrap();
    let (mut ok, mut refused) = (0, 0);
    for i in 0..n {
        let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        match est
            .simpleenroll(&build_csr(&key, &format!("unit-{i}"), &[]).unwrap())
            .await
        {
            Ok(_) => ok += 1,
            Err(inkan_client::ClientError::Status { status: 403, .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (ok, refused)
}

async fn post_device(server: &Server, env: &Env, auth: &str, body: &[u8]) -> u16 {
    let mut conn = server.raw(env).await;
    let (status, _, _) = conn
        .send(
            Method::POST,
            "/v1/devices",
            &[
                ("content-type", "application/json".to_string()),
                ("authorization", auth.to_string()),
            ],
            Bytes::from(body.to_vec()),
        )
        .await
        .unwrap();
    status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_postgres_keep_one_truth() {
    let Some(a_env) = Env::on_postgres() else {
        eprintln!("PostgreSQL tests are off (INKAN_TEST_DATABASE_URL=off)");
        return;
    };
    a_env.ok(&["ca", "init"]);
    let secret = a_env.secret("device");
    let fleet = a_env.tmp.path().join("fleet");
    a_env.ok(&[
        "product",
        "create",
        "fleet",
        "--max-devices",
        "30",
        "--out",
        fleet.to_str().unwrap(),
    ]);
    a_env.ok(&[
        "product",
        "create",
        "lamp",
        "--psk",
        "--out",
        a_env.tmp.path().join("lamp").to_str().unwrap(),
    ]);
    let b_env = a_env.replica();
    let a = serve(&a_env);
    let b = serve(&b_env);

    // EST enrollments at both replicas at once: every serial once, every one recorded.
    let (r0, r1, r2, r3) = tokio::join!(
        enroll(&a, &a_env, &secret, "a0", 15),
        enroll(&b, &b_env, &secret, "b0", 15),
        enroll(&a, &a_env, &secret, "a1", 15),
        enroll(&b, &b_env, &secret, "b1", 15),
    );
    let received: Vec<String> = [r0, r1, r2, r3].concat();
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), 60, "a serial was handed out twice");
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&b_env.ok(&["cert", "list", "--json", "--limit", "100000"])).unwrap();
    let stored: HashSet<&str> = listed
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    for serial in &received {
        assert!(
            stored.contains(serial.as_str()),
            "{serial} was returned but not recorded"
        );
    }

    // The product cap of 30, with 20 units at each replica at once: exactly 30 get in.
    let chain = certs_from_pem(&std::fs::read(fleet.join("product.pem")).unwrap()).unwrap();
    let key = GeneratedKey::from_pem(
        &std::fs::read_to_string(fleet.join("product.key")).unwrap(),
        None,
    )
    .unwrap();
    let tls = inkan_client::client_tls_config(
        &[a_env.root_der()],
        Some((chain, key.pkcs8_der().to_vec())),
    )
    .unwrap();
    let (ra, rb) = tokio::join!(register(&a, tls.clone(), 20), register(&b, tls.clone(), 20));
    assert_eq!((ra.0 + rb.0, ra.1 + rb.1), (30, 10), "A {ra:?}, B {rb:?}");

    // One PSK token sent to both replicas at once: one registration, one replay refused.
    let out = a_env.ok(&["product", "psk", "derive", "lamp", "SN-1"]);
    let psk = base64::engine::general_purpose::STANDARD
        .decode(out.trim())
        .unwrap();
    let unit = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "device_info": {},
        "csr": base64::engine::general_purpose::STANDARD.encode(build_csr(&unit, "unit", &[]).unwrap()),
    }))
    .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let auth = PskToken::sign(
        &psk,
        "lamp",
        "SN-1",
        now,
        "nonce-replicas-1",
        "POST",
        "/v1/devices",
        &body,
    );
    let (sa, sb) = tokio::join!(
        post_device(&a, &a_env, &auth, &body),
        post_device(&b, &b_env, &auth, &body)
    );
    let mut statuses = [sa, sb];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 401],
        "the same token worked twice or not at all"
    );

    // An admin token made through one replica's database works at the other at once.
    let token = a_env.ok(&["admin", "token", "create"]).trim().to_string();
    let mut conn = b.raw(&b_env).await;
    let (status, _, products) = conn
        .send(
            Method::GET,
            "/v1/products",
            &[("authorization", format!("Bearer {token}"))],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200);
    assert!(String::from_utf8_lossy(&products).contains("fleet"));

    // A revocation through A reaches B's live feed, and then B's OCSP says revoked.
    let mut follower = Command::new("curl")
        .args(["-sN", "--max-time", "20", "--cacert"])
        .arg(b_env.root_pem())
        .arg(format!("{}/v1/revocations/stream", b.url()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    // And a gateway that follows B, in front of a site, admitting a device enrolled at A.
    let site = Upstream::start();
    let gateway = a_env.gateway(&format!(
        "[revocation]\nauthority = \"{}\"\nauthority_ca = \"{}\"\n[[route]]\nupstreams = [\"http://127.0.0.1:{}\"]\n",
        b.url(),
        a_env.root_pem().display(),
        site.port
    ));
    let device_key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let mut est = a.est(&a_env, secret_credentials(&secret)).await;
    let device_cert = est
        .simpleenroll(&build_csr(&device_key, "gw-device", &[]).unwrap())
        .await
        .unwrap();
    let cert_file = a_env.tmp.path().join("gw-device.pem");
    let key_file = a_env.tmp.path().join("gw-device.key");
    std::fs::write(&cert_file, der_to_pem("CERTIFICATE", &device_cert)).unwrap();
    std::fs::write(&key_file, device_key.to_pem(None).unwrap()).unwrap();
    let through_gateway = || {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(a_env.root_pem())
            .arg("--cert")
            .arg(&cert_file)
            .arg("--key")
            .arg(&key_file)
            .arg(format!(
                "{}/",
                gateway.url().replace("127.0.0.1", "localhost")
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(through_gateway(), "200");
    let target = CertificateInfo::parse(&device_cert).unwrap().serial;
    let mut conn = a.raw(&a_env).await;
    let started = Instant::now();
    let (status, _, answer) = conn
        .send(
            Method::POST,
            &format!("/v1/certificates/{target}/revoke"),
            &[
                ("authorization", format!("Bearer {token}")),
                ("content-type", "application/json".to_string()),
            ],
            Bytes::from_static(br#"{"reason":"key_compromise"}"#),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200, "{}", String::from_utf8_lossy(&answer));
    let mut seen = None;
    for line in lines {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data:") {
            let event: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
            if event["serial"] == target.as_str() {
                seen = Some(started.elapsed());
                break;
            }
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let latency = seen.expect("replica B's feed never carried the revocation made through A");
    eprintln!("revocation through A seen on B's feed after {latency:?}");
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let code = through_gateway();
        if code == "403" {
            break;
        }
        assert_eq!(code, "200");
        assert!(
            Instant::now() < deadline,
            "the gateway following B kept admitting a revoked certificate"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!(
        "revocation through A refused by the gateway following B after {:?}",
        started.elapsed()
    );
    // The feed invalidates the replica's OCSP cache before it passes the event on.
    let ocsp = openssl_ocsp(&b, &b_env, &target);
    assert!(ocsp.contains(": revoked"), "{ocsp}");
    let ocsp = openssl_ocsp(&b, &b_env, &received[1]);
    assert!(ocsp.contains(": good"), "{ocsp}");

    // Both replicas publish a CRL with it; two CRLs with the same number are the same CRL
    // (only one replica can store a number; the other signs the next one).
    let crls: Vec<(String, Vec<u8>)> = [(&a, &a_env), (&b, &b_env)]
        .iter()
        .map(|(server, env)| crl_listing(server, env, &target))
        .collect();
    if crls[0].0 == crls[1].0 {
        assert_eq!(
            crls[0].1, crls[1].1,
            "two different CRLs numbered {}",
            crls[0].0
        );
    }

    // One audit chain, intact, written by both.
    let verified: serde_json::Value =
        serde_json::from_str(&a_env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
    // 60 enrolled, 30 registered, 1 by PSK (and the ProductCerts, the TLS identities).
    assert!(verified["certificates_checked"].as_i64().unwrap() >= 91);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_authority_moves_to_postgres_with_one_command() {
    let Some(schema) = Env::on_postgres() else {
        eprintln!("PostgreSQL tests are off (INKAN_TEST_DATABASE_URL=off)");
        return;
    };
    let url = schema.database_url.clone().unwrap();
    let (env, secret) = Env::with_ca();
    let server = serve(&env);
    let before = enroll(&server, &env, &secret, "before", 5).await;
    server.terminate();

    let report: serde_json::Value =
        serde_json::from_str(&env.ok(&["db", "migrate-to", &url, "--json"])).unwrap();
    // 5 enrolled, the authority's own TLS certificate, and nothing else.
    assert_eq!(report["tables"]["certificates"], 6, "{report}");
    assert!(report["audit_events_verified"].as_i64().unwrap() > 6);
    // Once is all: the target is no longer empty.
    let again = env.run(&["db", "migrate-to", &url]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds"));

    // The same data directory, now on PostgreSQL: the old certificates are there, new ones
    // continue the same audit chain.
    let on_pg = |args: &[&str]| {
        let mut cmd = env.command(args);
        cmd.env("INKAN_DATABASE_URL", &url);
        cmd
    };
    let mut serve_cmd = on_pg(&["serve", "--listen", "127.0.0.1:0"]);
    serve_cmd.env("INKAN_LOG", "warn");
    let server = Server::start_until(serve_cmd, "revocation (CRL, OCSP) on http://");
    let after = enroll(&server, &env, &secret, "after", 2).await;
    for serial in before.iter().chain(&after) {
        let out = on_pg(&["cert", "show", serial, "--json"]).output().unwrap();
        assert!(out.status.success(), "{serial} is not on PostgreSQL");
    }
    let verify = on_pg(&["audit", "verify", "--json"]).output().unwrap();
    let verified: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["head"].as_str().map(str::len), Some(64));
    assert!(
        verified["events_verified"].as_i64().unwrap()
            > report["audit_events_verified"].as_i64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_replica_loses_nothing_and_the_other_keeps_serving() {
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};

    use super::durability::{check, load};

    let Some(a_env) = Env::on_postgres() else {
        eprintln!("PostgreSQL tests are off (INKAN_TEST_DATABASE_URL=off)");
        return;
    };
    a_env.ok(&["ca", "init"]);
    let secret = a_env.secret("device");
    let b_env = a_env.replica();
    let mut a = serve(&a_env);
    let b = serve(&b_env);
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let (on_a, a_workers, a_stop) = load(&a_env, &a, &secret, &received).await;
    let (on_b, b_workers, b_stop) = load(&b_env, &b, &secret, &received).await;
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while on_a.load(Ordering::Relaxed) < 100 && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    // Requests to A are in flight: some signed, some committing, some answered.
    a.signal("KILL");
    a.child.wait().unwrap();
    a_stop.store(true, Ordering::Relaxed);
    for worker in a_workers {
        worker.await.unwrap();
    }
    let b_at_kill = on_b.load(Ordering::Relaxed);
    while on_b.load(Ordering::Relaxed) < b_at_kill + 50 && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    b_stop.store(true, Ordering::Relaxed);
    for worker in b_workers {
        worker.await.unwrap();
    }
    assert!(
        on_b.load(Ordering::Relaxed) >= b_at_kill + 50,
        "replica B stopped serving when A died"
    );
    check(&a_env, &received.lock().unwrap(), 1);
    eprintln!(
        "SIGKILL of replica A after {} certificates; B issued {} (of which {} after the kill); all {} stored, audit verified",
        on_a.load(Ordering::Relaxed),
        on_b.load(Ordering::Relaxed),
        on_b.load(Ordering::Relaxed) - b_at_kill,
        received.lock().unwrap().len()
    );
    drop(b);
}
