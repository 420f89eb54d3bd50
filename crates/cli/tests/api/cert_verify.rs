//! `inkan cert verify` against certificates the real CA issued, each case checked against
//! `openssl verify` (and `openssl ocsp`) on the same inputs: both must reach the same verdict.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use inkan_pki::{build_csr, der_to_pem, CertificateInfo, GeneratedKey, KeyAlgorithm};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::support::{secret_credentials, Env, Server};

/// What `inkan cert verify --json` said.
struct Verdict {
    code: i32,
    json: Value,
    stderr: String,
}

impl Verdict {
    fn reason_code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
}

fn inkan(env: &Env, args: &[&str]) -> Verdict {
    let mut all = vec!["cert", "verify", "--json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON from inkan {all:?} ({e}): {stderr}"));
    let verdict = Verdict {
        code: out.status.code().unwrap(),
        json,
        stderr,
    };
    // One line on stderr exactly when invalid; `valid` agrees with the exit code.
    assert_eq!(verdict.json["valid"], verdict.code == 0, "{}", verdict.json);
    if verdict.code == 1 {
        assert_eq!(verdict.stderr.lines().count(), 1, "{}", verdict.stderr);
        assert!(
            verdict.stderr.starts_with("invalid: "),
            "{}",
            verdict.stderr
        );
    }
    verdict
}

/// `openssl verify` with the data directory's root and issuing CA (plus `extra` options);
/// returns whether it accepted and what it printed.
fn openssl_verify(env: &Env, cert: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .arg("verify")
        .args(extra)
        .arg("-CAfile")
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(env.data.join("ca/issuing.pem"))
        .arg(cert)
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

/// Asserts inkan and openssl agree; returns both verdicts for the specific checks.
fn both(env: &Env, cert: &Path, inkan_args: &[&str], openssl_args: &[&str]) -> (Verdict, String) {
    let mut args = vec![cert.to_str().unwrap()];
    args.extend_from_slice(inkan_args);
    let ours = inkan(env, &args);
    let (theirs_ok, theirs) = openssl_verify(env, cert, openssl_args);
    assert_eq!(
        ours.code == 0,
        theirs_ok,
        "inkan {args:?} and openssl verify {openssl_args:?} disagree:\n{}\n{}{theirs}",
        ours.json,
        ours.stderr
    );
    (ours, theirs)
}

struct Setup {
    env: Env,
    server: Server,
    secret: String,
}

fn setup() -> Setup {
    let (env, secret) = Env::with_ca();
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
    }
}

/// Enrolls a device over EST; returns its certificate file (PEM) and DER.
async fn enroll(s: &Setup, name: &str) -> (PathBuf, Vec<u8>) {
    let mut est = s.server.est(&s.env, secret_credentials(&s.secret)).await;
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let der = est
        .simpleenroll(&build_csr(&key, name, &[]).unwrap())
        .await
        .unwrap();
    let path = s.env.tmp.path().join(format!("{name}.pem"));
    std::fs::write(&path, der_to_pem("CERTIFICATE", &der)).unwrap();
    (path, der)
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inkan_and_openssl_agree_on_time_purpose_name_and_chain() {
    let s = setup();
    let env = &s.env;
    let (device, der) = enroll(&s, "device-1").await;
    let info = CertificateInfo::parse(&der).unwrap();

    // Good, with the defaults (root and issuing CA from the data directory).
    let (ok, _) = both(env, &device, &[], &[]);
    assert_eq!(ok.json["subject"], "CN=device-1");
    assert_eq!(ok.json["serial"], info.serial.as_str());
    let chain = ok.json["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 3, "{}", ok.json);
    assert_eq!(chain[0], "CN=device-1");
    assert_eq!(ok.json["revocation"]["status"], "not_checked");
    let (ok, _) = both(
        env,
        &device,
        &["--purpose", "client"],
        &["-purpose", "sslclient"],
    );
    assert_eq!(ok.code, 0);
    // Explicit files give the same answer as the defaults.
    let root = env.root_pem();
    let issuing = env.data.join("ca/issuing.pem");
    let ours = inkan(
        env,
        &[
            device.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "--chain",
            issuing.to_str().unwrap(),
        ],
    );
    assert_eq!(ours.code, 0, "{}", ours.stderr);

    // Expired, and not yet valid: the same instants for both.
    let after = info.not_after + 86_400;
    let (bad, theirs) = both(
        env,
        &device,
        &["--at", &rfc3339(after)],
        &["-attime", &after.to_string()],
    );
    assert_eq!(bad.code, 1);
    assert_eq!(bad.reason_code(), "expired", "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains(&format!("expired at {}", rfc3339(info.not_after))),
        "{}",
        bad.stderr
    );
    assert!(theirs.contains("certificate has expired"), "{theirs}");
    let before = info.not_before - 3_600;
    let (bad, theirs) = both(
        env,
        &device,
        &["--at", &rfc3339(before)],
        &["-attime", &before.to_string()],
    );
    assert_eq!(bad.reason_code(), "not_yet_valid", "{}", bad.stderr);
    assert!(theirs.contains("not yet valid"), "{theirs}");

    // Wrong purpose: a client certificate as a server, the authority's server certificate as a
    // client.
    let (bad, theirs) = both(
        env,
        &device,
        &["--purpose", "server"],
        &["-purpose", "sslserver"],
    );
    assert_eq!(bad.reason_code(), "wrong_purpose", "{}", bad.stderr);
    assert!(theirs.contains("certificate purpose"), "{theirs}");
    let server = env.data.join("tls/server.pem");
    let (ok, _) = both(
        env,
        &server,
        &["--purpose", "server", "--name", "localhost"],
        &["-purpose", "sslserver", "-verify_hostname", "localhost"],
    );
    assert_eq!(ok.json["subject"], "CN=localhost");
    let (bad, _) = both(
        env,
        &server,
        &["--purpose", "client"],
        &["-purpose", "sslclient"],
    );
    assert_eq!(bad.reason_code(), "wrong_purpose", "{}", bad.stderr);

    // Wrong name.
    let (bad, theirs) = both(
        env,
        &server,
        &["--name", "www.example.com"],
        &["-verify_hostname", "www.example.com"],
    );
    assert_eq!(bad.reason_code(), "name_mismatch", "{}", bad.stderr);
    assert!(bad.stderr.contains("www.example.com"), "{}", bad.stderr);
    assert!(theirs.contains("hostname mismatch"), "{theirs}");
    let (ok, _) = both(
        env,
        &server,
        &["--name", "127.0.0.1"],
        &["-verify_ip", "127.0.0.1"],
    );
    assert_eq!(ok.code, 0);

    // Bad chain: certificates of other CAs, one with other names, one with the same names
    // (so only the signature tells them apart), each PEM carrying its own issuing CA.
    for (name, expected) in [(Some("Other"), "unknown_issuer"), (None, "bad_signature")] {
        let other = Env::new();
        match name {
            Some(name) => other.ok(&["ca", "init", "--name", name]),
            None => other.ok(&["ca", "init"]),
        };
        let out = other.tmp.path().join("admin");
        other.ok(&[
            "admin",
            "cert",
            "create",
            "ops",
            "--out",
            out.to_str().unwrap(),
        ]);
        let foreign = out.join("admin.pem");
        // openssl gets the PEM's extra certificate as untrusted too, as inkan uses it.
        let (bad, theirs) = both(
            env,
            &foreign,
            &[],
            &["-untrusted", foreign.to_str().unwrap()],
        );
        assert_eq!(bad.reason_code(), expected, "{}", bad.stderr);
        assert!(
            theirs.contains("unable to get local issuer certificate")
                || theirs.contains("signature failure"),
            "{theirs}"
        );
        // Under its own root it is fine.
        let ours = inkan(
            env,
            &[
                foreign.to_str().unwrap(),
                "--root",
                other.root_pem().to_str().unwrap(),
            ],
        );
        assert_eq!(ours.code, 0, "{}", ours.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inkan_and_openssl_agree_on_revocation_by_crl_and_ocsp() {
    let s = setup();
    let env = &s.env;
    let (device, der) = enroll(&s, "device-r").await;
    let (other, _) = enroll(&s, "device-k").await;
    let serial = CertificateInfo::parse(&der).unwrap().serial;
    let dir = env.tmp.path();

    // Before: good by the CRL and by OCSP.
    let crl = fetch_crl(&device, dir, None);
    let crl_arg = crl.der.to_str().unwrap();
    let (ok, _) = both(
        env,
        &device,
        &["--crl", crl_arg],
        &["-crl_check", "-CRLfile", crl.pem.to_str().unwrap()],
    );
    assert_eq!(ok.json["revocation"]["status"], "good", "{}", ok.json);
    assert_eq!(ok.json["revocation"]["method"], "crl");
    let ours = inkan(env, &[device.to_str().unwrap(), "--ocsp"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert_eq!(ours.json["revocation"]["status"], "good");
    assert!(openssl_ocsp(env, &device).contains(": good"));

    env.ok(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);

    // OCSP: revoked, with reason and date, as openssl ocsp says.
    let started = Instant::now();
    let ours = loop {
        let ours = inkan(env, &[device.to_str().unwrap(), "--ocsp"]);
        if ours.code != 0 || started.elapsed() > Duration::from_secs(10) {
            break ours;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ours.code, 1, "{}", ours.json);
    assert_eq!(ours.reason_code(), "revoked", "{}", ours.stderr);
    assert!(ours.stderr.contains("(keyCompromise)"), "{}", ours.stderr);
    let revocation = &ours.json["revocation"];
    assert_eq!(revocation["method"], "ocsp");
    assert_eq!(revocation["status"], "revoked");
    assert_eq!(revocation["reason"], "keyCompromise");
    assert!(revocation["revoked_at"].as_str().is_some(), "{revocation}");
    assert!(revocation["source"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    let theirs = openssl_ocsp(env, &device);
    assert!(theirs.contains(": revoked"), "{theirs}");
    assert!(theirs.contains("Reason: keyCompromise"), "{theirs}");
    let ours = inkan(env, &[other.to_str().unwrap(), "--ocsp"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);

    // The CRL from the running server's /crl/ endpoint, once it lists the serial.
    let crl = fetch_crl(&device, dir, Some(&serial));
    for file in [&crl.der, &crl.pem] {
        let (bad, theirs) = both(
            env,
            &device,
            &["--crl", file.to_str().unwrap()],
            &["-crl_check", "-CRLfile", crl.pem.to_str().unwrap()],
        );
        assert_eq!(bad.reason_code(), "revoked", "{}", bad.stderr);
        assert!(bad.stderr.contains("(keyCompromise)"), "{}", bad.stderr);
        assert_eq!(
            bad.json["revocation"]["revoked_at"],
            ours_revoked_at(env, &serial)
        );
        assert!(theirs.contains("certificate revoked"), "{theirs}");
    }
    let (ok, _) = both(
        env,
        &other,
        &["--crl", crl.der.to_str().unwrap()],
        &["-crl_check", "-CRLfile", crl.pem.to_str().unwrap()],
    );
    assert_eq!(ok.code, 0);

    // A CRL whose signature does not verify is refused by both.
    let mut forged = std::fs::read(&crl.der).unwrap();
    let last = forged.len() - 8;
    forged[last] ^= 0x55;
    let forged_der = dir.join("forged.crl");
    std::fs::write(&forged_der, &forged).unwrap();
    let forged_pem = dir.join("forged.crl.pem");
    std::fs::write(&forged_pem, der_to_pem("X509 CRL", &forged)).unwrap();
    let (bad, theirs) = both(
        env,
        &other,
        &["--crl", forged_der.to_str().unwrap()],
        &["-crl_check", "-CRLfile", forged_pem.to_str().unwrap()],
    );
    assert_eq!(bad.reason_code(), "bad_crl", "{}", bad.stderr);
    assert!(theirs.contains("CRL signature failure"), "{theirs}");
}

#[test]
fn unusable_input_is_a_usage_error() {
    let (env, _) = Env::with_ca();
    let cert = env.data.join("ca/issuing.pem");
    let cert = cert.to_str().unwrap();
    let usage = |args: &[&str]| {
        let mut all = vec!["cert", "verify"];
        all.extend_from_slice(args);
        let out = env.run(&all);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    usage(&[]);
    usage(&["missing.pem"]);
    usage(&[cert, "--at", "tomorrow"]);
    usage(&[cert, "--purpose", "email"]);
    usage(&[cert, "--name", "not a name"]);
    usage(&[cert, "--crl", cert, "--ocsp"]);
    usage(&[cert, "--crl", "missing.crl"]);
    usage(&[cert, "--root", "missing.pem"]);
    // Without --root and without a CA in the data directory there is nothing to trust.
    let empty = Env::new();
    let out = empty.run(&["cert", "verify", cert]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root"));
}

struct Crl {
    der: PathBuf,
    pem: PathBuf,
}

/// Downloads the CRL the certificate points to (DER, plus a PEM copy for openssl), until it
/// lists `serial` when one is given.
fn fetch_crl(cert: &Path, dir: &Path, serial: Option<&str>) -> Crl {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "crlDistributionPoints", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("URI:"))
        .unwrap()
        .to_string();
    let der = dir.join("current.crl");
    let pem = dir.join("current.crl.pem");
    let started = Instant::now();
    loop {
        let fetched = Command::new("curl")
            .args(["-fsS", "-o"])
            .arg(&der)
            .arg(&url)
            .status()
            .unwrap();
        assert!(fetched.success());
        let bytes = std::fs::read(&der).unwrap();
        let (_, crl) = x509_parser::parse_x509_crl(&bytes).unwrap();
        let listed = crl.iter_revoked_certificates().any(|entry| {
            Some(inkan_pki::Serial::from_be_bytes(entry.raw_serial()).to_string())
                == serial.map(str::to_string)
        });
        if serial.is_none() || listed {
            std::fs::write(&pem, der_to_pem("X509 CRL", &bytes)).unwrap();
            return Crl { der, pem };
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the CRL never listed {serial:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The revocation time the store recorded, as `inkan cert show --json` reports it.
fn ours_revoked_at(env: &Env, serial: &str) -> Value {
    let shown: Value = serde_json::from_str(&env.ok(&["cert", "show", serial, "--json"])).unwrap();
    Value::String(rfc3339(shown["revoked_at"].as_i64().unwrap()))
}

/// `openssl ocsp` against the responder the certificate names.
fn openssl_ocsp(env: &Env, cert: &Path) -> String {
    let url = Command::new("openssl")
        .args(["x509", "-noout", "-ocsp_uri", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let url = String::from_utf8(url.stdout).unwrap().trim().to_string();
    let out = Command::new("openssl")
        .args(["ocsp", "-issuer"])
        .arg(env.data.join("ca/issuing.pem"))
        .arg("-cert")
        .arg(cert)
        .args(["-url", &url, "-CAfile"])
        .arg(env.data.join("ca/chain.pem"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
