//! End to end with a real TPM 2.0 (swtpm with an EK certificate from its local CA): the authority
//! trusts that CA (`[tpm] ek_roots`), `inkan agent enroll --tpm` gets a level-3 certificate for a
//! key inside the TPM, and `inkan agent proxy --tpm` reaches a gateway route that requires level 3
//! and the authority's attestation record with it.
//!
//! Written against the shared wire contract of `/v1/tpm/*`; it needs the authority's TPM
//! endpoints (built in parallel) to pass.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use inkan_test_support::swtpm::Swtpm;
use inkan_test_support::upstream::{header, Upstream};
use x509_parser::prelude::*;

use super::support::{binary, repo_root, Env};

/// Level 3 under the default policy arc (`pki.policy_arc`).
const LEVEL_3_OID: &str = "1.3.6.1.4.1.32473.1.3";

/// A running `inkan agent proxy`; killed when dropped.
pub(super) struct Proxy {
    child: Child,
    addr: String,
}

impl Proxy {
    pub(super) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .args(["agent", "proxy", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("INKAN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("proxy did not start: {line:?}"))
            .to_string();
        std::thread::spawn(move || for _ in reader.lines() {});
        Self { child, addr }
    }

    pub(super) fn get(&self, path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}"])
            .arg(format!("http://{}{path}", self.addr))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tpm_enrollment_issues_level_3_and_the_proxy_authenticates_with_the_tpm_key() {
    let (env, _) = Env::with_ca();
    let swtpm = Swtpm::start();
    let authority = super::support::tpm_authority(&env, &swtpm);

    // Enroll.
    let out_dir = env.tmp.path().join("tpm");
    let out = Command::new(binary())
        .args(["agent", "enroll", "--tpm", "--json", "--name", "tpm-e2e"])
        .args(["--authority", &authority.url()])
        .arg("--ca-file")
        .arg(env.root_pem())
        .arg("--out")
        .arg(&out_dir)
        .args(["--tcti", &swtpm.tcti()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "agent enroll --tpm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["level"], 3);
    let serial = summary["serial"].as_str().unwrap().to_string();

    // The certificate: level 3, client auth, CN from the CSR, SAN with the key name, chains to
    // the root (openssl as the independent verifier).
    let chain_path = out_dir.join("chain.pem");
    let chain = inkan_pki::certs_from_pem(&std::fs::read(&chain_path).unwrap()).unwrap();
    assert_eq!(chain.len(), 2, "leaf and issuing CA");
    let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
    let parsed = inkan_pki::CertificateInfo::parse(&chain[0]).unwrap();
    assert_eq!(parsed.level, Some(3), "policy {LEVEL_3_OID}");
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth);
    assert!(leaf.subject().to_string().contains("tpm-e2e"));
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("tpm-key.json")).unwrap()).unwrap();
    let key_name = info["key_name"].as_str().unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap().value;
    assert!(
        san.general_names.iter().any(|n| matches!(n,
            GeneralName::URI(u) if *u == format!("urn:inkan:tpm:{}", &key_name[..32]))),
        "{san:?}"
    );
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(&chain_path)
        .arg(&chain_path)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // A second enrollment at the same handle is refused before anything is asked.
    let again = Command::new(binary())
        .args(["agent", "enroll", "--tpm", "--authority", &authority.url()])
        .arg("--ca-file")
        .arg(env.root_pem())
        .arg("--out")
        .arg(env.tmp.path().join("tpm2"))
        .args(["--tcti", &swtpm.tcti()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in use"));

    // A gateway route that requires level 3, in front of an echo upstream.
    let upstream = Upstream::start();
    let gateway = super::support::gateway(
        &env,
        &authority,
        &format!(
            "[[route]]\npath = \"/l3\"\nupstreams = [\"http://127.0.0.1:{}\"]\nmin_level = 3\n",
            upstream.port
        ),
    );
    let gateway_port = gateway.addr.rsplit(':').next().unwrap().to_string();

    // Through the proxy with the TPM key (handle and TCTI from tpm-key.json).
    let proxy = Proxy::start(&[
        "--tpm",
        "--upstream",
        &format!("https://localhost:{gateway_port}"),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--cert",
        chain_path.to_str().unwrap(),
    ]);
    for _ in 0..3 {
        // Several requests: keep-alive upstream connections reuse one handshake.
        let (code, body) = proxy.get("/l3/hello?x=1");
        assert_eq!(code, 200, "{body}");
        let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(echo["path"], "/l3/hello?x=1");
        assert_eq!(header(&echo, "x-inkan-level"), ["3"]);
        assert_eq!(header(&echo, "x-inkan-serial"), [serial.as_str()]);
    }
    drop(proxy);

    // curl alone, with Debian's tpm2-openssl provider signing in the TPM: the same route passes.
    let curl = Command::new(repo_root().join("scripts/tpm-curl"))
        .arg("--dir")
        .arg(&out_dir)
        .arg("--cacert")
        .arg(env.root_pem())
        .arg(format!("https://localhost:{gateway_port}/l3/curl"))
        .output()
        .unwrap();
    assert!(
        curl.status.success(),
        "tpm-curl failed: {}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let echo: serde_json::Value = serde_json::from_slice(&curl.stdout).unwrap();
    assert_eq!(header(&echo, "x-inkan-level"), ["3"]);
    assert_eq!(header(&echo, "x-inkan-serial"), [serial.as_str()]);
    // A software-key device certificate (level 2) is refused on the level-3 route.
    let soft = env.tmp.path().join("soft");
    std::fs::create_dir_all(&soft).unwrap();
    let secret = env.secret("device");
    let script = format!(
        "set -euo pipefail; cd {dir}; \
         openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem \
           -subj /CN=soft -outform DER 2>/dev/null | base64 > csr.b64; \
         curl -fsS --cacert {root} -u x:{secret} -H 'Content-Type: application/pkcs10' \
           --data-binary @csr.b64 {url}/.well-known/est/simpleenroll | base64 -d \
           | openssl pkcs7 -inform DER -print_certs -out c.pem; \
         curl -sS -o /dev/null -w '%{{http_code}}' --cacert {root} --cert c.pem --key k.pem \
           https://localhost:{gateway_port}/l3/soft",
        dir = soft.display(),
        root = env.root_pem().display(),
        url = authority.url(),
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "403",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Upstream down: a clear 502 from the proxy.
    let proxy = Proxy::start(&[
        "--tpm",
        "--upstream",
        &format!("https://localhost:{gateway_port}"),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--cert",
        chain_path.to_str().unwrap(),
    ]);
    assert_eq!(proxy.get("/l3/hello").0, 200);
    drop(gateway);
    let (code, body) = proxy.get("/l3/hello");
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("upstream"), "{body}");
    drop(proxy);

    // The authority's attestation record, read by the holder over mTLS through the proxy.
    let proxy = Proxy::start(&[
        "--tpm",
        "--upstream",
        &authority.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--cert",
        chain_path.to_str().unwrap(),
    ]);
    let (code, body) = proxy.get(&format!("/v1/certificates/{serial}/attestation"));
    assert_eq!(code, 200, "{body}");
    let record: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["method"], "tpm2");
    assert_eq!(record["key_name"], key_name);
    for check in [
        "ek-chain",
        "credential-activated",
        "certify-signature",
        "key-fixed-tpm",
    ] {
        assert!(
            record["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == check),
            "{check} missing in {record}"
        );
    }
    drop(proxy);

    // The key is the TPM's: tpm2_readpublic shows fixedTPM on the persisted handle.
    let readpublic = Command::new("tpm2_readpublic")
        .args(["-c", "0x81000101"])
        .env("TPM2TOOLS_TCTI", swtpm.tcti())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&readpublic.stdout);
    assert!(text.contains("fixedtpm") && text.contains("sign"), "{text}");

    drop(upstream);
    authority.terminate();
}
