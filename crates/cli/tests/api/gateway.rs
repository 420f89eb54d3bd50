//! The gateway in front of a small upstream, with the real authority: who gets through, what
//! the upstream sees, and how fast a revocation bites on an open connection.

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use inkan_pki::{
    build_csr, der_to_pem, CertificateInfo, GeneratedKey, IssueParams, KeyAlgorithm, Profile,
    Serial,
};

use inkan_test_support::upstream::{header, Upstream};

use super::support::{secret_credentials, Env, Server};

mod crl_file;
mod nginx;

/// A TLS server certificate for localhost / 127.0.0.1 from the authority's `server` profile,
/// with the issuing CA, written as `<name>.pem` / `<name>.key`.
async fn server_pair(env: &Env, authority: &Server, server_secret: &str, name: &str) -> Files {
    let issuing =
        inkan_pki::certs_from_pem(&std::fs::read(env.data.join("ca/issuing.pem")).unwrap())
            .unwrap()
            .remove(0);
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let tls = inkan_client::client_tls_config(&[env.root_der()], None).unwrap();
    let mut est = inkan_client::EstClient::connect(
        &authority.url(),
        tls,
        Some("server".into()),
        secret_credentials(server_secret),
    )
    .await
    .unwrap();
    let csr = build_csr(&key, "localhost", &["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = est.simpleenroll(&csr).await.unwrap();
    write_pair(env, name, &[cert, issuing], &key)
}

struct Files {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn write_pair(env: &Env, name: &str, chain: &[Vec<u8>], key: &GeneratedKey) -> Files {
    let cert = env.tmp.path().join(format!("{name}.pem"));
    let key_path = env.tmp.path().join(format!("{name}.key"));
    std::fs::write(
        &cert,
        chain
            .iter()
            .map(|c| der_to_pem("CERTIFICATE", c))
            .collect::<String>(),
    )
    .unwrap();
    std::fs::write(&key_path, key.to_pem(None).unwrap()).unwrap();
    Files {
        cert,
        key: key_path,
    }
}

fn curl(env: &Env, url: &str, client: Option<&Files>, extra: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-w", "\n%{http_code}", "--cacert"])
        .arg(env.root_pem());
    if let Some(f) = client {
        cmd.arg("--cert").arg(&f.cert).arg("--key").arg(&f.key);
    }
    let out = cmd.args(extra).arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_unrevoked_certificates_at_the_required_level_reach_the_upstream() {
    let (env, secret) = Env::with_ca();
    let server_secret = env.server_secret();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let authority = Server::start(cmd);
    let upstream = Upstream::start();

    // The gateway gets its own certificate from the authority at start (`server` profile).
    let secret_file = env.tmp.path().join("server.secret");
    std::fs::write(&secret_file, &server_secret).unwrap();

    // A device certificate.
    let mut est = authority.est(&env, secret_credentials(&secret)).await;
    let dev_key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let dev_cert = est
        .simpleenroll(&build_csr(&dev_key, "dev-gw", &[]).unwrap())
        .await
        .unwrap();
    let dev_serial = CertificateInfo::parse(&dev_cert).unwrap().serial;
    let dev = write_pair(&env, "device", std::slice::from_ref(&dev_cert), &dev_key);
    let dev2_key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let dev2_cert = est
        .simpleenroll(&build_csr(&dev2_key, "dev-gw-2", &[]).unwrap())
        .await
        .unwrap();
    let dev2 = write_pair(&env, "device2", &[dev2_cert], &dev2_key);

    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let assertion_key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let assertion_file = env.tmp.path().join("assertion.key");
    std::fs::write(&assertion_file, assertion_key.to_pem(None).unwrap()).unwrap();
    let config = format!(
        r#"
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
assertion_key = "{assertion}"
client_ca = ["{chain}"]

[tls_from_authority]
url = "{authority}"
ca = "{root}"
secret_file = "{secret_file}"
names = ["localhost", "127.0.0.1"]

[revocation]
authority = "{authority}"
authority_ca = "{root}"

[[route]]
path = "/"
upstreams = ["http://127.0.0.1:{up}"]

[[route]]
path = "/l3"
upstreams = ["http://127.0.0.1:{up}"]
min_level = 3

[[route]]
path = "/public"
upstreams = ["http://127.0.0.1:{up}"]
client_cert = "off"

[[route]]
path = "/multi"
upstreams = ["http://127.0.0.1:{dead}", "http://127.0.0.1:{up}"]

[[route]]
path = "/down"
upstreams = ["http://127.0.0.1:{dead}"]

[[route]]
path = "/healthz"
upstreams = ["{authority}"]
"#,
        assertion = assertion_file.display(),
        secret_file = secret_file.display(),
        chain = env.data.join("ca/chain.pem").display(),
        authority = authority.url(),
        root = env.root_pem().display(),
        up = upstream.port,
    );
    let config_path = env.tmp.path().join("gateway.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = Command::new(super::support::binary());
    cmd.args(["gateway", "--config"])
        .arg(&config_path)
        .env("INKAN_LOG", "warn");
    let gateway = Server::start(cmd);
    let url = |path: &str| {
        format!(
            "https://localhost:{}{path}",
            gateway.addr.rsplit(':').next().unwrap()
        )
    };

    // Allowed, and the upstream sees who it is — never what the client claimed.
    let (code, body) = curl(
        &env,
        &url("/hello?x=1"),
        Some(&dev),
        &[
            "-H",
            "X-Inkan-Subject: CN=admin",
            "-H",
            "x-INKAN-level: 4",
            "-H",
            "X-Inkan-Verified: SUCCESS",
        ],
    );
    assert_eq!(code, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["path"], "/hello?x=1");
    assert_eq!(header(&echo, "x-inkan-subject"), ["CN=dev-gw"]);
    assert_eq!(header(&echo, "x-inkan-serial"), [dev_serial.as_str()]);
    assert_eq!(header(&echo, "x-inkan-level"), ["2"]);
    assert_eq!(header(&echo, "x-inkan-verified"), ["SUCCESS"]);
    assert!(header(&echo, "x-inkan-client-cert")[0].starts_with("-----BEGIN%20CERTIFICATE-----"));
    // The signed assertion verifies with the gateway's assertion key and names the same serial.
    use base64::Engine;
    let jws = header(&echo, "x-inkan-assertion")[0];
    let parts: Vec<&str> = jws.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["serial"], dev_serial.as_str());
    let spki = assertion_key.public_key_der();
    let point = &spki[spki.len() - 65..];
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &b64.decode(parts[2]).unwrap(),
        )
        .expect("the assertion signature verifies");

    // Refusals, each with a reason.
    let (code, body) = curl(&env, &url("/hello"), None, &[]);
    assert_eq!(code, 401, "{body}");
    let (code, body) = curl(&env, &url("/l3"), Some(&dev), &[]);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("below this route's minimum of 3"), "{body}");
    let now = time::OffsetDateTime::now_utc();
    let other = inkan_pki::CaSet::create("Other", KeyAlgorithm::P256, now).unwrap();
    let profile = Profile::device();
    let csr = inkan_pki::CsrCheck::new(&profile)
        .check(&build_csr(&dev_key, "intruder", &[]).unwrap())
        .unwrap();
    let foreign = other
        .issuing_ca()
        .unwrap()
        .issue(&IssueParams::new(
            &profile,
            &csr,
            Serial::random().unwrap(),
            now,
        ))
        .unwrap();
    let foreign = write_pair(
        &env,
        "foreign",
        &[foreign, other.issuing_der.clone()],
        &dev_key,
    );
    let (code, body) = curl(&env, &url("/hello"), Some(&foreign), &[]);
    assert_eq!(code, 401, "{body}");
    let ca = inkan_authority::DataDir::new(&env.data)
        .load_issuing_ca(None)
        .unwrap();
    let expired = ca
        .issue(&IssueParams::new(
            &profile,
            &csr,
            Serial::random().unwrap(),
            now - time::Duration::days(400),
        ))
        .unwrap();
    let expired = write_pair(&env, "expired", &[expired], &dev_key);
    let (code, body) = curl(&env, &url("/hello"), Some(&expired), &[]);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("expired"), "{body}");

    // A public route needs no certificate and says so to the upstream.
    let (code, body) = curl(&env, &url("/public"), None, &[]);
    assert_eq!(code, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(header(&echo, "x-inkan-verified"), ["NONE"]);

    // An https:// upstream (the authority itself), verified with the client CA roots.
    let (code, body) = curl(&env, &url("/healthz"), Some(&dev), &[]);
    assert_eq!((code, body.trim()), (200, "ok"));

    // A dead upstream: 502 alone, skipped when another is there.
    assert_eq!(curl(&env, &url("/down"), Some(&dev), &[]).0, 502);
    for _ in 0..4 {
        assert_eq!(curl(&env, &url("/multi"), Some(&dev), &[]).0, 200);
    }

    // Revocation bites on a connection that is already open, within a second.
    let tls = inkan_client::client_tls_config(
        &[env.root_der()],
        Some((vec![dev_cert], dev_key.pkcs8_der().to_vec())),
    )
    .unwrap();
    let target = inkan_client::HttpTarget::parse(&url("")).unwrap();
    let mut conn = inkan_client::HttpConnection::connect(&target, tls)
        .await
        .unwrap();
    let (status, _, _) = conn
        .send(Method::GET, "/before", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    env.ok(&["cert", "revoke", &dev_serial, "--reason", "keyCompromise"]);
    let revoked_at = Instant::now();
    loop {
        let (status, _, body) = conn
            .send(Method::GET, "/after", &[], Bytes::new())
            .await
            .unwrap();
        if status == 403 {
            assert!(String::from_utf8_lossy(&body).contains("revoked"));
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "still allowed {:?} after revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Metrics on the admin listener.
    let metrics = metrics_url(&gateway);
    let (code, text) = curl(&env, &metrics, None, &[]);
    assert_eq!(code, 200);
    assert!(
        text.contains("inkan_gateway_requests_total{route=\"/\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("inkan_gateway_revoked_certificates 1"),
        "{text}"
    );

    // SIGHUP: a new configuration (the "/" route now points at a dead upstream) takes over
    // without closing the open connection.
    let new_config = std::fs::read_to_string(&config_path).unwrap().replacen(
        &format!(
            "path = \"/\"\nupstreams = [\"http://127.0.0.1:{}\"]",
            upstream.port
        ),
        &format!("path = \"/\"\nupstreams = [\"http://127.0.0.1:{dead}\"]"),
        1,
    );
    std::fs::write(&config_path, new_config).unwrap();
    gateway.signal("HUP");
    let reloaded = Instant::now();
    loop {
        let (status, _, _) = conn
            .send(Method::GET, "/still-open", &[], Bytes::new())
            .await
            .unwrap();
        assert_eq!(status, 403, "the open connection survives the reload");
        if curl(&env, &url("/x"), Some(&dev2), &[]).0 == 502 {
            break;
        }
        assert!(
            reloaded.elapsed() < Duration::from_secs(2),
            "the reload did not take effect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gateway.terminate().success());
    drop(authority);
}

/// The metrics URL the gateway printed before its listening line.
fn metrics_url(gateway: &Server) -> String {
    gateway
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("metrics on "))
        .expect("no metrics line")
        .to_string()
}

/// Bootstrapped device certificates carry device and product ids, which the gateway forwards
/// and routes can require.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_can_require_products_and_upstreams_see_the_device() {
    let (env, _) = Env::with_ca();
    let server_secret = env.server_secret();
    let product: serde_json::Value = serde_json::from_str(&env.ok(&[
        "product",
        "create",
        "camera",
        "--out",
        env.tmp.path().join("camera").to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let product_id = product["product"]["id"].as_str().unwrap().to_string();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let authority = Server::start(cmd);
    let upstream = Upstream::start();

    // A unit bootstraps its DeviceCert with the ProductCert.
    let chain =
        inkan_pki::certs_from_pem(&std::fs::read(product["cert_path"].as_str().unwrap()).unwrap())
            .unwrap();
    let product_key = GeneratedKey::from_pem(
        &std::fs::read_to_string(product["key_path"].as_str().unwrap()).unwrap(),
        None,
    )
    .unwrap();
    let tls = inkan_client::client_tls_config(
        &[env.root_der()],
        Some((chain, product_key.pkcs8_der().to_vec())),
    )
    .unwrap();
    let mut est = inkan_client::EstClient::connect(
        &authority.url(),
        tls,
        None,
        inkan_client::EstCredentials::None,
    )
    .await
    .unwrap();
    let unit_key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let unit_cert = est
        .simpleenroll(&build_csr(&unit_key, "SN-0001", &[]).unwrap())
        .await
        .unwrap();
    let device_id = CertificateInfo::parse(&unit_cert)
        .unwrap()
        .subject
        .trim_start_matches("CN=")
        .to_string();
    let unit = write_pair(&env, "unit", &[unit_cert], &unit_key);

    let secret_file = env.tmp.path().join("server.secret");
    std::fs::write(&secret_file, &server_secret).unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\nclient_ca = [\"{chain}\"]\n\
         [tls_from_authority]\nurl = \"{url}\"\nca = \"{root}\"\nsecret_file = \"{secret}\"\nnames = [\"localhost\"]\n\
         [[route]]\npath = \"/cameras\"\nallow_products = [\"{product_id}\"]\nupstreams = [\"http://127.0.0.1:{up}\"]\n\
         [[route]]\npath = \"/meters\"\nallow_products = [\"some-other-product\"]\nupstreams = [\"http://127.0.0.1:{up}\"]\n",
        chain = env.data.join("ca/chain.pem").display(),
        url = authority.url(),
        root = env.root_pem().display(),
        secret = secret_file.display(),
        up = upstream.port,
    );
    let path = env.tmp.path().join("gw.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(super::support::binary());
    cmd.args(["gateway", "--config"])
        .arg(&path)
        .env("INKAN_LOG", "warn");
    let gateway = Server::start(cmd);
    let port = gateway.addr.rsplit(':').next().unwrap().to_string();

    let (code, body) = curl(
        &env,
        &format!("https://localhost:{port}/cameras/1"),
        Some(&unit),
        &[],
    );
    assert_eq!(code, 200, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(header(&echo, "x-inkan-device"), [device_id.as_str()]);
    assert_eq!(header(&echo, "x-inkan-product"), [product_id.as_str()]);
    let (code, body) = curl(
        &env,
        &format!("https://localhost:{port}/meters/1"),
        Some(&unit),
        &[],
    );
    assert_eq!(code, 403, "{body}");
}
