//! The JSON feed and its live stream, and revoking through the API: cascades and refused requests.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use super::*;

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
    let mut conn = crate::api::support::raw_connection(&s.server.url(), tls).await;
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
