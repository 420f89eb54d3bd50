//! `inkan agent card`, the card helper a gateway's login page reads FeliCa cards through, on the
//! real PC/SC stack: pcscd with a vpcd reader and a virtual card put on and taken off it. The
//! helper answers its gateway's origin only, on its own loopback Host only, and reads afresh
//! on every request.
#![cfg(feature = "pcsc")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use inkan_test_support::pcsc::{tools_present, VirtualReader};

use super::support::binary;

const ORIGIN: &str = "https://gw.test:8443";
const IDM: &str = "012e4cd4a1b2c3d4";
const PMM: &str = "0120220427674eff";

#[test]
fn the_helper_reads_the_card_for_its_gateway_page_only() {
    assert!(
        tools_present(),
        "pcscd, vsmartcard-vpcd, libpcsc-perl or root are missing: scripts/test installs them"
    );
    let mut reader = VirtualReader::start();
    let helper = Helper::start(&reader, &[]);
    let host = format!("127.0.0.1:{}", helper.port);

    let empty = helper.get(&host, Some(ORIGIN));
    assert_eq!(empty.status, 404, "{empty:?}");
    assert_eq!(empty.json()["error"], "no card on the reader");
    assert_eq!(empty.header("content-type"), Some("application/json"));
    assert_eq!(empty.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(empty.header("vary"), Some("Origin"));
    assert_eq!(empty.header("cache-control"), Some("no-store"));

    reader.insert(IDM, PMM);
    let card = helper.get(&host, Some(ORIGIN));
    assert_eq!(card.status, 200, "{card:?}");
    assert_eq!(
        card.json(),
        serde_json::json!({
            "idm": IDM,
            "pmm": PMM,
            "system_code": "0003",
            "reader": "Virtual PCD 00 00",
        })
    );
    assert_eq!(card.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(card.header("cache-control"), Some("no-store"));
    let by_name = helper.get(&format!("localhost:{}", helper.port), Some(ORIGIN));
    assert_eq!(by_name.status, 200, "Host localhost:PORT: {by_name:?}");

    // Another site's page, a program without an Origin, and a DNS-rebinding page are refused.
    for (host, origin, why) in [
        (
            host.as_str(),
            Some("https://evil.example"),
            "another origin",
        ),
        (
            host.as_str(),
            Some("https://gw.test"),
            "the gateway's host on another port",
        ),
        (host.as_str(), Some("null"), "an opaque origin"),
        (host.as_str(), None, "no Origin"),
        ("evil.example", Some(ORIGIN), "a rebinding Host"),
        ("evil.example:80", None, "a rebinding Host without Origin"),
    ] {
        let refused = helper.get(host, origin);
        assert_eq!(refused.status, 403, "{why}: {refused:?}");
        assert!(
            !refused.body.contains(IDM),
            "{why}: the card leaked: {refused:?}"
        );
        assert!(refused.json()["error"].is_string(), "{why}: {refused:?}");
    }

    // Chromium's preflight for a public page calling a loopback address (Private Network
    // Access).
    let preflight = helper.request(
        "OPTIONS",
        "/card",
        &host,
        &[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Private-Network", "true"),
        ],
    );
    assert_eq!(preflight.status, 204, "{preflight:?}");
    assert_eq!(
        preflight.header("access-control-allow-private-network"),
        Some("true")
    );
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(ORIGIN)
    );
    let foreign_preflight = helper.request(
        "OPTIONS",
        "/card",
        &host,
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(foreign_preflight.status, 403, "{foreign_preflight:?}");

    let origin = [("Origin", ORIGIN)];
    assert_eq!(helper.request("GET", "/", &host, &origin).status, 404);
    assert_eq!(helper.request("GET", "/card/x", &host, &origin).status, 404);
    let post = helper.request("POST", "/card", &host, &origin);
    assert_eq!(post.status, 405, "{post:?}");

    reader.remove();
    let gone = helper.get(&host, Some(ORIGIN));
    assert_eq!(gone.status, 404, "after removal: {gone:?}");

    // Every request reads afresh: another card shows at once.
    reader.insert("0123456789abcdef", PMM);
    let other = helper.get(&host, Some(ORIGIN));
    assert_eq!(other.status, 200, "{other:?}");
    assert_eq!(other.json()["idm"], "0123456789abcdef");
}

#[test]
fn scripts_may_be_allowed_and_two_readers_do_not_mix() {
    assert!(
        tools_present(),
        "pcscd, vsmartcard-vpcd, libpcsc-perl or root are missing: scripts/test installs them"
    );
    let mut first = VirtualReader::start();
    let mut second = VirtualReader::start();
    first.insert("1111111111111111", PMM);
    second.insert("2222222222222222", PMM);
    let first_helper = Helper::start(&first, &["--allow-no-origin", "--system-code", "fe00"]);
    let second_helper = Helper::start(&second, &[]);

    let read = first_helper.get(&format!("127.0.0.1:{}", first_helper.port), None);
    assert_eq!(read.status, 200, "--allow-no-origin, no Origin: {read:?}");
    assert_eq!(read.json()["idm"], "1111111111111111");
    assert_eq!(read.json()["system_code"], "fe00");
    let foreign = first_helper.get(
        &format!("127.0.0.1:{}", first_helper.port),
        Some("https://evil.example"),
    );
    assert_eq!(foreign.status, 403, "{foreign:?}");

    let read = second_helper.get(&format!("127.0.0.1:{}", second_helper.port), Some(ORIGIN));
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.json()["idm"], "2222222222222222");

    second.remove();
    let gone = second_helper.get(&format!("127.0.0.1:{}", second_helper.port), Some(ORIGIN));
    assert_eq!(gone.status, 404, "{gone:?}");
    let still = first_helper.get(&format!("127.0.0.1:{}", first_helper.port), None);
    assert_eq!(still.status, 200, "{still:?}");
}

#[test]
fn the_helper_refuses_to_listen_beyond_loopback_or_serve_a_non_origin() {
    for (args, expected) in [
        (
            ["--listen", "0.0.0.0:0", "--origin", ORIGIN],
            "loopback only",
        ),
        (
            [
                "--listen",
                "127.0.0.1:0",
                "--origin",
                "https://gw.test/login",
            ],
            "not a web origin",
        ),
    ] {
        let out = Command::new(binary())
            .args(["agent", "card"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `inkan agent card` on a free loopback port, reading `reader`; killed when dropped.
struct Helper {
    child: Child,
    port: u16,
}

impl Helper {
    fn start(reader: &VirtualReader, extra: &[&str]) -> Self {
        let (name, value) = reader.socket_env();
        let mut child = Command::new(binary())
            .args([
                "agent",
                "card",
                "--listen",
                "127.0.0.1:0",
                "--origin",
                ORIGIN,
            ])
            .args(["--reader", reader.reader()])
            .args(extra)
            .env(name, value)
            .env("INKAN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("card helper listening on http://127.0.0.1:")
            .and_then(|rest| rest.strip_suffix(&format!(" for {ORIGIN}")))
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { child, port }
    }

    /// `GET /card` with this Host and (optionally) Origin.
    fn get(&self, host: &str, origin: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        self.request("GET", "/card", host, &headers)
    }

    /// One HTTP/1.1 request on a fresh connection, read to its end.
    fn request(&self, method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP response: {raw:?}"));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {raw:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_string(),
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}
