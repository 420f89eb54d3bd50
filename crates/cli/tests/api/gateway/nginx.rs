//! nginx configured by `inkan gateway nginx-config`: the same checks as the gateway.

use std::process::{Child, Stdio};

use super::*;

/// nginx, configured by `inkan gateway nginx-config`, gives a site that keeps nginx the same
/// checks: only this authority's unrevoked certificates, verified identity in the headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_configured_by_inkan_gives_the_same_checks() {
    let (env, secret) = Env::with_ca();
    let server_secret = env.server_secret();
    let mut cmd = env.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    cmd.env("INKAN_LOG", "warn");
    let authority = Server::start(cmd);
    let upstream = Upstream::start();

    let front = server_pair(&env, &authority, &server_secret, "nginx").await;
    let mut est = authority.est(&env, secret_credentials(&secret)).await;
    let dev_key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let dev_cert = est
        .simpleenroll(&build_csr(&dev_key, "dev-ng", &[]).unwrap())
        .await
        .unwrap();
    let dev_serial = CertificateInfo::parse(&dev_cert).unwrap().serial;
    let dev = write_pair(&env, "device-ng", &[dev_cert], &dev_key);

    // The revocation base URL is the one the authority wrote into the certificate.
    let ocsp = String::from_utf8(
        Command::new("openssl")
            .args(["x509", "-noout", "-ocsp_uri", "-in"])
            .arg(&dev.cert)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // nginx resolves a host name in ssl_ocsp_responder only with a `resolver`; use the address.
    let revocation_url = ocsp
        .trim()
        .trim_end_matches("/ocsp")
        .replace("localhost", "127.0.0.1");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let snippet = env.ok(&[
        "gateway",
        "nginx-config",
        "--upstream",
        &format!("http://127.0.0.1:{}", upstream.port),
        "--listen",
        &format!("127.0.0.1:{port} ssl"),
        "--cert",
        front.cert.to_str().unwrap(),
        "--key",
        front.key.to_str().unwrap(),
        "--revocation-url",
        &revocation_url,
    ]);
    let dir = env.tmp.path().join("nginx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("inkan.conf"), snippet).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{}}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};\n  \
             uwsgi_temp_path {d}; scgi_temp_path {d};\n  include {d}/inkan.conf;\n}}\n"
        ),
    )
    .unwrap();
    let nginx = Nginx(
        Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("https://localhost:{port}/app");
    let mut ready = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        ready,
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );

    let (code, body) = curl(
        &env,
        &url,
        Some(&dev),
        &["-H", "X-Inkan-Subject: CN=admin", "-H", "X-Inkan-Level: 4"],
    );
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert_eq!(code, 200, "{body}\n{log}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(header(&echo, "x-inkan-subject"), ["CN=dev-ng"]);
    assert_eq!(header(&echo, "x-inkan-verified"), ["SUCCESS"]);
    assert_eq!(
        header(&echo, "x-inkan-serial")[0]
            .to_lowercase()
            .trim_start_matches('0'),
        dev_serial
    );
    assert!(
        header(&echo, "x-inkan-level").is_empty(),
        "a client-sent level must not pass"
    );
    let (code, _) = curl(&env, &url, None, &[]);
    assert_eq!(code, 400, "nginx answers 400 without a client certificate");

    // Revoked: nginx asks OCSP on the next handshake and refuses.
    env.ok(&["cert", "revoke", &dev_serial, "--reason", "keyCompromise"]);
    let started = Instant::now();
    loop {
        let (code, _) = curl(&env, &url, Some(&dev), &[]);
        if code == 400 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "nginx still admits a revoked certificate"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(nginx);
}

/// nginx's master process; SIGTERM on drop (even after a failed assertion) stops its workers.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
