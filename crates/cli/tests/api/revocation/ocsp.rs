//! OCSP answers to junk requests and foreign issuers, as RFC 6960 says.

use base64::Engine;

use super::*;

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
async fn bench_ocsp_asks_about_valid_certificates_taken_from_the_database() {
    let s = setup();
    let a = enroll(&s, "bench-a").await;
    enroll(&s, "bench-b").await;
    let revoked = enroll(&s, "bench-c").await;
    s.env.ok(&["cert", "revoke", &revoked.serial]);
    let issuer = s.env.data.join("ca/issuing.pem");
    let url = ocsp_url(&a);
    let bench = |extra: &[&str]| {
        let mut args = vec!["bench", "ocsp", "--url", &url, "--issuer"];
        args.push(issuer.to_str().unwrap());
        args.extend_from_slice(extra);
        s.env.command(&args).output().unwrap()
    };

    // The two newest valid certificates (the revoked one is newer, and skipped), each request
    // with a nonce (signed afresh every time): all answered, the first "good".
    let out = bench(&["--from-store", "2", "--nonce", "--count", "30", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["succeeded"], 30);
    assert_eq!(summary["certificates"], 2);
    assert_eq!(summary["nonce"], true);
    assert_eq!(summary["first_status"], "Good");

    // Asking for more than the valid certificates there are is refused, saying why.
    let listed: serde_json::Value =
        serde_json::from_str(&s.env.ok(&["cert", "list", "--status", "valid", "--json"])).unwrap();
    let more = (listed.as_array().unwrap().len() + 1).to_string();
    let out = bench(&["--from-store", &more, "--count", "3"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("fewer than --from-store {more}")),
        "{stderr}"
    );

    // Nothing to ask about, or two sources at once: refused before any request is sent.
    let out = bench(&["--from-store", "0", "--count", "3"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--from-store takes a positive count"),
        "{stderr}"
    );
    let cert = a.cert.to_str().unwrap();
    let out = bench(&["--from-store", "1", "--cert", cert, "--count", "3"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let out = bench(&["--from-store", "1", "--count", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be positive"), "{stderr}");
}
