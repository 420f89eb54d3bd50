//! Revocation seen by relying parties that know nothing of inkan: openssl through OCSP and
//! CRLs, the JSON feed and its live stream, and the rules around who may revoke what.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use inkan_pki::{build_csr, der_to_pem, CertificateInfo, GeneratedKey, KeyAlgorithm};

use super::support::{secret_credentials, Env, Server};

mod feed;
mod ocsp;

struct Setup {
    env: Env,
    server: Server,
    secret: String,
    token: String,
}

fn setup() -> Setup {
    let (env, secret) = Env::with_ca();
    let token = env
        .ok(&["admin", "token", "create", "--name", "tests"])
        .trim()
        .to_string();
    let mut cmd = env.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    Setup {
        env,
        server,
        secret,
        token,
    }
}

/// A device: key, certificate PEM file, key PEM file.
struct Device {
    key: GeneratedKey,
    der: Vec<u8>,
    cert: PathBuf,
    serial: String,
}

async fn enroll(s: &Setup, name: &str) -> Device {
    let mut est = s.server.est(&s.env, secret_credentials(&s.secret)).await;
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let der = est
        .simpleenroll(&build_csr(&key, name, &[]).unwrap())
        .await
        .unwrap();
    save(s, name, key, der)
}

fn save(s: &Setup, name: &str, key: GeneratedKey, der: Vec<u8>) -> Device {
    let cert = s.env.tmp.path().join(format!("{name}.pem"));
    std::fs::write(&cert, der_to_pem("CERTIFICATE", &der)).unwrap();
    let serial = CertificateInfo::parse(&der).unwrap().serial;
    Device {
        key,
        der,
        cert,
        serial,
    }
}

fn ocsp_url(device: &Device) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ocsp_uri", "-in"])
        .arg(&device.cert)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn crl_url(device: &Device) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "crlDistributionPoints", "-in"])
        .arg(&device.cert)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("URI:"))
        .unwrap()
        .to_string()
}

/// `openssl ocsp` as a relying party: returns its whole output.
fn openssl_ocsp(env: &Env, device: &Device) -> String {
    let out = Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(env.data.join("ca/issuing.pem"))
        .arg("-cert")
        .arg(&device.cert)
        .args(["-url", &ocsp_url(device), "-CAfile"])
        .arg(env.data.join("ca/chain.pem"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `openssl verify -crl_check` with the CRL downloaded by curl.
fn openssl_crl_check(env: &Env, device: &Device, dir: &Path) -> (bool, String) {
    let der = dir.join("current.crl");
    let fetched = Command::new("curl")
        .args(["-fsS", "-o"])
        .arg(&der)
        .arg(crl_url(device))
        .status()
        .unwrap();
    assert!(fetched.success());
    let pem = dir.join("current.crl.pem");
    assert!(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&pem)
        .status()
        .unwrap()
        .success());
    let out = Command::new("openssl")
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(env.data.join("ca/issuing.pem"))
        .arg("-CRLfile")
        .arg(&pem)
        .arg(&device.cert)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn api(
    s: &Setup,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String, serde_json::Value) {
    let mut raw = s.server.raw(&s.env).await;
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(token) = auth {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    let (status, h, body) = raw
        .send(method, path, &headers, Bytes::from(body.to_string()))
        .await
        .unwrap();
    let ct = h
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status.as_u16(),
        ct,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_sees_a_revocation_through_ocsp_and_the_crl_within_a_second() {
    let s = setup();
    let a = enroll(&s, "device-a").await;
    let b = enroll(&s, "device-b").await;

    let before = openssl_ocsp(&s.env, &a);
    assert!(before.contains("Response verify OK"), "{before}");
    assert!(before.contains(": good"), "{before}");
    assert!(
        !before.contains("WARNING: no nonce"),
        "the nonce must be echoed: {before}"
    );
    let (ok, text) = openssl_crl_check(&s.env, &a, s.env.tmp.path());
    assert!(ok, "{text}");

    let started = Instant::now();
    let (status, ct, body) = api(
        &s,
        Method::POST,
        &format!("/v1/certificates/{}/revoke", a.serial),
        Some(&s.token),
        r#"{"reason": "keyCompromise"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/json");
    assert_eq!(body["already_revoked"], false);

    // OCSP answers "revoked" at once.
    let after = openssl_ocsp(&s.env, &a);
    assert!(after.contains(": revoked"), "{after}");
    assert!(after.contains("Reason: keyCompromise"), "{after}");
    assert!(openssl_ocsp(&s.env, &b).contains(": good"));

    // The CRL follows within a second.
    loop {
        let (ok, text) = openssl_crl_check(&s.env, &a, s.env.tmp.path());
        if !ok {
            assert!(text.contains("certificate revoked"), "{text}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the CRL did not list the revocation within 1 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, text) = openssl_crl_check(&s.env, &b, s.env.tmp.path());
    assert!(ok, "an unrevoked certificate must still verify: {text}");

    // Idempotent: the first time and reason stand.
    let (status, _, again) = api(
        &s,
        Method::POST,
        &format!("/v1/certificates/{}/revoke", a.serial),
        Some(&s.token),
        r#"{"reason": "superseded"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["already_revoked"], true);
    assert_eq!(again["reason"], "keyCompromise");
    assert_eq!(again["revoked_at"], body["revoked_at"]);

    // A revoked certificate can no longer renew.
    let chain = vec![
        a.der.clone(),
        std::fs::read(s.env.data.join("ca/issuing.pem"))
            .map(|p| inkan_pki::certs_from_pem(&p).unwrap().remove(0))
            .unwrap(),
    ];
    let mut renew = s.server.est_with_cert(&s.env, chain, &a.key).await;
    let err = renew
        .simplereenroll(&build_csr(&a.key, "device-a", &[]).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_revocations_yields_a_handful_of_crls() {
    const N: usize = 400;
    let s = setup();
    let first = enroll(&s, "burst-0").await;
    let crl_url = crl_url(&first);
    let crl_number = || -> (u64, usize) {
        let out = Command::new("curl")
            .args(["-fsS", &crl_url])
            .output()
            .unwrap();
        let count = inkan_pki::crl_entry_count(&out.stdout).unwrap();
        let (_, crl) = x509_parser::parse_x509_crl(&out.stdout).unwrap();
        (crl.crl_number().unwrap().try_into().unwrap(), count)
    };
    // Enroll N certificates over 8 connections.
    let mut serials = vec![first.serial.clone()];
    let mut tasks = Vec::new();
    for w in 0..8 {
        let mut est = s.server.est(&s.env, secret_credentials(&s.secret)).await;
        tasks.push(tokio::spawn(async move {
            let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
            let mut out = Vec::new();
            for i in 0..(N / 8) {
                let der = est
                    .simpleenroll(&build_csr(&key, &format!("burst-{w}-{i}"), &[]).unwrap())
                    .await
                    .unwrap();
                out.push(CertificateInfo::parse(&der).unwrap().serial);
            }
            out
        }));
    }
    for t in tasks {
        serials.extend(t.await.unwrap());
    }
    let (before, _) = crl_number();

    // Revoke them all, 8 connections at a time, as fast as the API takes them.
    let chunks: Vec<Vec<String>> = serials
        .chunks(serials.len() / 8 + 1)
        .map(<[String]>::to_vec)
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let mut raw = s.server.raw(&s.env).await;
        let token = s.token.clone();
        tasks.push(tokio::spawn(async move {
            for serial in chunk {
                let (status, _, _) = raw
                    .send(
                        Method::POST,
                        &format!("/v1/certificates/{serial}/revoke"),
                        &[("authorization", format!("Bearer {token}"))],
                        Bytes::new(),
                    )
                    .await
                    .unwrap();
                assert_eq!(status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Wait (bounded) for the CRL to list every revocation, then count the CRLs made.
    let started = Instant::now();
    let (after, listed) = loop {
        let (number, listed) = crl_number();
        if listed == serials.len() {
            break (number, listed);
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "only {listed} of {} listed",
            serials.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(listed, N + 1);
    let made = after - before;
    assert!(
        made <= 40,
        "{} revocations produced {made} CRLs",
        serials.len()
    );
}
