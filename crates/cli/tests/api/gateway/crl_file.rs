//! The gateway without an authority: a CRL file decides, and it fails closed when the feed is gone.

use super::*;

/// Without an authority: a CRL file decides, and `fail_closed_after` refuses certificate
/// requests while the feed cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_file_mode_and_failing_closed() {
    let (env, secret) = Env::with_ca();
    let server_secret = env.server_secret();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let authority = Server::start(cmd);
    let upstream = Upstream::start();
    let front = server_pair(&env, &authority, &server_secret, "front").await;
    let mut est = authority.est(&env, secret_credentials(&secret)).await;
    let mut devices = Vec::new();
    for name in ["kept", "revoked"] {
        let k = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
        let der = est
            .simpleenroll(&build_csr(&k, name, &[]).unwrap())
            .await
            .unwrap();
        let serial = CertificateInfo::parse(&der).unwrap().serial;
        devices.push((write_pair(&env, name, &[der], &k), serial));
    }
    env.ok(&["cert", "revoke", &devices[1].1]);
    // The CRL, fetched as a relying party would (bounded wait for the regenerated one).
    let crl = env.tmp.path().join("issuing.crl");
    let crl_url = format!(
        "{}/crl/{}.crl",
        authority.url(),
        CertificateInfo::parse(
            &std::fs::read(env.data.join("ca/issuing.pem"))
                .map(|p| inkan_pki::certs_from_pem(&p).unwrap().remove(0))
                .unwrap()
        )
        .unwrap()
        .fingerprint_sha256
    );
    let started = Instant::now();
    loop {
        let ok = Command::new("curl")
            .args(["-fsS", "-o"])
            .arg(&crl)
            .arg("--cacert")
            .arg(env.root_pem())
            .arg(&crl_url)
            .status()
            .unwrap();
        if ok.success() && inkan_pki::crl_entry_count(&std::fs::read(&crl).unwrap()).unwrap() == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(50));
    }
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let write_config = |name: &str, revocation: &str| {
        let path = env.tmp.path().join(name);
        std::fs::write(
            &path,
            format!(
                "listen = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = [\"{}\"]\n[revocation]\n{revocation}\n\
                 [[route]]\nupstreams = [\"http://127.0.0.1:{}\"]\n[[route]]\npath = \"/open\"\nclient_cert = \"off\"\nupstreams = [\"http://127.0.0.1:{}\"]\n",
                front.cert.display(),
                front.key.display(),
                env.data.join("ca/chain.pem").display(),
                upstream.port,
                upstream.port,
            ),
        )
        .unwrap();
        path
    };
    let start = |path: &std::path::Path| {
        let mut cmd = Command::new(crate::api::support::binary());
        cmd.args(["gateway", "--config"])
            .arg(path)
            .env("INKAN_LOG", "warn");
        Server::start(cmd)
    };
    let port = |s: &Server| s.addr.rsplit(':').next().unwrap().to_string();

    let gw = start(&write_config(
        "crl.toml",
        &format!("crl_files = [\"{}\"]", crl.display()),
    ));
    let url = format!("https://localhost:{}/", port(&gw));
    assert_eq!(curl(&env, &url, Some(&devices[0].0), &[]).0, 200);
    let (code, body) = curl(&env, &url, Some(&devices[1].0), &[]);
    assert_eq!(code, 403, "{body}");
    drop(gw);

    let gw = start(&write_config(
        "closed.toml",
        &format!("authority = \"https://127.0.0.1:{dead}\"\nauthority_ca = \"{}\"\nfail_closed_after = \"1s\"", env.root_pem().display()),
    ));
    let (code, body) = curl(
        &env,
        &format!("https://localhost:{}/", port(&gw)),
        Some(&devices[0].0),
        &[],
    );
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("revocation status is unknown"), "{body}");
    let (code, _) = curl(
        &env,
        &format!("https://localhost:{}/open", port(&gw)),
        None,
        &[],
    );
    assert_eq!(code, 200, "routes without certificates keep working");
}
