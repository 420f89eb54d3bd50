//! Hostile clients against the real authority and gateway: peers that close early, slowloris
//! variants, connection floods and descriptor exhaustion. Each ends with the process alive and
//! a normal request succeeding.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use inkan_pki::{build_csr, GeneratedKey, KeyAlgorithm};

use super::support::{secret_credentials, Env, Server};

/// Limits short enough for a test to see them bite.
const SHORT_LIMITS: &str = r#"
[server]
http_listen = "127.0.0.1:0"

[server.limits]
handshake_timeout = "2s"
header_timeout = "2s"
body_timeout = "3s"
idle_timeout = "3s"
max_connections = 64
"#;

fn python(script: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Sends requests and closes without reading the answers: over TLS (`tls`) or plain TCP.
const SEND_AND_CLOSE: &str = r#"
import socket, ssl, sys
port, tls, count, path = int(sys.argv[1]), sys.argv[2] == "tls", int(sys.argv[3]), sys.argv[4]
for _ in range(5):
    s = socket.create_connection(("127.0.0.1", port))
    if tls:
        c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
        s = c.wrap_socket(s)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode() * count)
    s.close()
print("sent")
"#;

fn healthz(server: &Server, env: &Env) -> u16 {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .arg(format!("{}/healthz", server.url()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn assert_alive(server: &mut Server, env: &Env) {
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died: {}",
        server.log()
    );
    assert_eq!(healthz(server, env), 200);
}

/// The authority with the limits of `config`, ready on both listeners.
fn serve_with(env: &Env, config: &str) -> Server {
    std::fs::write(env.data.join("inkan.toml"), config).unwrap();
    Server::start_until(
        env.command(&["serve", "--listen", "127.0.0.1:0"]),
        "revocation (CRL, OCSP) on http://",
    )
}

fn http_port(server: &Server) -> u16 {
    let line = server
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("revocation (CRL, OCSP) on http://"))
        .unwrap_or_else(|| panic!("no plain-HTTP banner in {:?}", server.banner));
    line.rsplit(':').next().unwrap().parse().unwrap()
}

fn port(addr: &str) -> String {
    addr.rsplit(':').next().unwrap().to_string()
}

#[test]
fn peers_that_close_early_do_not_kill_the_authority() {
    let (env, _) = Env::with_ca();
    let mut server = serve_with(&env, SHORT_LIMITS);
    let out = python(
        SEND_AND_CLOSE,
        &[&port(&server.addr), "tls", "1", "/v1/openapi.json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_alive(&mut server, &env);
    let out = python(
        SEND_AND_CLOSE,
        &[
            &http_port(&server).to_string(),
            "tcp",
            "50",
            "/crl/issuing.crl",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_alive(&mut server, &env);
}

/// Waits until the server closes `stream` (EOF or reset) and returns how long that took.
fn time_until_closed(stream: &mut TcpStream, started: Instant) -> Duration {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_while_enrollment_keeps_working() {
    let (env, secret) = Env::with_ca();
    let mut server = serve_with(&env, SHORT_LIMITS);
    let addr = server.addr.clone();
    let plain = format!("127.0.0.1:{}", http_port(&server));

    // Each variant on its own thread: (name, limit it must meet, the client).
    type Variant = (&'static str, u64, Box<dyn FnOnce() -> Duration + Send>);
    let tls_addr = addr.clone();
    let idle_addr = plain.clone();
    let keepalive_addr = plain.clone();
    let body_addr = plain.clone();
    let header_addr = plain.clone();
    let variants: Vec<Variant> = vec![
        (
            "partial TLS handshake",
            2,
            Box::new(move || {
                let mut s = TcpStream::connect(&tls_addr).unwrap();
                let started = Instant::now();
                // The first bytes of a ClientHello record, and then nothing.
                s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
                time_until_closed(&mut s, started)
            }),
        ),
        (
            "idle after connecting",
            3,
            Box::new(move || {
                let mut s = TcpStream::connect(&idle_addr).unwrap();
                time_until_closed(&mut s, Instant::now())
            }),
        ),
        (
            // HTTP/1.1 starts the header clock as soon as it waits for the next request, so an
            // idle keep-alive connection ends at min(header_timeout, idle_timeout).
            "idle keep-alive after a request",
            2,
            Box::new(move || {
                let mut s = TcpStream::connect(&keepalive_addr).unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
                time_until_closed(&mut s, Instant::now())
            }),
        ),
        (
            "dribbled headers",
            2,
            Box::new(move || {
                let mut s = TcpStream::connect(&header_addr).unwrap();
                let started = Instant::now();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
                let mut reader = s.try_clone().unwrap();
                let dribble = std::thread::spawn(move || {
                    for _ in 0..100 {
                        if s.write_all(b"X-Slow: 1\r\n").is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
                let took = time_until_closed(&mut reader, started);
                let _ = reader.shutdown(Shutdown::Both);
                let _ = dribble.join();
                took
            }),
        ),
        (
            "dribbled body",
            3,
            Box::new(move || {
                let mut s = TcpStream::connect(&body_addr).unwrap();
                let started = Instant::now();
                s.write_all(
                    b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: 1000\r\n\r\n",
                )
                .unwrap();
                let mut reader = s.try_clone().unwrap();
                let dribble = std::thread::spawn(move || {
                    for _ in 0..100 {
                        if s.write_all(b"0").is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
                let took = time_until_closed(&mut reader, started);
                let _ = reader.shutdown(Shutdown::Both);
                let _ = dribble.join();
                took
            }),
        ),
    ];
    let running: Vec<_> = variants
        .into_iter()
        .map(|(name, limit, client)| (name, limit, std::thread::spawn(client)))
        .collect();

    // While they are held, a normal enrollment succeeds.
    let mut est = server.est(&env, secret_credentials(&secret)).await;
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    est.simpleenroll(&build_csr(&key, "during-slowloris", &[]).unwrap())
        .await
        .unwrap();

    for (name, limit, handle) in running {
        let took = handle.join().unwrap();
        // Cut off at the configured time (checked every second at most late), not held.
        assert!(
            took >= Duration::from_millis(limit * 1000 - 300)
                && took < Duration::from_secs(limit + 5),
            "{name}: closed after {took:?}, limit {limit}s"
        );
    }
    assert_alive(&mut server, &env);
}

#[test]
fn an_oversized_request_head_is_refused() {
    let (env, _) = Env::with_ca();
    let mut server = env.serve();
    let big = format!("X-Big: {}", "a".repeat(32 * 1024));
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
        ])
        .arg(&big)
        .arg("--cacert")
        .arg(env.root_pem())
        .arg(format!("{}/healthz", server.url()))
        .output()
        .unwrap();
    // hyper answers 431 and closes; a client still sending its head may see only the close.
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(code == "431" || code == "000", "{code}");
    // Over HTTP/2 the stream (or connection) is refused instead.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
        ])
        .arg(&big)
        .arg("--cacert")
        .arg(env.root_pem())
        .arg(format!("{}/healthz", server.url()))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200");
    assert_alive(&mut server, &env);
}

#[test]
fn the_gateway_cuts_off_silent_and_half_open_connections() {
    let (env, _) = Env::with_ca();
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut gateway = env.gateway(&format!(
        "[limits]\nhandshake_timeout = \"2s\"\nidle_timeout = \"3s\"\n\n[[route]]\npath = \"/\"\nupstreams = [\"http://{}\"]\nclient_cert = \"off\"\n",
        upstream.local_addr().unwrap()
    ));
    let mut silent = TcpStream::connect(&gateway.addr).unwrap();
    let took = time_until_closed(&mut silent, Instant::now());
    assert!(
        took >= Duration::from_millis(1700) && took < Duration::from_secs(7),
        "closed after {took:?}"
    );
    assert!(gateway.child.try_wait().unwrap().is_none());
}

/// Opens HTTP/2 streams and resets each at once (CVE-2023-44487); prints the GOAWAY code.
const RAPID_RESET: &str = r#"
import socket, ssl, sys
import h2.connection, h2.config, h2.events
port = int(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection(); s.sendall(c.data_to_send())
sent = 0
try:
    for i in range(5000):
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":method", "GET"), (":path", "/healthz"), (":scheme", "https"), (":authority", "localhost")], end_stream=True)
        c.reset_stream(sid)
        s.sendall(c.data_to_send())
        sent += 1
except Exception as e:
    pass
s.settimeout(10)
goaway = None
try:
    while goaway is None:
        data = s.recv(65536)
        if not data:
            break
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.ConnectionTerminated):
                goaway = ev.error_code
except Exception as e:
    pass
print("sent", sent, "goaway", int(goaway) if goaway is not None else None)
"#;

#[test]
fn an_http2_rapid_reset_flood_loses_its_connection_not_the_server() {
    let (env, _) = Env::with_ca();
    let mut server = env.serve();
    // python's h2 (installed into .venv-test by scripts/test) plays the attacker.
    let python = super::support::repo_root().join(".venv-test/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test, which installs h2 into .venv-test",
        python.display()
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(RAPID_RESET)
        .arg(port(&server.addr))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // GOAWAY with ENHANCE_YOUR_CALM (0xb) before the 5,000 resets were all sent.
    assert!(report.contains("goaway 11"), "{report}");
    assert_alive(&mut server, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_applies_back_pressure_and_recovers() {
    let (env, secret) = Env::with_ca();
    std::fs::write(
        env.data.join("inkan.toml"),
        "[server.limits]\nmax_connections = 8\nidle_timeout = \"60s\"\n",
    )
    .unwrap();
    let mut server = env.serve();
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    // The ninth waits in the backlog: connected by the kernel, served by nobody.
    let mut waiting = TcpStream::connect(&server.addr).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 1];
    let err = waiting.read(&mut buf).unwrap_err();
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    server.wait_for_log("connection limit reached");
    drop(held);
    drop(waiting);
    let mut est = server.est(&env, secret_credentials(&secret)).await;
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    est.simpleenroll(&build_csr(&key, "after-the-flood", &[]).unwrap())
        .await
        .unwrap();
    assert_alive(&mut server, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_exhaustion_recovers_by_itself() {
    let (env, secret) = Env::with_ca();
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=96:96", super::support::binary(), "--data-dir"])
        .arg(&env.data)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let mut server = Server::start(cmd);
    // Far more connections than descriptors: the cap holds them in the backlog.
    let flood: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&server.addr).ok())
        .collect();
    assert!(flood.len() > 96, "only {} connections", flood.len());
    server.wait_for_log("connection limit reached");
    drop(flood);
    let mut est = server.est(&env, secret_credentials(&secret)).await;
    let key = GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
    est.simpleenroll(&build_csr(&key, "after-exhaustion", &[]).unwrap())
        .await
        .unwrap();
    assert_alive(&mut server, &env);
    assert!(
        !server.log().contains("accept failed"),
        "the cap should be met before EMFILE: {}",
        server.log()
    );
}

#[test]
fn peers_that_close_early_do_not_kill_the_gateway() {
    let (env, _) = Env::with_ca();
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let routes = format!(
        "[[route]]\npath = \"/\"\nupstreams = [\"http://{}\"]\nclient_cert = \"off\"\n",
        upstream.local_addr().unwrap()
    );
    let mut gateway = env.gateway(&routes);
    // The upstream answers every request at once and keeps the connection.
    let answering = std::thread::spawn(move || {
        for conn in upstream.incoming().take(5) {
            let Ok(mut conn) = conn else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let answers = buf[..n].windows(4).filter(|w| w == b"\r\n\r\n").count();
                    for _ in 0..answers {
                        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    }
                }
            });
        }
    });
    let out = python(SEND_AND_CLOSE, &[&port(&gateway.addr), "tls", "200", "/"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(env.root_pem())
        .arg(format!("{}/", gateway.url()))
        .output()
        .unwrap();
    assert!(
        gateway.child.try_wait().unwrap().is_none(),
        "the gateway died: {}",
        gateway.log()
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200");
    drop(answering);
}
