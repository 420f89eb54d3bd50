//! The assurance level under an operator's own policy arc (`[pki] policy_arc`): the authority
//! writes `<arc>.<level>`, openssl reads it, and a gateway enforces `min_level` only when it is
//! told the same arc (`policy_arc` in `gateway.toml`); `inkan gateway nginx-config` names it.

use std::process::Command;

use inkan_pki::{build_csr, der_to_pem, GeneratedKey, KeyAlgorithm};

use super::support::{binary, secret_credentials, Env, Server};

const ARC: &str = "1.3.6.1.4.1.32473.77";

/// A gateway in front of the authority's `/healthz`, requiring level 2; `policy_arc` if given.
fn gateway(env: &Env, authority: &Server, name: &str, policy_arc: Option<&str>) -> Server {
    let secret_file = env.tmp.path().join("server.secret");
    let config = format!(
        "listen = \"127.0.0.1:0\"\nclient_ca = [\"{chain}\"]\n{arc}\n\
         [tls_from_authority]\nurl = \"{url}\"\nca = \"{root}\"\nsecret_file = \"{secret}\"\n\
         names = [\"localhost\"]\n\n\
         [[route]]\npath = \"/healthz\"\nupstreams = [\"{url}\"]\nmin_level = 2\n",
        chain = env.data.join("ca/chain.pem").display(),
        arc = policy_arc
            .map(|a| format!("policy_arc = \"{a}\""))
            .unwrap_or_default(),
        url = authority.url(),
        root = env.root_pem().display(),
        secret = secret_file.display(),
    );
    let path = env.tmp.path().join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["gateway", "--config"])
        .arg(&path)
        .env("INKAN_LOG", "warn");
    Server::start(cmd)
}

fn status(env: &Env, gateway: &Server, cert: &std::path::Path, key: &std::path::Path) -> u16 {
    let port = gateway.addr.rsplit(':').next().unwrap();
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/healthz"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_arc_is_written_read_and_enforced() {
    let (env, secret) = Env::with_ca();
    std::fs::write(
        env.data.join("inkan.toml"),
        format!("[pki]\npolicy_arc = \"{ARC}\"\n"),
    )
    .unwrap();
    let server_secret = env.server_secret();
    std::fs::write(env.tmp.path().join("server.secret"), &server_secret).unwrap();
    let mut cmd = env.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("INKAN_LOG", "warn");
    let authority = Server::start(cmd);

    let mut est = authority.est(&env, secret_credentials(&secret)).await;
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    let der = est
        .simpleenroll(&build_csr(&key, "dev-arc", &[]).unwrap())
        .await
        .unwrap();
    let cert = env.tmp.path().join("dev.pem");
    let key_path = env.tmp.path().join("dev.key");
    std::fs::write(&cert, der_to_pem("CERTIFICATE", &der)).unwrap();
    std::fs::write(&key_path, key.to_pem(None).unwrap()).unwrap();

    // openssl, an independent reader, sees <arc>.2 and nothing under 2.25.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "certificatePolicies", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("Policy: {ARC}.2")), "{text}");
    assert!(!text.contains("2.25."), "{text}");

    // A gateway told the arc admits the level-2 certificate; one left on the default arc reads
    // no level and refuses it.
    let told = gateway(&env, &authority, "told", Some(ARC));
    assert_eq!(status(&env, &told, &cert, &key_path), 200);
    let untold = gateway(&env, &authority, "untold", None);
    assert_eq!(status(&env, &untold, &cert, &key_path), 403);

    // The nginx snippet names the arc relying parties must look for.
    let snippet = env.ok(&["gateway", "nginx-config"]);
    assert!(snippet.contains(&format!("{ARC}.N")), "{snippet}");
    drop((told, untold));
    authority.terminate();
}
