//! `inkan quickstart` on an empty directory, as a new user runs it.

use super::support::{Env, Server};

#[test]
fn quickstart_sets_up_enrolls_and_serves_until_sigterm() {
    let env = Env::new();
    let server = Server::start_until(
        env.command(&["quickstart", "--listen", "127.0.0.1:0"]),
        "serving until Ctrl-C",
    );
    // By the time it says it serves, the demo device is enrolled and its files are written.
    let cert = env.data.join("quickstart/demo-device.pem");
    // The demo site behind the gateway: the demo device's certificate opens it, curl without
    // one gets 401, as the printed commands say.
    let gateway = server
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("gateway"))
        .expect("the gateway's URL is printed")
        .trim()
        .replace("localhost", "127.0.0.1");
    let curl = |with_cert: bool| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sS", "-w", "\n%{http_code}", "--cacert"])
            .arg(env.root_pem());
        if with_cert {
            cmd.arg("--cert")
                .arg(&cert)
                .arg("--key")
                .arg(env.data.join("quickstart/demo-device.key"));
        }
        let out = cmd.arg(&gateway).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let opened = curl(true);
    assert!(opened.ends_with("\n200"), "{opened}");
    assert!(opened.contains("Hello, CN=demo-device-"), "{opened}");
    assert!(opened.contains("x-inkan-serial"), "{opened}");
    assert!(curl(false).ends_with("\n401"), "no certificate");
    let printed = server.banner.join("\n");
    assert!(printed.contains("--cert "), "the curl command: {printed}");
    assert!(server.terminate().success());
    let pem = std::fs::read(&cert).unwrap();
    let chain = inkan_pki::certs_from_pem(&pem).unwrap();
    let info = inkan_pki::CertificateInfo::parse(&chain[0]).unwrap();
    assert!(info.subject.starts_with("CN=demo-device-"));

    // A second run reuses the CA and the saved EST secret.
    let out = env.ok(&["quickstart", "--no-serve", "--listen", "127.0.0.1:0"]);
    assert!(out.contains("using the existing CA"), "{out}");
    assert!(out.contains("enrolled a demo device"), "{out}");
    assert!(out.contains("curl --cacert"), "{out}");
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(env.data.join("ca/issuing.pem"))
        .arg(&cert)
        .status()
        .unwrap();
    assert!(verify.success());
}
