//! Everything inkan signs, linted by pkilint (the DigiCert linter, from PyPI; `scripts/test`
//! installs it into `.venv-test`, or point `INKAN_PKILINT_BIN` at the directory holding its
//! `lint_*` commands): one certificate of every built-in profile (device, server with a P-256
//! and an RSA key, product, tpm from a real swtpm, admin), both CA certificates, empty and
//! non-empty CRLs of both CAs, and good and revoked OCSP responses. Any ERROR or FATAL finding
//! fails the test. Then `openssl verify -crl_check_all` checks the whole chain with both CRLs.

#[cfg(feature = "tpm")]
use inkan_test_support::swtpm;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use inkan_pki::{certs_from_pem, crl_entry_count, CertificateInfo};

use super::support::{repo_root, Env, Server};

/// The policy arc the test configures, so the OIDs are checked to come from the configuration.
const ARC: &str = "1.3.6.1.4.1.32473.42";

/// The directory holding pkilint's commands.
fn pkilint_dir() -> PathBuf {
    let dir = std::env::var_os("INKAN_PKILINT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-test/bin"));
    assert!(
        dir.join("lint_pkix_cert").exists(),
        "pkilint not found in {}: run scripts/test (it installs pkilint into .venv-test) or set \
         INKAN_PKILINT_BIN to the directory holding lint_pkix_cert",
        dir.display()
    );
    dir
}

/// Runs `<tool> lint <args> <file>` at severity ERROR and returns the finding codes, failing on
/// anything that is not a clean run or a list of findings (e.g. a document it cannot parse).
fn findings(tool: &str, args: &[&str], file: &Path) -> Vec<String> {
    let out = Command::new(pkilint_dir().join(tool))
        .arg("lint")
        .args(args)
        .args(["-s", "ERROR", "--document-format", "DER"])
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let found: Vec<String> = stdout
        .lines()
        .filter(|l| l.contains("(ERROR)") || l.contains("(FATAL)"))
        .map(|l| l.trim().to_string())
        .collect();
    assert!(
        out.status.success() || !found.is_empty(),
        "{tool} could not lint {}: {stdout}{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    found
}

/// Lints with the RFC 5280 (or RFC 6960) rules and asserts no ERROR or FATAL finding.
///
/// One exception, a limitation of pkilint rather than a defect of the certificate: pkilint
/// checks every uniformResourceIdentifier with a URL validator, so it reports the URN SANs by
/// which inkan names devices, products and TPM keys (`urn:inkan:device:<id>`) as
/// `pkix.invalid_uri_syntax`. RFC 5280 §4.2.1.6 asks for an absolute URI (RFC 3986) with a
/// scheme and a scheme-specific part, and RFC 8141 URNs are exactly that; such findings pass
/// only for values that are well-formed URNs.
fn assert_clean(tool: &str, args: &[&str], file: &Path) {
    let found: Vec<String> = findings(tool, args, file)
        .into_iter()
        .filter(|f| !is_urn_finding(f))
        .collect();
    assert!(
        found.is_empty(),
        "{tool} on {}:\n{}",
        file.display(),
        found.join("\n")
    );
}

/// Whether a finding is pkilint's URL check refusing a well-formed URN (RFC 8141:
/// `urn:<NID>:<NSS>`, NID 2-32 letters, digits and hyphens, NSS of URI characters).
fn is_urn_finding(finding: &str) -> bool {
    let Some(value) = finding
        .strip_prefix("pkix.invalid_uri_syntax (ERROR): Invalid URI syntax: \"")
        .and_then(|v| v.strip_suffix('"'))
    else {
        return false;
    };
    let Some((nid, nss)) = value
        .strip_prefix("urn:")
        .and_then(|rest| rest.split_once(':'))
    else {
        return false;
    };
    (2..=32).contains(&nid.len())
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nid.starts_with('-')
        && !nss.is_empty()
        && nss
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b))
}

fn write_der(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, der).unwrap();
    path
}

/// The first certificate of a PEM file, as DER.
fn first_cert(pem: &Path) -> Vec<u8> {
    certs_from_pem(&std::fs::read(pem).unwrap())
        .unwrap()
        .remove(0)
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Enrolls a CSR made by openssl (key `key_args`) on an EST label with curl; returns the DER leaf.
fn est_enroll(
    env: &Env,
    url: &str,
    label: &str,
    secret: &str,
    key_args: &[&str],
    subj: &str,
    san: Option<&str>,
) -> Vec<u8> {
    let dir = env.tmp.path();
    let csr = dir.join(format!("{label}.csr"));
    let mut req = Command::new("openssl");
    req.args(["req", "-new", "-nodes", "-outform", "DER", "-subj", subj])
        .args(key_args)
        .arg("-keyout")
        .arg(dir.join(format!("{label}.key")))
        .arg("-out")
        .arg(&csr);
    if let Some(san) = san {
        req.args(["-addext", &format!("subjectAltName={san}")]);
    }
    run_ok(&mut req);
    let b64 = base64_encode(&std::fs::read(&csr).unwrap());
    let b64_path = dir.join(format!("{label}.csr.b64"));
    std::fs::write(&b64_path, b64).unwrap();
    let body = run_ok(
        Command::new("curl")
            .args(["-fsS", "--cacert"])
            .arg(env.root_pem())
            .args(["-u", &format!("lint:{secret}")])
            .args(["-H", "Content-Type: application/pkcs10"])
            .arg("--data-binary")
            .arg(format!("@{}", b64_path.display()))
            .arg(format!("{url}/.well-known/est/{label}/simpleenroll")),
    );
    let der = base64_decode(&body);
    inkan_pki::certs_only_decode(&der).unwrap().remove(0)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .unwrap()
}

fn fetch(url: &str, out: &Path) {
    run_ok(Command::new("curl").args(["-fsS", "-o"]).arg(out).arg(url));
}

/// An OCSP response for `cert` from the authority, as openssl asks for it (no nonce, so the
/// pre-signed form is what is linted).
fn ocsp_response(env: &Env, http: &str, cert: &Path, out: &Path) -> String {
    run_ok(
        Command::new("openssl")
            .args(["ocsp", "-no_nonce", "-issuer"])
            .arg(env.data.join("ca/issuing.pem"))
            .arg("-cert")
            .arg(cert)
            .args(["-url", &format!("{http}/ocsp"), "-CAfile"])
            .arg(env.data.join("ca/chain.pem"))
            .arg("-respout")
            .arg(out),
    )
}

/// `openssl verify -crl_check_all` of `cert` with both CAs' CRLs; returns whether it verified and
/// what openssl said.
fn verify_all(env: &Env, cert: &Path, root_crl: &Path, issuing_crl: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["verify", "-crl_check_all", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(env.data.join("ca/issuing.pem"))
        .args(["-CRLfile"])
        .arg(root_crl)
        .args(["-CRLfile"])
        .arg(issuing_crl)
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

/// A real TPM (swtpm) when the `tpm` feature is built; without it the `tpm` profile, which only
/// TPM evidence reaches, is not linted.
#[cfg(feature = "tpm")]
struct Tpm(swtpm::Swtpm);
#[cfg(not(feature = "tpm"))]
struct Tpm;

impl Tpm {
    #[cfg(feature = "tpm")]
    fn start() -> Self {
        Self(swtpm::Swtpm::start())
    }

    #[cfg(not(feature = "tpm"))]
    fn start() -> Self {
        Self
    }

    /// The `[tpm]` section trusting the TPM's EK CA.
    #[cfg(feature = "tpm")]
    fn config(&self) -> String {
        format!(
            "[tpm]\nek_roots = [\"{}\", \"{}\"]\n",
            self.0.ek_root().display(),
            self.0.ek_issuer().display()
        )
    }

    #[cfg(not(feature = "tpm"))]
    fn config(&self) -> String {
        String::new()
    }

    /// A `tpm`-profile certificate for a key in the TPM, by `inkan agent enroll --tpm`.
    #[cfg(feature = "tpm")]
    fn enroll(&self, env: &Env, url: &str) -> Option<Vec<u8>> {
        let dir = env.tmp.path().join("tpm");
        let out = Command::new(super::support::binary())
            .args(["agent", "enroll", "--tpm", "--json", "--name", "tpm-lint"])
            .args(["--authority", url])
            .arg("--ca-file")
            .arg(env.root_pem())
            .arg("--out")
            .arg(&dir)
            .args(["--tcti", &self.0.tcti()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "agent enroll --tpm: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(first_cert(&dir.join("chain.pem")))
    }

    #[cfg(not(feature = "tpm"))]
    fn enroll(&self, _env: &Env, _url: &str) -> Option<Vec<u8>> {
        None
    }
}

fn pem_file(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, inkan_pki::der_to_pem("CERTIFICATE", der)).unwrap();
    path
}

fn crl_pem_file(der_path: &Path) -> PathBuf {
    let pem = der_path.with_extension("crl.pem");
    let der = std::fs::read(der_path).unwrap();
    std::fs::write(&pem, inkan_pki::der_to_pem("X509 CRL", &der)).unwrap();
    pem
}

#[test]
fn pkilint_finds_no_error_in_anything_inkan_signs() {
    let pkilint = pkilint_dir();
    let env = Env::new();
    let tpm = Tpm::start();
    std::fs::create_dir_all(&env.data).unwrap();
    // A deployment as an operator writes it: its own name for the revocation URLs and its own
    // policy arc; the TPM manufacturer's EK CA trusted.
    std::fs::write(
        env.data.join("inkan.toml"),
        format!(
            "[revocation]\nbase_url = \"http://ca.example.com:8080\"\n\n\
             [pki]\npolicy_arc = \"{ARC}\"\n\n\
             [profiles.server.names.allow]\ndns = [\"www.example.com\", \"rsa.example.com\"]\n\n{}",
            tpm.config()
        ),
    )
    .unwrap();
    env.ok(&["ca", "init"]);
    let device_secret = env.secret("device");
    let server_secret = env.secret("server");
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start_until(cmd, "revocation (CRL, OCSP) on http://");
    let http = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("revocation (CRL, OCSP) on "))
        .expect("no plain-HTTP revocation listener by default")
        .to_string();
    let url = server.url();
    let out = env.tmp.path().join("lint");
    std::fs::create_dir_all(&out).unwrap();

    // The CA certificates.
    let root_der = env.root_der();
    let issuing_der = first_cert(&env.data.join("ca/issuing.pem"));
    let issuer_id = CertificateInfo::parse(&issuing_der)
        .unwrap()
        .fingerprint_sha256;
    let mut certs = vec![
        ("root CA", write_der(&out, "root.der", &root_der)),
        ("issuing CA", write_der(&out, "issuing.der", &issuing_der)),
    ];

    // One certificate of every profile.
    let device = est_enroll(
        &env,
        &url,
        "device",
        &device_secret,
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=dev-lint",
        Some("URI:urn:example:dev-lint"),
    );
    let server_ec = est_enroll(
        &env,
        &url,
        "server",
        &server_secret,
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=www.example.com",
        Some("DNS:www.example.com"),
    );
    let server_rsa = est_enroll(
        &env,
        &url,
        "server",
        &server_secret,
        &["-newkey", "rsa:2048"],
        "/CN=rsa.example.com",
        Some("DNS:rsa.example.com"),
    );
    let product_dir = env.tmp.path().join("product");
    env.ok(&[
        "product",
        "create",
        "lint-product",
        "--out",
        product_dir.to_str().unwrap(),
    ]);
    let product = first_cert(&product_dir.join("product.pem"));
    let admin_dir = env.tmp.path().join("admin");
    env.ok(&[
        "admin",
        "cert",
        "create",
        "ops",
        "--out",
        admin_dir.to_str().unwrap(),
    ]);
    let admin = first_cert(&admin_dir.join("admin.pem"));
    let tpm_cert = tpm.enroll(&env, &url);
    for (profile, der, level) in [
        ("device", &device, 2),
        ("server", &server_ec, 2),
        ("server-rsa", &server_rsa, 2),
        ("product", &product, 2),
        ("admin", &admin, 3),
    ]
    .into_iter()
    .chain(tpm_cert.as_ref().map(|der| ("tpm", der, 3)))
    {
        // The level is written under the configured arc.
        let arc = ARC.parse().unwrap();
        let info = CertificateInfo::parse_with_arc(der, &arc).unwrap();
        assert_eq!(info.level, Some(level), "{profile}: policy {ARC}.{level}");
        certs.push((profile, write_der(&out, &format!("{profile}.der"), der)));
    }
    for (what, file) in &certs {
        assert!(file.exists(), "{what}");
        assert_clean("lint_pkix_cert", &[], file);
    }
    // Key usage per key type (RFC 5480): EC keys sign only; RSA keys may also encipher.
    let usage = |der: &[u8]| {
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        let ku = cert.key_usage().unwrap().unwrap().value;
        (ku.digital_signature(), ku.key_encipherment())
    };
    assert_eq!(usage(&server_ec), (true, false));
    assert_eq!(usage(&device), (true, false));
    assert_eq!(usage(&server_rsa), (true, true));
    // The TLS server certificates also against the CA/Browser Forum's Baseline Requirements,
    // less the one rule only a publicly trusted CA can meet: asserting the reserved CA/B policy
    // OID 2.23.140.1.2.1, which a private CA must not claim.
    for name in ["server.der", "server-rsa.der"] {
        let found: Vec<String> = findings(
            "lint_cabf_serverauth_cert",
            &["-t", "DV-FINAL-CERTIFICATE"],
            &out.join(name),
        )
        .into_iter()
        .filter(|f| !f.starts_with("cabf.serverauth.subscriber_missing_reserved_policy_oid"))
        .collect();
        assert!(
            found.is_empty(),
            "BR findings on {name}:\n{}",
            found.join("\n")
        );
    }

    // CRLs: both CAs' before any revocation (empty), served over plain HTTP.
    let root_crl = out.join("root.crl");
    fetch(&format!("{http}/crl/root.crl"), &root_crl);
    let empty_crl = out.join("issuing-empty.crl");
    fetch(&format!("{http}/crl/{issuer_id}.crl"), &empty_crl);
    assert_eq!(
        crl_entry_count(&std::fs::read(&empty_crl).unwrap()).unwrap(),
        0
    );
    for crl in [&root_crl, &empty_crl] {
        assert_clean("lint_crl", &["-t", "CRL", "-p", "PKIX"], crl);
    }

    // The whole chain checks with both CRLs; the issuing CA points at the root's CRL.
    let device_pem = pem_file(&out, "device.pem", &device);
    let (ok, said) = verify_all(
        &env,
        &device_pem,
        &crl_pem_file(&root_crl),
        &crl_pem_file(&empty_crl),
    );
    assert!(ok, "openssl verify -crl_check_all: {said}");
    let cdp = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-ext", "crlDistributionPoints", "-in"])
            .arg(env.data.join("ca/issuing.pem")),
    );
    assert!(
        cdp.contains("URI:http://ca.example.com:8080/crl/root.crl"),
        "{cdp}"
    );

    // OCSP: good, then revoked.
    let good = out.join("good.ocsp");
    let said = ocsp_response(&env, &http, &device_pem, &good);
    assert!(said.contains(": good"), "{said}");
    assert_clean("lint_ocsp_response", &[], &good);
    let serial = CertificateInfo::parse(&device).unwrap().serial;
    env.ok(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);
    let server_serial = CertificateInfo::parse(&server_ec).unwrap().serial;
    env.ok(&["cert", "revoke", &server_serial]);
    let revoked = out.join("revoked.ocsp");
    let started = Instant::now();
    loop {
        let said = ocsp_response(&env, &http, &device_pem, &revoked);
        if said.contains(": revoked") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "OCSP never said revoked: {said}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_clean("lint_ocsp_response", &[], &revoked);

    // A CRL with entries (one with a reason, one unspecified).
    let full_crl = out.join("issuing-full.crl");
    let started = Instant::now();
    loop {
        fetch(&format!("{http}/crl/{issuer_id}.crl"), &full_crl);
        if crl_entry_count(&std::fs::read(&full_crl).unwrap()).unwrap() == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the CRL never listed both revocations"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_clean("lint_crl", &["-t", "CRL", "-p", "PKIX"], &full_crl);
    let (ok, said) = verify_all(
        &env,
        &device_pem,
        &crl_pem_file(&root_crl),
        &crl_pem_file(&full_crl),
    );
    assert!(!ok && said.contains("revoked"), "{said}");
    drop(pkilint);
    server.terminate();
}
