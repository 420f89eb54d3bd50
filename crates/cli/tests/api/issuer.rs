//! The registry reaches its CA through an `Issuer`: in-process by default (the other tests), or
//! an EST client to a separate authority — the device-management / certificate-management split.

use inkan_pki::{certs_from_pem, CertificateInfo};

use super::support::{Env, Server};

#[test]
fn a_registry_gets_device_certificates_from_a_separate_authority_over_est() {
    // The certificate-management server: a CA with an EST label for the registry.
    let (ca_env, secret) = Env::with_ca();
    let mut cmd = ca_env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let ca_server = Server::start(cmd);

    // The device-management server: products and devices, no device issuance of its own.
    let (registry_env, _) = Env::with_ca();
    let secret_file = registry_env.tmp.path().join("ra.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    std::fs::write(
        registry_env.data.join("inkan.toml"),
        format!(
            "[device_issuer]\nest_url = \"{}\"\nlabel = \"device\"\nca_file = \"{}\"\nsecret_file = \"{}\"\n",
            ca_server.url(),
            ca_env.root_pem().display(),
            secret_file.display()
        ),
    )
    .unwrap();
    let product_dir = registry_env.tmp.path().join("cam");
    registry_env.ok(&[
        "product",
        "create",
        "cam",
        "--out",
        product_dir.to_str().unwrap(),
    ]);
    let mut cmd = registry_env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let registry = Server::start(cmd);

    let unit = registry_env.tmp.path().join("unit");
    registry_env.ok(&[
        "agent",
        "enroll",
        "--authority",
        &registry.url(),
        "--ca-file",
        registry_env.root_pem().to_str().unwrap(),
        "--bootstrap",
        product_dir.join("product.pem").to_str().unwrap(),
        "--bootstrap-key",
        product_dir.join("product.key").to_str().unwrap(),
        "--out",
        unit.to_str().unwrap(),
    ]);
    let chain = certs_from_pem(&std::fs::read(unit.join("device.pem")).unwrap()).unwrap();
    let leaf = CertificateInfo::parse(&chain[0]).unwrap();
    // Issued by the separate CA, which recorded it (EST secret of its label)...
    let ca_issuing = CertificateInfo::parse(
        &certs_from_pem(&std::fs::read(ca_env.data.join("ca/issuing.pem")).unwrap()).unwrap()[0],
    )
    .unwrap();
    assert_eq!(leaf.issuer, ca_issuing.subject);
    let shown: serde_json::Value =
        serde_json::from_str(&ca_env.ok(&["cert", "show", &leaf.serial, "--json"])).unwrap();
    assert_eq!(shown["method"], "est-secret");
    // ...the chain verifies against that CA's root...
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(ca_env.root_pem())
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
    // ...and the registry maps it to the device, naming the issuer.
    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&registry_env.ok(&["device", "list", "--json"])).unwrap();
    assert_eq!(devices.len(), 1);
    let id = devices[0]["id"].as_str().unwrap();
    let shown: serde_json::Value =
        serde_json::from_str(&registry_env.ok(&["device", "show", id, "--json"])).unwrap();
    let certs = shown["certificates"].as_array().unwrap();
    assert_eq!(certs[0]["serial"], leaf.serial.as_str());
    assert!(certs[0]["issuer"]
        .as_str()
        .unwrap()
        .starts_with(&ca_server.url()));
    // The registry did not issue it itself.
    assert!(registry_env
        .ok(&["cert", "list"])
        .find(&leaf.serial)
        .is_none());

    // A registry that cannot trust its issuer refuses to start, saying why.
    std::fs::write(
        registry_env.data.join("inkan.toml"),
        format!(
            "[device_issuer]\nest_url = \"{}\"\nlabel = \"device\"\nca_file = \"{}\"\nsecret_file = \"{}\"\n",
            ca_server.url(),
            registry_env.root_pem().display(),
            secret_file.display()
        ),
    )
    .unwrap();
    let out = registry_env.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("device issuer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
