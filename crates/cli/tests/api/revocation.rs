//! Revocation seen by relying parties that know nothing of inkan: openssl through OCSP and
//! CRLs, the JSON feed and its live stream, and the rules around who may revoke what.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::Method;
use inkan_pki::{build_csr, der_to_pem, CertificateInfo, GeneratedKey, KeyAlgorithm};

use super::support::{secret_credentials, Env, Server};

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
async fn ocsp_answers_junk_and_foreign_issuers_as_the_rfc_says() {
    let s = setup();
    let a = enroll(&s, "device-o").await;
    let url = ocsp_url(&a);

    // Junk POST body -> malformedRequest; junk GET -> malformedRequest.
    let resp = s.env.tmp.path().join("resp.der");
    let junk = s.env.tmp.path().join("junk.der");
    std::fs::write(&junk, b"not an OCSP request").unwrap();
    let post = Command::new("curl")
        .args([
            "-fsS",
            "-H",
            "Content-Type: application/ocsp-request",
            "--data-binary",
        ])
        .arg(format!("@{}", junk.display()))
        .arg("-o")
        .arg(&resp)
        .arg(&url)
        .status()
        .unwrap();
    assert!(post.success());
    let text = respin(&resp);
    assert!(text.to_lowercase().contains("malformedrequest"), "{text}");
    let get = Command::new("curl")
        .args(["-fsS", "-o"])
        .arg(&resp)
        .arg(format!("{url}/bm90IG9jc3A%3D"))
        .status()
        .unwrap();
    assert!(get.success());
    assert!(respin(&resp).to_lowercase().contains("malformedrequest"));

    // An issuer this responder does not serve -> unauthorized.
    let other = Env::new();
    other.ok(&["ca", "init", "--name", "Other"]);
    let out = Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(other.data.join("ca/issuing.pem"))
        .args(["-serial", "0x1234", "-url", &url])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("unauthorized"), "{text}");

    // A serial this issuer never issued -> unknown. GET form, as RFC 6960 A.1 describes.
    let req = s.env.tmp.path().join("req.der");
    assert!(Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(s.env.data.join("ca/issuing.pem"))
        .args(["-serial", "0x99999", "-reqout"])
        .arg(&req)
        .status()
        .unwrap()
        .success());
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&req).unwrap());
    let encoded: String = b64
        .chars()
        .map(|c| match c {
            '/' => "%2F".into(),
            '+' => "%2B".into(),
            '=' => "%3D".into(),
            c => c.to_string(),
        })
        .collect();
    assert!(Command::new("curl")
        .args(["-fsS", "-o"])
        .arg(&resp)
        .arg(format!("{url}/{encoded}"))
        .status()
        .unwrap()
        .success());
    let text = respin(&resp);
    assert!(text.contains("Cert Status: unknown"), "{text}");
}

fn respin(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["ocsp", "-noverify", "-resp_text", "-respin"])
        .arg(path)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_and_its_stream_carry_revocations_made_anywhere() {
    let s = setup();
    let a = enroll(&s, "feed-a").await;
    let b = enroll(&s, "feed-b").await;

    // Open the live stream first, then revoke from another process (the CLI).
    let mut curl = Command::new("curl")
        .args(["-sN", "--max-time", "10", "--cacert"])
        .arg(s.env.root_pem())
        .arg(format!("{}/v1/revocations/stream?since=0", s.server.url()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(curl.stdout.take().unwrap()).lines();
    s.env
        .ok(&["cert", "revoke", &a.serial, "--reason", "superseded"]);
    let started = Instant::now();
    let mut seen = None;
    for line in lines {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data:") {
            let event: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
            seen = Some(event);
            break;
        }
    }
    let _ = curl.kill();
    let _ = curl.wait();
    let event = seen.expect("no event on the stream");
    assert_eq!(event["serial"], a.serial.as_str());
    assert_eq!(event["reason"], "superseded");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the stream took {:?}",
        started.elapsed()
    );

    // The holder revokes its own certificate over mTLS; the JSON feed lists both, in order.
    let chain = vec![b.der.clone()];
    let tls = inkan_client::client_tls_config(
        &[s.env.root_der()],
        Some((chain, b.key.pkcs8_der().to_vec())),
    )
    .unwrap();
    let mut conn = super::support::raw_connection(&s.server.url(), tls).await;
    let (status, _, body) = conn
        .send(
            Method::POST,
            &format!("/v1/certificates/{}/revoke", b.serial),
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let (status, _, feed) = api(&s, Method::GET, "/v1/revocations?since=0", None, "").await;
    assert_eq!(status, 200);
    let serials: Vec<&str> = feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, [a.serial.as_str(), b.serial.as_str()]);
    let first_seq = feed["revocations"][0]["seq"].as_i64().unwrap();
    let (_, _, rest) = api(
        &s,
        Method::GET,
        &format!("/v1/revocations?since={first_seq}"),
        None,
        "",
    )
    .await;
    assert_eq!(rest["revocations"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next"], feed["next"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_only_when_asked_and_bad_requests_are_problems() {
    let s = setup();
    // A bootstrap certificate, and its re-enrollment with it as TLS client certificate (a
    // client certificate enrolls only for itself: the same subject and names).
    let parent = enroll(&s, "bootstrap").await;
    let issuing =
        inkan_pki::certs_from_pem(&std::fs::read(s.env.data.join("ca/issuing.pem")).unwrap())
            .unwrap()
            .remove(0);
    let mut est = s
        .server
        .est_with_cert(
            &s.env,
            vec![parent.der.clone(), issuing.clone()],
            &parent.key,
        )
        .await;
    let child_key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let child_der = est
        .simpleenroll(&build_csr(&child_key, "bootstrap", &[]).unwrap())
        .await
        .unwrap();
    let child = save(&s, "child", child_key, child_der);

    let out = s.env.ok(&[
        "cert",
        "revoke",
        &parent.serial,
        "--reason",
        "cessationOfOperation",
        "--json",
    ]);
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["cascaded"].as_array().unwrap().len(), 0);
    assert!(openssl_ocsp(&s.env, &child).contains(": good"));

    let parent2 = enroll(&s, "bootstrap2").await;
    let mut est = s
        .server
        .est_with_cert(&s.env, vec![parent2.der.clone(), issuing], &parent2.key)
        .await;
    let k = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let der = est
        .simpleenroll(&build_csr(&k, "bootstrap2", &[]).unwrap())
        .await
        .unwrap();
    let child2 = save(&s, "child2", k, der);
    let (status, _, body) = api(
        &s,
        Method::POST,
        &format!("/v1/certificates/{}/revoke", parent2.serial),
        Some(&s.token),
        r#"{"reason": "cessationOfOperation", "cascade": true}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cascaded"][0], child2.serial.as_str());
    assert!(openssl_ocsp(&s.env, &child2).contains(": revoked"));

    // Problems, each as application/problem+json with the right status; nothing changes.
    let before = s.env.ok(&["audit", "verify", "--json"]);
    let target = format!("/v1/certificates/{}/revoke", child.serial);
    for (auth, body, want) in [
        (None, "{}", 401),
        (Some("inkan_not-a-token"), "{}", 401),
        (
            Some(s.token.as_str()),
            r#"{"reason": "certificateHold"}"#,
            400,
        ),
        (
            Some(s.token.as_str()),
            r#"{"reason": "keyCompromise", "extra": 1}"#,
            400,
        ),
        (Some(s.token.as_str()), "{not json", 400),
    ] {
        let (status, ct, problem) = api(&s, Method::POST, &target, auth, body).await;
        assert_eq!(status, want, "{body}: {problem}");
        assert_eq!(ct, "application/problem+json");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{problem}"
        );
    }
    let (status, ct, _) = api(
        &s,
        Method::POST,
        "/v1/certificates/abcdef/revoke",
        Some(&s.token),
        "{}",
    )
    .await;
    assert_eq!((status, ct.as_str()), (404, "application/problem+json"));
    let (status, _, _) = api(
        &s,
        Method::POST,
        "/v1/certificates/zz!/revoke",
        Some(&s.token),
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        s.env.ok(&["audit", "verify", "--json"]),
        before,
        "a refused request changed the log"
    );
    assert!(openssl_ocsp(&s.env, &child).contains(": good"));
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
