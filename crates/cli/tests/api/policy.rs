//! Who may obtain what: each way an ordinary device could get a certificate it was not given
//! is refused with a typed reason naming the rule, and changes nothing (certificate count and
//! audit log); an operator's explicit grant works.

use inkan_client::{client_tls_config, ClientError, EstClient, EstCredentials};
use inkan_pki::{build_csr, certs_from_pem, CertificateInfo, GeneratedKey, KeyAlgorithm, San};

use super::support::{secret_credentials, Env, Server};

/// What must not change when a request is refused: certificates and the audit chain's head.
#[derive(Debug, PartialEq)]
struct State {
    certificates: usize,
    events: u64,
    head: String,
}

fn state(env: &Env) -> State {
    let audit: serde_json::Value =
        serde_json::from_str(&env.ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(audit["ok"], true, "{audit}");
    State {
        certificates: env.certificate_count(),
        events: audit["events_verified"].as_u64().unwrap(),
        head: audit["head"].to_string(),
    }
}

fn csr(cn: &str, sans: &[&str]) -> (GeneratedKey, Vec<u8>) {
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let der = build_csr(&key, cn, &sans).unwrap();
    (key, der)
}

/// The refusal's status and text.
fn refused(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Status { status, message } => (status, message),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn est(
    server: &Server,
    env: &Env,
    label: &str,
    client: Option<(Vec<Vec<u8>>, &GeneratedKey)>,
    credentials: EstCredentials,
) -> EstClient {
    let tls = client_tls_config(
        &[env.root_der()],
        client.map(|(chain, key)| (chain, key.pkcs8_der().to_vec())),
    )
    .unwrap();
    EstClient::connect(&server.url(), tls, Some(label.into()), credentials)
        .await
        .unwrap()
}

fn issuing(env: &Env) -> Vec<u8> {
    certs_from_pem(&std::fs::read(env.data.join("ca/issuing.pem")).unwrap())
        .unwrap()
        .remove(0)
}

/// A device certificate from the `device` label's secret: (chain, key).
async fn device_certificate(
    server: &Server,
    env: &Env,
    secret: &str,
    cn: &str,
) -> (Vec<Vec<u8>>, GeneratedKey) {
    let mut client = est(server, env, "device", None, secret_credentials(secret)).await;
    let (key, der) = csr(cn, &["urn:dev:1"]);
    let cert = client.simpleenroll(&der).await.unwrap();
    (vec![cert, issuing(env)], key)
}

#[tokio::test]
async fn a_device_certificate_gets_no_server_certificate_and_server_names_need_an_allow_list() {
    let (env, secret) = Env::with_ca();
    let server_secret = env.secret("server");
    let server = env.serve();
    let (chain, key) = device_certificate(&server, &env, &secret, "dev-1").await;
    let before = state(&env);

    // The device's own certificate on /server/simpleenroll, for a bank's name.
    let mut as_device = est(
        &server,
        &env,
        "server",
        Some((chain.clone(), &key)),
        EstCredentials::None,
    )
    .await;
    let (_, bank) = csr("bank.example.com", &["bank.example.com"]);
    let (status, why) = refused(as_device.simpleenroll(&bank).await.unwrap_err());
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("renew-only-itself"), "{why}");
    // Nor another subject on its own label.
    let mut own = est(
        &server,
        &env,
        "device",
        Some((chain, &key)),
        EstCredentials::None,
    )
    .await;
    let (_, ops) = csr("ops", &["urn:dev:1"]);
    let (status, why) = refused(own.simpleenroll(&ops).await.unwrap_err());
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("renewal-same-subject"), "{why}");

    // The server label's own secret: the default server profile allows no name at all.
    let mut with_secret = est(
        &server,
        &env,
        "server",
        None,
        secret_credentials(&server_secret),
    )
    .await;
    let (status, why) = refused(with_secret.simpleenroll(&bank).await.unwrap_err());
    assert_eq!(status, 403, "{why}");
    assert!(
        why.contains("profiles.server.names.allow.dns") && why.contains("name-policy-allow"),
        "{why}"
    );
    assert_eq!(state(&env), before);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn a_csr_cannot_claim_another_devices_identity() {
    let (env, secret) = Env::with_ca();
    let product_dir = env.tmp.path().join("cam");
    env.ok(&[
        "product",
        "create",
        "cam",
        "--out",
        product_dir.to_str().unwrap(),
    ]);
    let server = env.serve();
    // A real device of product cam, registered with its ProductCert.
    let unit = env.tmp.path().join("unit");
    env.ok(&[
        "agent",
        "enroll",
        "--authority",
        &server.url(),
        "--ca-file",
        env.root_pem().to_str().unwrap(),
        "--bootstrap",
        product_dir.join("product.pem").to_str().unwrap(),
        "--bootstrap-key",
        product_dir.join("product.key").to_str().unwrap(),
        "--out",
        unit.to_str().unwrap(),
    ]);
    let victim = CertificateInfo::parse(
        &certs_from_pem(&std::fs::read(unit.join("device.pem")).unwrap()).unwrap()[0],
    )
    .unwrap();
    let identifiers: Vec<String> = victim
        .sans
        .iter()
        .filter_map(|s| match s {
            San::Uri(u) if u.starts_with("urn:inkan:") => Some(u.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(identifiers.len(), 2, "{:?}", victim.sans);
    let before = state(&env);

    // The ordinary device secret with a CSR naming that device and its product: no
    // certificate, so no gateway route allowing that device can be reached with it.
    let mut client = est(&server, &env, "device", None, secret_credentials(&secret)).await;
    let claimed: Vec<&str> = identifiers.iter().map(String::as_str).collect();
    let (_, der) = csr("impostor", &claimed);
    let (status, why) = refused(client.simpleenroll(&der).await.unwrap_err());
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("inkan-identifiers-from-authority"), "{why}");
    assert!(
        why.contains(&identifiers[0]) || why.contains(&identifiers[1]),
        "{why}"
    );
    // The registry path refuses it too, before registering anything.
    let (_, der) = csr("impostor", &claimed);
    let body = serde_json::json!({
        "csr": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der),
    });
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .arg("--cert")
        .arg(product_dir.join("product.pem"))
        .arg("--key")
        .arg(product_dir.join("product.key"))
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body.to_string())
        .arg(format!("{}/v1/devices", server.url()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim_end().ends_with("403"), "{text}");
    assert!(text.contains("inkan-identifiers-from-authority"), "{text}");
    assert_eq!(state(&env), before);
    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["device", "list", "--json"])).unwrap();
    assert_eq!(devices.len(), 1);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn product_admin_and_tpm_profiles_are_unreachable_by_est_secrets() {
    let (env, secret) = Env::with_ca();
    let before = state(&env);
    for label in ["product", "admin", "tpm"] {
        let out = env.run(&["est", "secret", "create", label]);
        assert_eq!(out.status.code(), Some(1), "{label}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("EST cannot reach"), "{label}: {err}");
        assert!(out.stdout.is_empty(), "no secret is printed");
    }
    // Nor through a label that maps to one.
    std::fs::write(
        env.data.join("inkan.toml"),
        "[est.labels]\nmakers = \"product\"\n",
    )
    .unwrap();
    let out = env.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("est.labels.makers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(env.data.join("inkan.toml")).unwrap();
    assert_eq!(state(&env), before);

    // At issuance: the product label refuses, whatever the credentials.
    let server = env.serve();
    let before = state(&env);
    let mut client = est(&server, &env, "product", None, secret_credentials(&secret)).await;
    let (_, der) = csr("anything", &[]);
    let (status, why) = refused(client.simpleenroll(&der).await.unwrap_err());
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("EST cannot reach"), "{why}");
    assert_eq!(state(&env), before);
    assert!(server.terminate().success());
}

#[test]
fn a_level_3_profile_behind_an_est_label_is_refused_at_config_load() {
    let (env, _) = Env::with_ca();
    let before = state(&env);
    for (config, key) in [
        (
            "[est.labels]\nhigh = \"x\"\n[profiles.x]\nbase = \"device\"\nlevel = 3\n",
            "est.labels.high",
        ),
        (
            "[profiles.x]\nbase = \"device\"\nlevel = 3\n",
            "profiles.x.level",
        ),
        ("[profiles.device]\nlevel = 3\n", "profiles.device.level"),
    ] {
        std::fs::write(env.data.join("inkan.toml"), config).unwrap();
        let out = env.run(&["serve", "--listen", "127.0.0.1:0"]);
        assert_eq!(out.status.code(), Some(1), "{config}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{config}: {err}");
        assert!(err.contains("at most level 2"), "{config}: {err}");
    }
    std::fs::remove_file(env.data.join("inkan.toml")).unwrap();
    assert_eq!(state(&env), before);
}

#[tokio::test]
async fn simplereenroll_keeps_the_subject_and_names() {
    let (env, secret) = Env::with_ca();
    let server = env.serve();
    let (chain, key) = device_certificate(&server, &env, &secret, "dev-1").await;
    let before = state(&env);
    let mut renew = est(
        &server,
        &env,
        "device",
        Some((chain, &key)),
        EstCredentials::None,
    )
    .await;
    for (cn, sans, rule) in [
        ("dev-2", &["urn:dev:1"][..], "renewal-same-subject"),
        ("dev-1", &["urn:dev:2"][..], "renewal-same-names"),
        (
            "dev-1",
            &["urn:dev:1", "extra.example.com"][..],
            "renewal-same-names",
        ),
        ("dev-1", &[][..], "renewal-same-names"),
    ] {
        let (_, der) = csr(cn, sans);
        let (status, why) = refused(renew.simplereenroll(&der).await.unwrap_err());
        assert_eq!(status, 403, "{cn} {sans:?}: {why}");
        assert!(why.contains(rule), "{cn} {sans:?}: {why}");
    }
    assert_eq!(state(&env), before);
    // The same subject and names renew.
    let (_, der) = csr("dev-1", &["urn:dev:1"]);
    renew.simplereenroll(&der).await.unwrap();
    assert_eq!(state(&env).certificates, before.certificates + 1);
    assert!(server.terminate().success());
}

/// "Devices of product cam may get client certificates under *.fleet.example.com, level 2."
const FLEET: &str = r#"
[profiles.fleet]
base = "device"                      # a client certificate, like the device profile
san = ["dns", "uri"]
[profiles.fleet.names.allow]
dns = ["*.fleet.example.com"]

[est.labels.fleet]
profile = "fleet"
holders = ["device"]                 # authenticated by their device certificate
products = ["cam"]                   # of product cam only
"#;

#[tokio::test]
async fn an_operator_lets_devices_of_one_product_enroll_under_a_fleet_domain() {
    let (env, _) = Env::with_ca();
    std::fs::write(env.data.join("inkan.toml"), FLEET).unwrap();
    let mut units = Vec::new();
    for product in ["cam", "door"] {
        let dir = env.tmp.path().join(product);
        env.ok(&["product", "create", product, "--out", dir.to_str().unwrap()]);
        units.push(dir);
    }
    let server = env.serve();
    let mut chains = Vec::new();
    for product_dir in &units {
        let unit = product_dir.join("unit");
        env.ok(&[
            "agent",
            "enroll",
            "--authority",
            &server.url(),
            "--ca-file",
            env.root_pem().to_str().unwrap(),
            "--bootstrap",
            product_dir.join("product.pem").to_str().unwrap(),
            "--bootstrap-key",
            product_dir.join("product.key").to_str().unwrap(),
            "--out",
            unit.to_str().unwrap(),
        ]);
        let chain = certs_from_pem(&std::fs::read(unit.join("device.pem")).unwrap()).unwrap();
        let key = GeneratedKey::from_pem(
            &std::fs::read_to_string(unit.join("device.key")).unwrap(),
            None,
        )
        .unwrap();
        chains.push((chain, key));
    }
    let (cam_chain, cam_key) = &chains[0];
    let cam_device = CertificateInfo::parse(&cam_chain[0]).unwrap();

    let mut fleet = est(
        &server,
        &env,
        "fleet",
        Some((cam_chain.clone(), cam_key)),
        EstCredentials::None,
    )
    .await;
    let (_, der) = csr("unit-1", &["unit-1.fleet.example.com"]);
    let cert = CertificateInfo::parse(&fleet.simpleenroll(&der).await.unwrap()).unwrap();
    assert_eq!(cert.level, Some(2));
    assert!(cert
        .sans
        .contains(&San::Dns("unit-1.fleet.example.com".into())));
    // The device's verified identity follows it into the new certificate.
    for id in cam_device
        .sans
        .iter()
        .filter(|s| s.value().starts_with("urn:inkan:"))
    {
        assert!(cert.sans.contains(id), "{:?}", cert.sans);
    }
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["cert", "show", &cert.serial, "--json"])).unwrap();
    assert_eq!(shown["profile"], "fleet");
    assert_eq!(shown["method"], "client-cert");

    let before = state(&env);
    // Outside the fleet domain.
    let (_, der) = csr("unit-1", &["bank.example.com"]);
    let (status, why) = refused(fleet.simpleenroll(&der).await.unwrap_err());
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("profiles.fleet.names.allow.dns"), "{why}");
    // A device of another product.
    let (door_chain, door_key) = &chains[1];
    let mut door = est(
        &server,
        &env,
        "fleet",
        Some((door_chain.clone(), door_key)),
        EstCredentials::None,
    )
    .await;
    let (_, der) = csr("door-1", &["door-1.fleet.example.com"]);
    let (status, why) = refused(door.simpleenroll(&der).await.unwrap_err());
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("label-holder-products"), "{why}");
    assert_eq!(state(&env), before);

    // `inkan ca show` reports the policy.
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["ca", "show", "--json"])).unwrap();
    let fleet_profile = &shown["profiles"]["fleet"];
    assert_eq!(fleet_profile["level"], 2);
    assert_eq!(
        fleet_profile["names"]["allow"]["dns"][0],
        "*.fleet.example.com"
    );
    assert_eq!(shown["est_labels"]["fleet"]["holders"][0], "device");
    assert!(server.terminate().success());
}
