//! Prometheus metrics on the authority's admin listener: what was issued, revoked and answered
//! is counted, the page is served only there, and the example Grafana dashboard asks only for
//! metrics that exist.

use std::process::Command;

use bytes::Bytes;
use http::Method;
use inkan_pki::{build_csr, der_to_pem, CertificateInfo, GeneratedKey, KeyAlgorithm};

use super::support::{repo_root, secret_credentials, Env, Server};

fn curl(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_issuance_revocation_and_ocsp_on_the_admin_listener_only() {
    let (env, secret) = Env::with_ca();
    let token = env.ok(&["admin", "token", "create"]).trim().to_string();
    let mut cmd = env.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start_until(cmd, "metrics on http://");
    let admin = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("metrics on "))
        .unwrap()
        .to_string();
    let http = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("revocation (CRL, OCSP) on "))
        .unwrap()
        .to_string();

    let mut est = server.est(&env, secret_credentials(&secret)).await;
    let mut serials = Vec::new();
    for i in 0..2 {
        let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        let der = est
            .simpleenroll(&build_csr(&key, &format!("m-{i}"), &[]).unwrap())
            .await
            .unwrap();
        std::fs::write(
            env.tmp.path().join(format!("m-{i}.pem")),
            der_to_pem("CERTIFICATE", &der),
        )
        .unwrap();
        serials.push(CertificateInfo::parse(&der).unwrap().serial);
    }
    // The same OCSP question twice: signed once, then from the cache.
    for _ in 0..2 {
        let out = Command::new("openssl")
            .args(["ocsp", "-no_nonce", "-issuer"])
            .arg(env.data.join("ca/issuing.pem"))
            .arg("-cert")
            .arg(env.tmp.path().join("m-0.pem"))
            .args(["-url", &format!("{http}/ocsp"), "-CAfile"])
            .arg(env.data.join("ca/chain.pem"))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains(": good"));
    }
    let mut conn = server.raw(&env).await;
    let (status, _, _) = conn
        .send(
            Method::POST,
            &format!("/v1/certificates/{}/revoke", serials[1]),
            &[
                ("authorization", format!("Bearer {token}")),
                ("content-type", "application/json".into()),
            ],
            Bytes::from_static(br#"{"reason": "superseded"}"#),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 200);

    let (code, text) = curl(&admin);
    assert_eq!(code, "200", "{text}");
    assert!(
        text.contains(
            "inkan_certificates_issued_total{method=\"est-secret\",profile=\"device\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("inkan_issue_duration_seconds_count{method=\"est-secret\"} 2"));
    assert!(text.contains("inkan_revocations_total 1"));
    assert!(text.contains("inkan_ocsp_responses_total{cache=\"hit\"} 1"));
    assert!(text.contains("inkan_ocsp_responses_total{cache=\"miss\"} 1"));
    // One certificate asked about, its response kept (the revoked one was never asked about).
    assert!(
        text.contains("\ninkan_ocsp_cached_certificates 1\n"),
        "{text}"
    );
    assert!(text.contains("inkan_commit_batch_size_count{writer=\"certificates\"}"));

    // Only on the admin listener.
    let (code, _) = curl(&format!("{http}/metrics"));
    assert_eq!(code, "404");
    let mut conn = server.raw(&env).await;
    let (status, _, _) = conn
        .send(Method::GET, "/metrics", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 404);

    // Every metric the example dashboard queries is one the authority exports.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("docs/grafana-authority.json")).unwrap(),
    )
    .unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("inkan_"))
            {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                assert!(
                    text.contains(&format!("# TYPE {base} ")),
                    "the dashboard queries {name}, which /metrics does not export"
                );
                queried += 1;
            }
        }
    }
    assert!(queried >= 8);
}
