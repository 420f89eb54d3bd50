//! The admin commands and the scripting contract: JSON output, exit codes, refusals.

use std::process::Command;

use super::support::Env;

#[test]
fn ca_init_show_and_refusal_to_overwrite() {
    let env = Env::new();
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["ca", "init", "--name", "Acme", "--json"])).unwrap();
    assert_eq!(shown["root"]["subject"], "O=Acme,CN=Acme Root CA");
    assert_eq!(shown["issuing"]["subject"], "O=Acme,CN=Acme Issuing CA");
    assert_eq!(
        shown["root"]["sha256_fingerprint"].as_str().unwrap().len(),
        64
    );
    let root_path = shown["root"]["cert_path"].as_str().unwrap();
    let key_path = shown["issuing"]["key_path"].as_str().unwrap();

    // openssl agrees on the fingerprint and the chain
    let fp = Command::new("openssl")
        .args([
            "x509",
            "-in",
            root_path,
            "-noout",
            "-fingerprint",
            "-sha256",
        ])
        .output()
        .unwrap();
    let fp = String::from_utf8(fp.stdout)
        .unwrap()
        .replace(':', "")
        .to_lowercase();
    assert!(fp.contains(shown["root"]["sha256_fingerprint"].as_str().unwrap()));
    let chain = shown["chain_path"].as_str().unwrap();
    let ok = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            root_path,
            shown["issuing"]["cert_path"].as_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(
        std::fs::read_to_string(chain)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count()
            == 2
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let again = env.run(&["ca", "init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn other_algorithms() {
    for alg in ["p384", "ed25519", "rsa3072"] {
        let env = Env::new();
        let shown: serde_json::Value =
            serde_json::from_str(&env.ok(&["ca", "init", "--algorithm", alg, "--json"])).unwrap();
        let ok = Command::new("openssl")
            .args([
                "verify",
                "-CAfile",
                shown["root"]["cert_path"].as_str().unwrap(),
                shown["issuing"]["cert_path"].as_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(ok.success(), "{alg}");
    }
    let env = Env::new();
    let out = env.run(&["ca", "init", "--algorithm", "dsa"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("p256"));
}

#[test]
fn an_encrypted_ca_needs_its_passphrase_to_serve() {
    let env = Env::new();
    let pass = env.tmp.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    env.ok(&["ca", "init", "--passphrase-file", pass.to_str().unwrap()]);
    let key = std::fs::read_to_string(env.data.join("ca/issuing.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

    let out = env.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("passphrase"));

    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_CA_PASSPHRASE", "correct horse battery staple");
    let server = super::support::Server::start(cmd);
    assert!(server.terminate().success());
}

#[test]
fn usage_errors_exit_2_and_missing_state_exits_1_with_advice() {
    let env = Env::new();
    assert_eq!(env.run(&["no-such-command"]).status.code(), Some(2));
    let out = env.run(&["cert", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inkan ca init"));
    let out = env.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inkan ca init"));
}

#[test]
fn est_secret_create_prints_the_secret_last_and_checks_the_label() {
    let env = Env::new();
    env.ok(&["ca", "init"]);
    let out = env.ok(&["est", "secret", "create", "device"]);
    assert_eq!(out.lines().count(), 1);
    assert_eq!(out.trim().len(), 43);
    let bad = env.run(&["est", "secret", "create", "nosuch"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown EST label"));
}

#[tokio::test]
async fn cert_list_show_and_audit_verify_detects_tampering() {
    let (env, secret) = Env::with_ca();
    let server = env.serve();
    let mut est = server
        .est(&env, super::support::secret_credentials(&secret))
        .await;
    let key = inkan_pki::GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256).unwrap();
    let cert = est
        .simpleenroll(&inkan_pki::build_csr(&key, "listed", &[]).unwrap())
        .await
        .unwrap();
    let serial = inkan_pki::CertificateInfo::parse(&cert).unwrap().serial;
    assert!(server.terminate().success());

    let table = env.ok(&["cert", "list"]);
    assert!(table.starts_with("SERIAL"));
    assert!(table.contains(&serial) && table.contains("CN=listed"));
    let pem = env.ok(&["cert", "show", &serial.to_uppercase(), "--pem"]);
    assert_eq!(inkan_pki::certs_from_pem(pem.as_bytes()).unwrap()[0], cert);
    let missing = env.run(&["cert", "show", "abcdef"]);
    assert_eq!(missing.status.code(), Some(1));

    let verified: serde_json::Value =
        serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verified["ok"], true);
    assert!(verified["events_verified"].as_i64().unwrap() >= 5);

    // Edit one event's actor with an independent SQLite client.
    let db = env.data.join("inkan.db");
    let edit = format!(
        "import sqlite3; c=sqlite3.connect('{}'); c.execute(\"UPDATE audit_events SET actor='mallory' WHERE seq=3\"); c.commit()",
        db.display()
    );
    assert!(Command::new("python3")
        .args(["-c", &edit])
        .status()
        .unwrap()
        .success());
    let out = env.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken at event 3"));

    // Deleting an event breaks the chain too.
    let (env2, _) = Env::with_ca();
    env2.secret("device");
    let db = env2.data.join("inkan.db");
    let delete = format!(
        "import sqlite3; c=sqlite3.connect('{}'); c.execute('DELETE FROM audit_events WHERE seq=1'); c.commit()",
        db.display()
    );
    assert!(Command::new("python3")
        .args(["-c", &delete])
        .status()
        .unwrap()
        .success());
    let out = env2.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}
