//! The gateway tried as a hostile client would: spoofed identity and forwarding headers, Host
//! tricks, and failover that must not repeat a POST.

use std::io::Read;
use std::process::Command;

use inkan_test_support::upstream::Upstream;

use super::support::Env;

/// curl through the gateway; returns (status, body).
fn curl(env: &Env, url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap_or(0), body.to_string())
}

fn headers(body: &str, name: &str) -> Vec<String> {
    let echo: serde_json::Value = serde_json::from_str(body).unwrap();
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn spoofed_headers_are_replaced_and_host_follows_one_rule() {
    let (env, _) = Env::with_ca();
    let echo = Upstream::start();
    let gateway = env.gateway(&format!(
        "[[route]]\npath = \"/\"\nupstreams = [\"http://127.0.0.1:{}\"]\nclient_cert = \"off\"\n",
        echo.port
    ));
    let url = format!("{}/x", gateway.url());
    let (code, body) = curl(
        &env,
        &url,
        &[
            "-H",
            "X_Inkan_Subject: CN=admin",
            "-H",
            "X-Inkan-Device: victim",
            "-H",
            "X-Forwarded-For: 203.0.113.9",
            "-H",
            "Forwarded: for=203.0.113.9",
            "-H",
            "X-Real-IP: 203.0.113.9",
            "-H",
            "X-Forwarded-Host: evil.example",
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert!(headers(&body, "x_inkan_subject").is_empty(), "{body}");
    assert!(headers(&body, "x-inkan-subject").is_empty(), "{body}");
    assert!(headers(&body, "x-inkan-device").is_empty(), "{body}");
    assert_eq!(headers(&body, "x-inkan-verified"), ["NONE"]);
    assert_eq!(headers(&body, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(headers(&body, "x-real-ip"), ["127.0.0.1"]);
    let host = gateway.addr.clone();
    assert_eq!(
        headers(&body, "x-forwarded-host"),
        std::slice::from_ref(&host)
    );
    assert_eq!(
        headers(&body, "forwarded"),
        [format!("for=127.0.0.1;proto=https;host=\"{host}\"")]
    );

    // The upstream sees the same Host over HTTP/1.1 and HTTP/2.
    let (_, h1) = curl(&env, &url, &["--http1.1"]);
    let (_, h2) = curl(&env, &url, &["--http2"]);
    assert_eq!(headers(&h1, "host"), std::slice::from_ref(&host));
    assert_eq!(headers(&h2, "host"), std::slice::from_ref(&host));

    // Two Host headers, or a Host that contradicts the HTTP/2 :authority, get 400.
    let raw = Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import socket, ssl, sys
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
s = c.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n")
out = b""
while True:
    d = s.recv(4096)
    if not d: break
    out += d
print(out.decode(errors="replace"))
"#,
        )
        .arg(host.rsplit(':').next().unwrap())
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&raw.stdout);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("more than one Host"), "{answer}");
}

#[test]
fn a_post_that_reached_an_upstream_is_not_sent_to_the_next() {
    let (env, _) = Env::with_ca();
    let echo = Upstream::start();
    // The first upstream takes each request and hangs up without answering.
    let swallower = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let swallower_port = swallower.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in swallower.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            drop(conn);
        }
    });
    let gateway = env.gateway(&format!(
        "[[route]]\npath = \"/\"\nupstreams = [\"http://127.0.0.1:{swallower_port}\", \"http://127.0.0.1:{}\"]\nclient_cert = \"off\"\n",
        echo.port
    ));
    let url = format!("{}/pay", gateway.url());
    let (code, body) = curl(&env, &url, &["-X", "POST", "-d", "amount=1"]);
    assert_eq!(code, 502, "{body}");
    // A GET after the same failure goes on to the next upstream, which never saw the POST.
    let (code, body) = curl(&env, &url, &[]);
    assert_eq!(code, 200, "{body}");
    let echo_seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo_seen["seen"], serde_json::json!(["GET"]), "{body}");
}
