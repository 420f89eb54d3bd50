//! EST over the network with inkan's own client, and every rejection the RFC defines.

use std::process::Command;

use base64::Engine;
use bytes::Bytes;
use http::Method;
use inkan_client::{ClientError, EstCredentials};
use inkan_pki::{
    build_csr, certs_from_pem, verify_chain, CertificateInfo, ChainUsage, GeneratedKey,
    IssueParams, KeyAlgorithm, Profile, Serial,
};

use super::support::{secret_credentials, Env};

fn new_csr(cn: &str) -> (GeneratedKey, Vec<u8>) {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&key, cn, &["urn:dev:1".into()]).unwrap();
    (key, csr)
}

fn status(e: ClientError) -> u16 {
    match e {
        ClientError::Status { status, .. } => status,
        other => panic!("expected an HTTP status, got {other}"),
    }
}

#[tokio::test]
async fn enroll_renew_and_verify_with_inkans_own_client() {
    let (env, secret) = Env::with_ca();
    let server = env.serve();
    let mut est = server.est(&env, secret_credentials(&secret)).await;

    let cacerts = est.cacerts().await.unwrap();
    assert_eq!(cacerts.len(), 2);
    let root = env.root_der();
    assert!(cacerts.contains(&root));
    let issuing: Vec<Vec<u8>> = cacerts.into_iter().filter(|c| *c != root).collect();

    let (key, csr) = new_csr("dev-1");
    let cert = est.simpleenroll(&csr).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    verify_chain(
        &cert,
        &issuing,
        std::slice::from_ref(&root),
        ChainUsage::ClientAuth,
        now,
    )
    .unwrap();
    let info = CertificateInfo::parse(&cert).unwrap();
    assert_eq!(info.subject, "CN=dev-1");
    assert_eq!(info.level, Some(2));

    // Renewal: the current certificate as TLS client certificate; same subject, new key.
    let chain = vec![cert.clone(), issuing[0].clone()];
    let mut renew = server.est_with_cert(&env, chain.clone(), &key).await;
    let (_, csr2) = new_csr("dev-1");
    let renewed = renew.simplereenroll(&csr2).await.unwrap();
    let renewed_info = CertificateInfo::parse(&renewed).unwrap();
    assert_eq!(renewed_info.subject, info.subject);
    assert_ne!(renewed_info.serial, info.serial);

    // A renewal may not change the subject (RFC 7030 §4.2.2): refused by the policy.
    let (_, other) = new_csr("someone-else");
    assert_eq!(status(renew.simplereenroll(&other).await.unwrap_err()), 403);

    // Enrollment authenticated by a client certificate of ours (no secret) renews that
    // certificate only: the same subject and names, never another one.
    let (_, csr3) = new_csr("dev-1b");
    assert_eq!(status(renew.simpleenroll(&csr3).await.unwrap_err()), 403);
    let (_, csr4) = new_csr("dev-1");
    let again = CertificateInfo::parse(&renew.simpleenroll(&csr4).await.unwrap()).unwrap();
    assert_eq!(again.subject, "CN=dev-1");

    let shown = env.ok(&["cert", "show", &renewed_info.serial, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["method"], "renewal");
    assert_eq!(shown["evidence"]["renews"], info.serial.as_str());
    assert!(server.terminate().success());
}

#[tokio::test]
async fn csrattrs_and_labels() {
    let (env, _secret) = Env::with_ca();
    let server = env.serve();
    let mut raw = server.raw(&env).await;
    let (status, headers, body) = raw
        .send(
            Method::GET,
            "/.well-known/est/device/csrattrs",
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/csrattrs");
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            body.iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect::<Vec<_>>(),
        )
        .unwrap();
    assert_eq!(der[0], 0x30);

    let (status, _, _) = raw
        .send(
            Method::GET,
            "/.well-known/est/nosuchlabel/cacerts",
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, headers, _) = raw
        .send(Method::GET, "/.well-known/est/cacerts", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pkcs7-mime");
    assert_eq!(headers["content-transfer-encoding"], "base64");
}

/// Sends a simpleenroll with full control over headers and body.
async fn post(
    raw: &mut inkan_client::HttpConnection,
    content_type: &str,
    secret: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut headers = vec![("content-type", content_type.to_string())];
    if let Some(s) = secret {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("u:{s}"));
        headers.push(("authorization", format!("Basic {token}")));
    }
    let (status, resp_headers, body) = raw
        .send(
            Method::POST,
            "/.well-known/est/device/simpleenroll",
            &headers,
            Bytes::from(body),
        )
        .await
        .unwrap();
    if status == 401 {
        assert!(resp_headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
    (status.as_u16(), String::from_utf8_lossy(&body).to_string())
}

fn b64(der: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(der)
        .into_bytes()
}

#[tokio::test]
async fn bad_requests_get_the_rfc_status_and_leave_no_row() {
    let (env, secret) = Env::with_ca();
    let server = env.serve();
    let before = env.certificate_count();
    let mut raw = server.raw(&env).await;
    let s = Some(secret.as_str());
    let ct = "application/pkcs10";
    let (_, good) = new_csr("dev");

    let cases: Vec<(&str, u16, (u16, String))> = vec![
        (
            "garbage",
            400,
            post(&mut raw, ct, s, b64(b"this is not a CSR")).await,
        ),
        (
            "truncated",
            400,
            post(&mut raw, ct, s, b64(&good[..good.len() / 2])).await,
        ),
        (
            "not base64",
            400,
            post(&mut raw, ct, s, b"%%%%".to_vec()).await,
        ),
        ("empty", 400, post(&mut raw, ct, s, Vec::new()).await),
        (
            "wrong content type",
            415,
            post(&mut raw, "text/plain", s, b64(&good)).await,
        ),
        (
            "wrong secret",
            401,
            post(&mut raw, ct, Some("nope"), b64(&good)).await,
        ),
        (
            "no credentials",
            401,
            post(&mut raw, ct, None, b64(&good)).await,
        ),
        (
            "oversized",
            413,
            post(&mut raw, ct, s, vec![b'A'; 200_000]).await,
        ),
    ];
    for (name, want, (got, message)) in &cases {
        assert_eq!(got, want, "{name}: {message}");
        assert!(!message.trim().is_empty(), "{name} has no message");
    }

    // Oversized: inkan's client, and curl over HTTP/1.1 and HTTP/2, all see the 413.
    let mut raw = server.raw(&env).await;
    let (got, message) = post(&mut raw, ct, s, vec![b'A'; 200_000]).await;
    assert_eq!(got, 413, "{message}");
    assert!(message.contains("limit"), "{message}");
    let big = env.tmp.path().join("big.b64");
    std::fs::write(&big, vec![b'A'; 200_000]).unwrap();
    for version in ["--http1.1", "--http2"] {
        let out = Command::new("curl")
            .args([
                "-sS",
                version,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
            ])
            .arg(env.root_pem())
            .args([
                "-u",
                &format!("u:{secret}"),
                "-H",
                "Content-Type: application/pkcs10",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", big.display()))
            .arg(format!(
                "{}/.well-known/est/device/simpleenroll",
                server.url()
            ))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "413",
            "{version}: {err}"
        );
    }

    // A request whose signature does not match its content (no proof of possession).
    let mut tampered = good.clone();
    let pos = tampered.windows(3).position(|w| w == b"dev").unwrap();
    tampered[pos] = b'X';
    let mut raw = server.raw(&env).await;
    let (got, message) = post(&mut raw, ct, s, b64(&tampered)).await;
    assert_eq!(got, 400);
    assert!(message.contains("signature"), "{message}");

    // Key types the profile does not allow: P-521 and RSA-1024, made by openssl.
    for newkey in [
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"][..],
        &["-newkey", "rsa:1024"][..],
    ] {
        let out = Command::new("openssl")
            .args([
                "req",
                "-new",
                "-nodes",
                "-keyout",
                "/dev/null",
                "-subj",
                "/CN=weak",
                "-outform",
                "DER",
            ])
            .args(newkey)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (got, message) = post(&mut raw, ct, s, b64(&out.stdout)).await;
        assert_eq!(got, 400, "{message}");
        assert!(message.contains("not allowed"), "{message}");
    }

    assert_eq!(
        env.certificate_count(),
        before,
        "a refused request left a row behind"
    );
}

#[tokio::test]
async fn expired_foreign_and_missing_client_certificates_cannot_renew() {
    let (env, _secret) = Env::with_ca();
    let server = env.serve();
    let (key, csr) = new_csr("dev-x");

    // Expired: signed by the real issuing CA, but valid only in the past.
    let ca = inkan_authority::DataDir::new(&env.data)
        .load_issuing_ca(None)
        .unwrap();
    let profile = Profile::device();
    let checked = inkan_pki::CsrCheck::new(&profile).check(&csr).unwrap();
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), long_ago);
    let expired = ca.issue(&params).unwrap();
    let mut est = server
        .est_with_cert(&env, vec![expired, ca.cert_der().to_vec()], &key)
        .await;
    let err = est.simplereenroll(&csr).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(status(err), 401);

    // Foreign: a certificate from another CA.
    let now = time::OffsetDateTime::now_utc();
    let other = inkan_pki::CaSet::create("Other", KeyAlgorithm::P256, now).unwrap();
    let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now);
    let foreign = other.issuing_ca().unwrap().issue(&params).unwrap();
    let mut est = server
        .est_with_cert(&env, vec![foreign, other.issuing_der.clone()], &key)
        .await;
    let err = est.simplereenroll(&csr).await.unwrap_err();
    assert!(
        err.to_string().contains("not issued by this authority"),
        "{err}"
    );
    assert_eq!(status(err), 401);

    // Signed by our CA but never recorded (e.g. a forged or restored-from-elsewhere cert).
    let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now);
    let unrecorded = ca.issue(&params).unwrap();
    let mut est = server
        .est_with_cert(&env, vec![unrecorded, ca.cert_der().to_vec()], &key)
        .await;
    assert_eq!(status(est.simplereenroll(&csr).await.unwrap_err()), 401);

    // No client certificate at all.
    let mut est = server.est(&env, EstCredentials::None).await;
    assert_eq!(status(est.simplereenroll(&csr).await.unwrap_err()), 401);
    assert_eq!(
        env.certificate_count(),
        1,
        "only the server's own TLS certificate"
    );
}

#[test]
fn curl_and_openssl_enroll_and_renew() {
    let (env, secret) = Env::with_ca();
    let server = env.serve();
    let script = super::support::repo_root().join("tests/est-curl-openssl.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("EST_URL", server.url())
        .env("EST_SECRET", &secret)
        .env("CA_ROOT", env.root_pem())
        .env("WORK", env.tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let issued =
        certs_from_pem(&std::fs::read(env.tmp.path().join("renewed.pem")).unwrap()).unwrap();
    let info = CertificateInfo::parse(&issued[0]).unwrap();
    assert_eq!(info.subject, "CN=curl-device");
}
