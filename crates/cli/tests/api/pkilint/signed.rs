//! One certificate of every profile, both CA certificates, CRLs and OCSP responses, linted;
//! then the whole chain verified by openssl with both CRLs.

use std::time::{Duration, Instant};

use inkan_pki::{crl_entry_count, CertificateInfo};

use super::*;
use crate::api::support::Server;

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
