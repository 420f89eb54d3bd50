//! `inkan agent`: units flashed with one ProductCert (PKCS#12) enroll as separate processes,
//! each with its own key and DeviceCert, and renew with it.

use std::process::{Command, Stdio};

use inkan_pki::{certs_from_pem, CertificateInfo};

use super::support::{Env, Server};

fn serve(env: &Env) -> Server {
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    Server::start(cmd)
}

fn leaf(path: &std::path::Path) -> CertificateInfo {
    let pem = std::fs::read(path).unwrap();
    CertificateInfo::parse(&certs_from_pem(&pem).unwrap()[0]).unwrap()
}

#[test]
fn ten_units_enroll_with_one_pkcs12_product_bundle_and_renew() {
    let (env, _) = Env::with_ca();
    let pass = env.tmp.path().join("p12.pass");
    std::fs::write(&pass, "flash-line-secret\n").unwrap();
    let dir = env.tmp.path().join("clock");
    env.ok(&[
        "product",
        "create",
        "clock",
        "--attributes",
        "serial",
        "--device-validity",
        "30d",
        "--out",
        dir.to_str().unwrap(),
        "--p12-passphrase-file",
        pass.to_str().unwrap(),
    ]);
    let p12 = dir.join("product.p12");
    // OpenSSL reads the bundle: certificate chain and key under the passphrase.
    let out = Command::new("openssl")
        .args(["pkcs12", "-in", p12.to_str().unwrap(), "-nodes", "-passin"])
        .arg(format!("file:{}", pass.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2, "{text}");
    assert!(text.contains("BEGIN PRIVATE KEY"), "{text}");
    let product_serial = leaf(&dir.join("product.pem")).serial;

    let server = serve(&env);
    // Ten units, each its own process, flashed with the same bundle.
    let children: Vec<_> = (0..10)
        .map(|i| {
            env.command(&[
                "agent",
                "enroll",
                "--authority",
                &server.url(),
                "--ca-file",
                env.root_pem().to_str().unwrap(),
                "--bootstrap",
                p12.to_str().unwrap(),
                "--bootstrap-passphrase-file",
                pass.to_str().unwrap(),
                "--info",
                &format!("serial=SN-{i:04}"),
                "--out",
                env.tmp.path().join(format!("unit-{i}")).to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..10 {
        let unit = env.tmp.path().join(format!("unit-{i}"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(unit.join("device.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let cert = leaf(&unit.join("device.pem"));
        // Named by the random device id only: no hardware serial, nothing of the ProductCert.
        let pem = std::fs::read_to_string(unit.join("device.pem")).unwrap();
        assert!(!cert.subject.contains("SN-"), "{}", cert.subject);
        assert!(!pem.contains("PRIVATE KEY"));
        assert_ne!(cert.serial, product_serial);
        assert!(cert.not_after - cert.not_before <= 30 * 86_400 + 3600);
        ids.insert(cert.subject.clone());
        // The chain verifies with openssl as a TLS client certificate.
        let out = Command::new("openssl")
            .args(["verify", "-purpose", "sslclient", "-CAfile"])
            .arg(env.root_pem())
            .arg("-untrusted")
            .arg(unit.join("device.pem"))
            .arg(unit.join("device.pem"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_eq!(ids.len(), 10);
    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["device", "list", "--product", "clock", "--json"])).unwrap();
    assert_eq!(devices.len(), 10);
    assert!(devices.iter().all(|d| d["attributes"]["serial"]
        .as_str()
        .unwrap()
        .starts_with("SN-")));

    // Renewal: not due yet, then forced; same key, same names, the product's validity.
    let unit0 = env.tmp.path().join("unit-0");
    let before = leaf(&unit0.join("device.pem"));
    let out = env.ok(&["agent", "renew", "--dir", unit0.to_str().unwrap()]);
    assert!(out.contains("not due"), "{out}");
    assert_eq!(leaf(&unit0.join("device.pem")).serial, before.serial);
    let out = env.ok(&[
        "agent",
        "renew",
        "--dir",
        unit0.to_str().unwrap(),
        "--force",
    ]);
    assert!(out.contains("renewed"), "{out}");
    let after = leaf(&unit0.join("device.pem"));
    assert_ne!(after.serial, before.serial);
    assert_eq!(after.subject, before.subject);
    assert_eq!(after.spki_sha256, before.spki_sha256);
    assert!(after.not_after - after.not_before <= 30 * 86_400 + 3600);
    let device_id = before.subject.trim_start_matches("CN=").to_string();
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["device", "show", &device_id, "--json"])).unwrap();
    assert_eq!(shown["certificates"].as_array().unwrap().len(), 2);

    // A disabled device can no longer renew (403), and nothing is issued.
    env.ok(&["device", "disable", &device_id]);
    let count = env.certificate_count();
    let out = env.run(&[
        "agent",
        "renew",
        "--dir",
        unit0.to_str().unwrap(),
        "--force",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("403") && err.contains("disabled"), "{err}");
    assert_eq!(env.certificate_count(), count);
    env.ok(&["device", "enable", &device_id]);
    env.ok(&[
        "agent",
        "renew",
        "--dir",
        unit0.to_str().unwrap(),
        "--force",
    ]);

    // Re-running enrollment after a lost response returns the same device (same key on disk).
    let out = env.ok(&[
        "agent",
        "enroll",
        "--authority",
        &server.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--bootstrap",
        dir.join("product.pem").to_str().unwrap(),
        "--bootstrap-key",
        dir.join("product.key").to_str().unwrap(),
        "--out",
        unit0.to_str().unwrap(),
    ]);
    assert!(out.contains(&device_id), "{out}");

    // A wrong passphrase is a clear error, and nothing is registered.
    std::fs::write(&pass, "not-the-passphrase\n").unwrap();
    let out = env.run(&[
        "agent",
        "enroll",
        "--authority",
        &server.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--bootstrap",
        p12.to_str().unwrap(),
        "--bootstrap-passphrase-file",
        pass.to_str().unwrap(),
        "--out",
        env.tmp.path().join("unit-x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
}
