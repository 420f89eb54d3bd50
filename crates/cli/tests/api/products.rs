//! Products and devices: a ProductCert bootstraps each unit's own DeviceCert over EST.

use std::process::Command;

use inkan_client::EstCredentials;
use inkan_pki::{build_csr, certs_from_pem, CertificateInfo, GeneratedKey, KeyAlgorithm};

use super::support::{Env, Server};

fn create_product(
    env: &Env,
    name: &str,
    extra: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = env.tmp.path().join(name);
    let mut args = vec![
        "product",
        "create",
        name,
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out: serde_json::Value = serde_json::from_str(&env.ok(&args)).unwrap();
    (
        out["cert_path"].as_str().unwrap().into(),
        out["key_path"].as_str().unwrap().into(),
    )
}

/// A unit's first boot, with curl and openssl only: its own key, the shared ProductCert.
fn register_with_curl(
    env: &Env,
    server: &Server,
    cert: &std::path::Path,
    key: &std::path::Path,
    unit: &str,
) -> (u16, String) {
    let work = env.tmp.path().join(unit);
    std::fs::create_dir_all(&work).unwrap();
    let script = format!(
        "set -euo pipefail; cd {w}; \
         openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout unit.key \
           -subj /CN=SN-{unit} -outform DER 2>/dev/null | base64 > unit.csr; \
         code=$(curl -sS -o resp.b64 -w '%{{http_code}}' --cacert {root} --cert {cert} --key {key} \
           -H 'Content-Type: application/pkcs10' --data-binary @unit.csr {url}/.well-known/est/simpleenroll); \
         echo $code; if [ $code = 200 ]; then base64 -d resp.b64 | openssl pkcs7 -inform DER -print_certs -out unit.pem; \
         openssl x509 -in unit.pem -noout -subject; else cat resp.b64; fi",
        w = work.display(),
        root = env.root_pem().display(),
        cert = cert.display(),
        key = key.display(),
        url = server.url(),
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, rest) = text.split_once('\n').unwrap_or((&text, ""));
    (code.trim().parse().unwrap_or(0), rest.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_bootstrap_their_own_certificates_within_the_product_rules() {
    let (env, _) = Env::with_ca();
    let (cert, key) = create_product(&env, "thermo", &["--max-devices", "2"]);
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);

    // Two units get DeviceCerts named by their random device id, not their hardware serial.
    let (code, subject) = register_with_curl(&env, &server, &cert, &key, "unit-1");
    assert_eq!(code, 200, "{subject}");
    assert!(!subject.contains("SN-unit-1"), "{subject}");
    let (code, _) = register_with_curl(&env, &server, &cert, &key, "unit-2");
    assert_eq!(code, 200);
    // The third exceeds the cap.
    let (code, body) = register_with_curl(&env, &server, &cert, &key, "unit-3");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("limit of 2 devices"), "{body}");

    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["device", "list", "--product", "thermo", "--json"]))
            .unwrap();
    assert_eq!(devices.len(), 2);
    let unit1 = std::fs::read_to_string(env.tmp.path().join("unit-1/unit.pem")).unwrap();
    let info = CertificateInfo::parse(&certs_from_pem(unit1.as_bytes()).unwrap()[0]).unwrap();
    assert!(devices
        .iter()
        .any(|d| info.subject == format!("CN={}", d["id"].as_str().unwrap())));
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["cert", "show", &info.serial, "--json"])).unwrap();
    assert_eq!(shown["method"], "bootstrap-cert");

    // Disabling the product stops registrations at once.
    let (cert2, key2) = create_product(&env, "meter", &[]);
    assert_eq!(
        register_with_curl(&env, &server, &cert2, &key2, "m-1").0,
        200
    );
    env.ok(&["product", "disable", "meter"]);
    let (code, body) = register_with_curl(&env, &server, &cert2, &key2, "m-2");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("disabled"), "{body}");
    env.ok(&["product", "enable", "meter"]);
    assert_eq!(
        register_with_curl(&env, &server, &cert2, &key2, "m-3").0,
        200
    );

    // Revoking the ProductCert stops registrations; --cascade also revokes its DeviceCerts.
    let product_serial =
        CertificateInfo::parse(&certs_from_pem(&std::fs::read(&cert2).unwrap()).unwrap()[0])
            .unwrap()
            .serial;
    let out: serde_json::Value =
        serde_json::from_str(&env.ok(&["cert", "revoke", &product_serial, "--cascade", "--json"]))
            .unwrap();
    assert_eq!(out["cascaded"].as_array().unwrap().len(), 2);
    let (code, _) = register_with_curl(&env, &server, &cert2, &key2, "m-4");
    assert_eq!(code, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_under_concurrent_registrations_and_keys_are_not_shared() {
    let (env, _) = Env::with_ca();
    let (cert, key) = create_product(&env, "fleet", &["--max-devices", "150"]);
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    let chain = certs_from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let product_key =
        GeneratedKey::from_pem(&std::fs::read_to_string(&key).unwrap(), None).unwrap();
    let tls = inkan_client::client_tls_config(
        &[env.root_der()],
        Some((chain, product_key.pkcs8_der().to_vec())),
    )
    .unwrap();

    let mut tasks = Vec::new();
    for w in 0..8 {
        let mut est = inkan_client::EstClient::connect(
            &server.url(),
            tls.clone(),
            None,
            EstCredentials::None,
        )
        .await
        .unwrap();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            let mut refused = 0;
            for i in 0..25 {
                let k = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
                match est
                    .simpleenroll(&build_csr(&k, &format!("u-{w}-{i}"), &[]).unwrap())
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(inkan_client::ClientError::Status { status: 403, .. }) => refused += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            (ok, refused)
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        let (o, r) = t.await.unwrap();
        ok += o;
        refused += r;
    }
    assert_eq!((ok, refused), (150, 50));

    // Registration is idempotent per key, and a key cannot serve two products.
    let (cert_b, key_b) = create_product(&env, "other", &[]);
    let unit = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let csr = build_csr(&unit, "x", &[]).unwrap();
    let mut est =
        inkan_client::EstClient::connect(&server.url(), tls.clone(), None, EstCredentials::None)
            .await
            .unwrap();
    assert!(est.simpleenroll(&csr).await.is_err(), "the cap is reached");
    let chain_b = certs_from_pem(&std::fs::read(&cert_b).unwrap()).unwrap();
    let key_b = GeneratedKey::from_pem(&std::fs::read_to_string(&key_b).unwrap(), None).unwrap();
    let tls_b = inkan_client::client_tls_config(
        &[env.root_der()],
        Some((chain_b, key_b.pkcs8_der().to_vec())),
    )
    .unwrap();
    let mut est_b =
        inkan_client::EstClient::connect(&server.url(), tls_b, None, EstCredentials::None)
            .await
            .unwrap();
    let first = CertificateInfo::parse(&est_b.simpleenroll(&csr).await.unwrap()).unwrap();
    let again = CertificateInfo::parse(&est_b.simpleenroll(&csr).await.unwrap()).unwrap();
    assert_eq!(
        first.subject, again.subject,
        "a retry returns the same device"
    );
    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["device", "list", "--product", "other", "--json"])).unwrap();
    assert_eq!(devices.len(), 1);
}

/// The same flow through the REST API, driven by curl: admin creates the product, a unit
/// registers over mTLS with the ProductCert, then reads its own record with its DeviceCert.
#[test]
fn the_rest_api_registers_devices_with_curl() {
    let (env, _) = Env::with_ca();
    let token = env.ok(&["admin", "token", "create"]).trim().to_string();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    let dir = env.tmp.path();
    let curl = |args: &[&str]| -> (u16, serde_json::Value) {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", "--cacert"])
            .arg(env.root_pem())
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (
            code.parse().unwrap(),
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    };
    let url = |p: &str| format!("{}{p}", server.url());

    let (code, created) = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name": "lamp", "max_devices": 10, "attributes": ["serial", "mac"]}"#,
        &url("/v1/products"),
    ]);
    assert_eq!(code, 201, "{created}");
    std::fs::write(
        dir.join("lamp.pem"),
        created["product_cert"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("lamp.key"),
        created["product_key"].as_str().unwrap(),
    )
    .unwrap();
    let (code, _) = curl(&[
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name": "x"}"#,
        &url("/v1/products"),
    ]);
    assert_eq!(code, 401);

    let register = |unit: &str, info: &str| {
        let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        std::fs::write(dir.join(format!("{unit}.key")), key.to_pem(None).unwrap()).unwrap();
        let csr = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            build_csr(&key, unit, &[]).unwrap(),
        );
        let body = format!(r#"{{"device_info": {info}, "csr": "{csr}"}}"#);
        curl(&[
            "--cert",
            dir.join("lamp.pem").to_str().unwrap(),
            "--key",
            dir.join("lamp.key").to_str().unwrap(),
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            &url("/v1/devices"),
        ])
    };
    let (code, reg) = register("u1", r#"{"serial": "SN-1", "mac": "00:11:22:33:44:55"}"#);
    assert_eq!(code, 201, "{reg}");
    let device_id = reg["device"]["id"].as_str().unwrap().to_string();
    assert_eq!(reg["device"]["attributes"]["serial"], "SN-1");
    let chain = reg["device_cert_chain"].as_str().unwrap();
    assert!(!chain.contains("SN-1"));
    std::fs::write(dir.join("u1.pem"), chain).unwrap();
    let (code, problem) = register("u2", r#"{"imei": "123"}"#);
    assert_eq!(code, 403, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("imei"));

    // The device reads its own record; not another's; an admin reads any.
    let (u1_pem, u1_key) = (dir.join("u1.pem"), dir.join("u1.key"));
    let mine = [
        "--cert",
        u1_pem.to_str().unwrap(),
        "--key",
        u1_key.to_str().unwrap(),
    ];
    let (code, own) = curl(&[&mine[..], &[&url(&format!("/v1/devices/{device_id}"))]].concat());
    assert_eq!(code, 200, "{own}");
    let (code, _) = curl(&[&mine[..], &[&url("/v1/devices/0000000000000000")]].concat());
    assert_eq!(code, 403);
    let (code, listed) = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        &url("/v1/products/lamp"),
    ]);
    assert_eq!((code, listed["devices"].as_i64()), (200, Some(1)));
}

#[test]
fn bench_register_registers_real_devices_and_reports_a_ratio() {
    let (env, _) = Env::with_ca();
    let (cert, key) = create_product(&env, "bench", &["--max-devices", "30"]);
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    let out = env.ok(&[
        "bench",
        "register",
        "--url",
        &server.url(),
        "--product-cert",
        cert.to_str().unwrap(),
        "--product-key",
        key.to_str().unwrap(),
        "--count",
        "24",
        "--concurrency",
        "4",
        "--json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["succeeded"], 24, "{summary}");
    assert!(summary["ratio_to_enroll_limit"].as_f64().unwrap() > 0.0);
    let devices: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["device", "list", "--product", "bench", "--json"])).unwrap();
    assert_eq!(devices.len(), 24);
    // Past the cap the benchmark reports the failures instead of hiding them.
    let out = env.run(&[
        "bench",
        "register",
        "--url",
        &server.url(),
        "--product-cert",
        cert.to_str().unwrap(),
        "--product-key",
        key.to_str().unwrap(),
        "--count",
        "10",
        "--json",
    ]);
    assert!(!out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["succeeded"], 6, "{summary}");
    assert!(
        summary["first_error"].as_str().unwrap().contains("403"),
        "{summary}"
    );
}

#[test]
fn an_admin_client_certificate_works_like_a_token_until_revoked() {
    let (env, secret) = Env::with_ca();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let server = Server::start(cmd);
    let dir = env.tmp.path().join("ops");
    let out = env.ok(&[
        "admin",
        "cert",
        "create",
        "ops",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let serial = out
        .split("serial ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_string();
    let curl = |cert: &std::path::Path, key: &std::path::Path, name: &str| {
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(env.root_pem())
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .args(["-H", "Content-Type: application/json", "-d"])
            .arg(format!("{{\"name\": \"{name}\"}}"))
            .arg(format!("{}/v1/products", server.url()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        curl(&dir.join("admin.pem"), &dir.join("admin.key"), "by-cert"),
        "201"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["product", "list", "--json"])).unwrap();
    assert_eq!(shown[0]["name"], "by-cert");

    // An ordinary device certificate is not an admin.
    let work = env.tmp.path().join("dev");
    std::fs::create_dir_all(&work).unwrap();
    let script = format!(
        "set -euo pipefail; cd {w}; \
         openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout d.key \
           -subj /CN=dev -outform DER 2>/dev/null | base64 > d.csr; \
         curl -fsS --cacert {root} -u x:{secret} -H 'Content-Type: application/pkcs10' \
           --data-binary @d.csr {url}/.well-known/est/simpleenroll | base64 -d \
           | openssl pkcs7 -inform DER -print_certs -out d.pem",
        w = work.display(),
        root = env.root_pem().display(),
        url = server.url(),
    );
    assert!(Command::new("bash")
        .args(["-c", &script])
        .status()
        .unwrap()
        .success());
    assert_eq!(
        curl(&work.join("d.pem"), &work.join("d.key"), "by-device"),
        "401"
    );
    // The admin profile cannot be had through enrollment: no secret is made for it, and the
    // label refuses even the device secret.
    let out = env.run(&["est", "secret", "create", "admin"]);
    assert_eq!(out.status.code(), Some(1));
    let script = format!(
        "cd {w}; curl -sS -o /dev/null -w '%{{http_code}}' --cacert {root} -u x:{secret} \
           -H 'Content-Type: application/pkcs10' --data-binary @d.csr {url}/.well-known/est/admin/simpleenroll",
        w = work.display(),
        root = env.root_pem().display(),
        url = server.url(),
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    // Revoked, the admin certificate no longer opens the API.
    env.ok(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);
    assert_eq!(
        curl(
            &dir.join("admin.pem"),
            &dir.join("admin.key"),
            "after-revoke"
        ),
        "401"
    );
}
