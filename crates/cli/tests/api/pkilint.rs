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

use inkan_pki::certs_from_pem;

use super::support::{repo_root, Env};

mod signed;

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
